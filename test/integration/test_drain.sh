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
sleep 1.2
mv "$T/access.log" "$T/access.log.1"
kill -USR1 "$WASPD_PID"
for i in $(seq 1 100); do
    grep -q "reopening log files" "$T/waspd.err" && break
    sleep 0.05
done
http "$base/two" >/dev/null
for i in $(seq 1 60); do
    [ -s "$T/access.log" ] && break
    sleep 0.05
done
grep -q "GET /two" "$T/access.log" || fail "SIGUSR1: no new access.log after rotation"
grep -q "GET /one" "$T/access.log.1" || fail "SIGUSR1: the rotated file lost its line"
pass "SIGUSR1 reopens the access log"

http "$base/slow/1500" >"$T/slow.out" &
curl_pid=$!
PIDS+=("$curl_pid")
sleep 0.4
kill -TERM "$WASPD_PID"
# The workers close their listeners as soon as they see the drain message.
refused=0
for i in $(seq 1 60); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$wp") 2>/dev/null; then
        refused=1
        break
    fi
    sleep 0.05
done
[ $refused = 1 ] || fail "still accepting connections 3 s after SIGTERM"
wait "$curl_pid" || fail "the in-flight request failed during the drain"
[ "$(cat "$T/slow.out")" = "slow 1500" ] || fail "in-flight answer: $(cat "$T/slow.out")"
pass "in-flight request completed during the drain, new connections refused"
for i in $(seq 1 100); do
    kill -0 "$WASPD_PID" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$WASPD_PID" 2>/dev/null && fail "waspd still running 5 s after the drain finished"
wait "$WASPD_PID" || fail "waspd exited with status $? after SIGTERM"
pass "waspd exited 0 after draining"

# The deadline: a request that never gets an answer does not hold the exit forever.
sed -i "s/drain_timeout = 10s/drain_timeout = 1s/" "$T/w.ini"
start_waspd "$T/w.ini" "$wp"
http "$base/hang" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
start=$(date +%s%N)
kill -INT "$WASPD_PID"
wait "$WASPD_PID" || true
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 4000 ] || fail "drain deadline 1s, but exit took $ms ms"
pass "drain deadline ends a hung request (${ms} ms)"
