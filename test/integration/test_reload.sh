#!/usr/bin/env bash
# Reload under load: h2load --h1 runs while SIGHUP is sent 5 times (once with a broken
# file): no request fails, the broken file is reported with file:line and changes
# nothing, the last good file is live afterwards, and listeners come and go.
source "$(dirname "$0")/lib.sh"

ng=$(free_port)
wp=$(free_port)
extra=$(free_port)
start_nginx "$ng"
echo "hello" >"$T/ng/www/index.html"

# write_conf GEN [EXTRA_LISTENER]
write_conf() {
    cat >"$T/w.ini" <<INI
[daemon]
workers = 2
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
add_response_header = X-Gen: $1
[cluster:ng]
endpoints = 127.0.0.1:$ng
INI
    if [ -n "${2:-}" ]; then
        cat >>"$T/w.ini" <<INI
[listener:extra]
address = 127.0.0.1:$extra
respond = 200 "extra $1"
INI
    fi
}

write_conf 0
start_waspd "$T/w.ini" "$wp"
base="http://127.0.0.1:$wp"
[ "$(http -D - -o /dev/null "$base/index.html" | tr -d '\r' | grep -i '^x-gen:')" = "x-gen: 0" ] ||
    fail "generation 0 not live"

timeout 60 h2load --h1 -c 16 -D 6 "$base/index.html" >"$T/h2load.out" 2>&1 &
load=$!
PIDS+=("$load")
sleep 0.7
for gen in 1 2 3 4 5; do
    if [ "$gen" = 3 ]; then
        printf '[listener:web]\naddress = 127.0.0.1:%s\ncluster = missing\nbogus = 1\n' "$wp" >"$T/w.ini"
    elif [ "$gen" = 2 ]; then
        write_conf "$gen" extra
    else
        write_conf "$gen"
    fi
    kill -HUP "$WASPD_PID"
    sleep 0.8
    if [ "$gen" = 2 ]; then
        for i in $(seq 1 50); do
            [ "$(curl -s --max-time 2 "http://127.0.0.1:$extra/")" = "extra 2" ] && break
            sleep 0.1
        done
        [ "$(http "http://127.0.0.1:$extra/")" = "extra 2" ] || fail "added listener not live"
    fi
done
wait "$load" || fail "h2load failed: $(cat "$T/h2load.out")"
grep -E "^requests:" "$T/h2load.out"
grep -qE "^requests: .* ([1-9][0-9]*) succeeded, 0 failed, 0 errored, 0 timeout" "$T/h2load.out" ||
    fail "requests failed during reloads: $(grep -E '^requests:' "$T/h2load.out")"
pass "no failed request across 5 reloads under load"

wait_until 15 grep -q "reload failed" "$T/waspd.err" || true
# Every error of the broken file, each as file:line: [section] key: what is wrong.
grep -qF "w.ini:3: [listener:web] cluster: unknown cluster 'missing'" "$T/waspd.err" ||
    fail "the broken file's cluster error is not logged as file:line: [section] key: ..."
grep -qF "w.ini:4: [listener:web] bogus: unknown key" "$T/waspd.err" ||
    fail "the broken file's second error is not logged"
grep -q "reload failed" "$T/waspd.err" || fail "no 'reload failed' for the broken file"
pass "broken file reported and rejected"

gen_is() {
    [ "$(http -D - -o /dev/null "$base/index.html" | tr -d '\r' | grep -i '^x-gen:')" = "x-gen: $1" ]
}
# The reload is asynchronous: on a loaded machine it may land a little later.
wait_until 15 gen_is 5 || fail "the last good generation (5) is not live"
extra_closed() { ! curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$extra/" 2>/dev/null; }
wait_until 15 extra_closed || fail "the removed listener still answers"
kill -0 "$WASPD_PID" || fail "waspd died"
pass "generation 5 live, removed listener closed"
