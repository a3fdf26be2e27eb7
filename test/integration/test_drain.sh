#!/usr/bin/env bash
# SIGTERM drains: the listener closes at once, an in-flight slow request still completes,
# waspd exits once idle; the drain deadline bounds a hung request. SIGUSR1 reopens logs.
source "$(dirname "$0")/lib.sh"

up=$(free_port)
wp=$(free_port)
start_test_upstream "$up"
cat >"$T/w.ini" <<INI
[daemon]
workers = 2
access_log = $T/access.log
drain_timeout = 10s
[listener:web]
address = 127.0.0.1:$wp
cluster = up
[cluster:up]
endpoints = 127.0.0.1:$up
INI
start_waspd "$T/w.ini" "$wp"
base="http://127.0.0.1:$wp"

# SIGUSR1: after the log file was moved away, new lines go to a new file.
http "$base/one" >/dev/null
# Workers flush their access-log buffers every second: wait for the line to be there.
wait_until 15 grep -q "GET /one" "$T/access.log" || fail "no access-log line for /one"
mv "$T/access.log" "$T/access.log.1"
kill -USR1 "$WASPD_PID"
wait_until 15 grep -q "reopening log files" "$T/waspd.err" || fail "SIGUSR1 not handled"
http "$base/two" >/dev/null
wait_until 15 grep -q "GET /two" "$T/access.log" 2>/dev/null
grep -q "GET /two" "$T/access.log" || fail "SIGUSR1: no new access.log after rotation"
grep -q "GET /one" "$T/access.log.1" || fail "SIGUSR1: the rotated file lost its line"
pass "SIGUSR1 reopens the access log"

http "$base/slow/1500" >"$T/slow.out" &
curl_pid=$!
PIDS+=("$curl_pid")
# SIGTERM only once the request is in flight (the upstream has it).
wait_until 15 grep -q "request /slow/1500" "$T/test_upstream.err" ||
    fail "the slow request never reached the upstream"
kill -TERM "$WASPD_PID"
# The workers close their listeners as soon as they see the drain message.
refused() { ! (exec 3<>"/dev/tcp/127.0.0.1/$wp") 2>/dev/null; }
wait_until 10 refused || fail "still accepting connections 10 s after SIGTERM"
wait "$curl_pid" || fail "the in-flight request failed during the drain"
[ "$(cat "$T/slow.out")" = "slow 1500" ] || fail "in-flight answer: $(cat "$T/slow.out")"
pass "in-flight request completed during the drain, new connections refused"
gone() { ! kill -0 "$WASPD_PID" 2>/dev/null; }
wait_until 10 gone || fail "waspd still running 10 s after the drain finished"
wait "$WASPD_PID" || fail "waspd exited with status $? after SIGTERM"
pass "waspd exited 0 after draining"

# The deadline: a request that never gets an answer does not hold the exit forever.
sed -i "s/drain_timeout = 10s/drain_timeout = 1s/" "$T/w.ini"
start_waspd "$T/w.ini" "$wp"
http "$base/hang" >/dev/null 2>&1 &
PIDS+=($!)
wait_until 15 grep -q "request /hang" "$T/test_upstream.err" ||
    fail "the hanging request never reached the upstream"
start=$(date +%s%N)
kill -INT "$WASPD_PID"
wait "$WASPD_PID" || true
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 8000 ] || fail "drain deadline 1s, but exit took $ms ms"
pass "drain deadline ends a hung request (${ms} ms)"
