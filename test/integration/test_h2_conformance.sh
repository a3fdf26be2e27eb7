#!/usr/bin/env bash
# HTTP/2 conformance (RFC 9113, RFC 7541): every case of h2conf.py (a raw-frame client
# covering what h2spec checks, each naming its section) on h2c and on h2 over TLS, each
# against a route that answers locally and a route proxied to an upstream.
source "$(dirname "$0")/lib.sh"
: "${H2_CLIENT:?H2_CLIENT must point to the h2_client test tool}"
PY=/usr/bin/python3 # Debian's, with python3-h2 (scripts/install-deps.sh)
"$PY" -c 'import hpack' 2>/dev/null || fail "python3-h2 (hpack) is missing: run scripts/install-deps.sh"

up=$(free_port)
wp=$(free_port)
tp=$(free_port)
"$H2_CLIENT" echo-upstream "$up" </dev/null >/dev/null 2>"$T/echo.err" &
PIDS+=($!)
wait_port "$up"
self_signed srv localhost
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
log_level = info
[listener:h2c]
address = 127.0.0.1:$wp
http2_max_streams = 16
respond = 404 "no route"
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
http2_max_streams = 16
respond = 404 "no route"
[route:local]
path_prefix = /local
respond = 200 "hello from the local route of waspd"
[route:proxy]
path_prefix = /proxy
cluster = echo
[cluster:echo]
endpoints = 127.0.0.1:$up
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"

total=0
failed=0
for mode in h2c tls; do
    port=$wp
    args=()
    if [ $mode = tls ]; then
        port=$tp
        args=(--tls)
    fi
    for path in /local /proxy; do
        out="$T/conf-$mode${path//\//-}.out"
        "$PY" "$SRC_DIR/test/integration/h2conf.py" --port "$port" "${args[@]}" --path "$path" \
            >"$out" 2>&1 || true
        summary=$(tail -1 "$out")
        echo "$mode $path: $summary"
        grep '^FAIL' "$out" | sed "s#^#  $mode $path: #" || true
        p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$summary")
        f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$summary")
        [ -n "$p" ] || fail "h2conf.py on $mode $path did not finish: $(tail -3 "$out")"
        total=$((total + p + f))
        failed=$((failed + f))
    done
done
[ "$failed" -eq 0 ] || fail "$failed of $total conformance checks failed"
pass "HTTP/2 conformance: $total checks ($(grep -c '^ok' "$T/conf-h2c-local.out") cases x h2c/TLS x local/proxied route)"
