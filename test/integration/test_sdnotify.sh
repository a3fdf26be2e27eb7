#!/usr/bin/env bash
# systemd notify protocol, end to end: with NOTIFY_SOCKET set, waspd sends READY=1 once
# it serves, RELOADING=1 then READY=1 around a SIGHUP (also when the new file is bad),
# and STOPPING=1 on SIGTERM.
source "$(dirname "$0")/lib.sh"

sock="$T/notify.sock"
"${TEST_UPSTREAM:?}" notify "$sock" </dev/null >"$T/notify.log" 2>"$T/notify.err" &
PIDS+=($!)
wait_until 20 test -S "$sock" || fail "notify socket not created"

wp=$(free_port)
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
respond = 200 "one"
INI
NOTIFY_SOCKET="$sock" start_waspd "$T/w.ini" "$wp"

# msgs: the kinds of message received so far (READY, RELOADING, STOPPING), one per line.
msgs() { grep -oE '(^|\|)(READY|RELOADING|STOPPING)=1' "$T/notify.log" | tr -d '|' | tr '\n' ' '; }
seen() { [ "$(msgs)" = "$1" ]; }
wait_until 15 seen "READY=1 " || fail "start: got '$(msgs)', want READY=1"
pass "READY=1 once serving"

sed -i 's/"one"/"two"/' "$T/w.ini"
kill -HUP "$WASPD_PID"
wait_until 15 seen "READY=1 RELOADING=1 READY=1 " || fail "reload: got '$(msgs)'"
grep -q "RELOADING=1|MONOTONIC_USEC=[0-9]" "$T/notify.log" || fail "RELOADING=1 without MONOTONIC_USEC"
[ "$(http "http://127.0.0.1:$wp/")" = two ] || fail "reloaded config not live"
pass "RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload"

echo "bogus = 1" >>"$T/w.ini"
kill -HUP "$WASPD_PID"
wait_until 15 seen "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 " ||
    fail "failed reload: got '$(msgs)'"
[ "$(http "http://127.0.0.1:$wp/")" = two ] || fail "a bad file changed the running config"
pass "a failed reload still ends with READY=1"

kill -TERM "$WASPD_PID"
wait_until 15 seen "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " ||
    fail "stop: got '$(msgs)'"
pass "STOPPING=1 on SIGTERM"
