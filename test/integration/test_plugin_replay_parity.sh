#!/usr/bin/env bash
# One code path: `wasp replay` on a recording and waspd on the same traffic (the requests
# and the upstream answers of ../shared/traffic/http_4pkts.json, the callout answers of
# test/plugins/data/callouts.json served by nginx) print the same callback sequence for
# the same chain (hc_headers, hc_callout, hc_body): every stream callback with its result,
# the callout and its answer, the continue, the local reply - over HTTP/1.1 and over
# HTTP/2 with TLS.
source "$(dirname "$0")/lib.sh"
: "${TEST_PLUGINS:?}" "${WASP_TOOL:?}" "${SRC_DIR:?}"
P=$TEST_PLUGINS
TRAFFIC=$SRC_DIR/../shared/traffic/http_4pkts.json
[ -f "$TRAFFIC" ] || TRAFFIC=$SRC_DIR/test/plugins/data/http_4pkts.json
CALLOUTS=$SRC_DIR/test/plugins/data/callouts.json

# The recording's forward packets as curl arguments (one line per request: path, then
# -H pairs), and each response body as the file its request names.
python3 - "$TRAFFIC" "$T/ng/www" >"$T/requests" <<'PY'
import json, os, sys, urllib.parse
packets = json.load(open(sys.argv[1]))
www = sys.argv[2]
for i, p in enumerate(packets):
    if not p["forward_direction"]:
        continue
    path = p["uri_path"]
    if p.get("query_params"):
        path += "?" + urllib.parse.urlencode(p["query_params"])
    answer = next(q for q in packets[i + 1:] if not q["forward_direction"])
    f = os.path.join(www, p["uri_path"].lstrip("/"))
    os.makedirs(os.path.dirname(f), exist_ok=True)
    open(f, "w").write(answer.get("body", ""))
    hdrs = " ".join("-H %s:%s" % (k, v) for k, v in p["headers"].items())
    print(path, hdrs)
PY
[ "$(wc -l <"$T/requests")" -ge 2 ] || fail "no requests in $TRAFFIC"

ng=$(free_port)
wp=$(free_port)
tp=$(free_port)
# callouts.json: /check/content/web/index.html answers 200 "allowed", anything else 401.
NGINX_EXTRA="location = /check/content/web/index.html { return 200 \"allowed\"; }
        location /check/ { return 401 \"no\"; }"
start_nginx "$ng"
self_signed srv localhost
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
log_level = debug
access_log = off
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
plugins = hc_headers, hc_callout, hc_body
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = hc_headers, hc_callout, hc_body
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:authz]
endpoints = 127.0.0.1:$ng
[plugin:hc_headers]
file = $P/hc_headers.wasm
[plugin:hc_callout]
file = $P/hc_callout.wasm
[plugin:hc_body]
file = $P/hc_body.wasm
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"

# The same events, one per line, from replay's output and from waspd's debug log.
"$WASP_TOOL" replay --plugin "$P/hc_headers.wasm" --plugin "$P/hc_callout.wasm" \
    --plugin "$P/hc_body.wasm" --callouts "$CALLOUTS" --traffic "$TRAFFIC" >"$T/replay.out" 2>&1 ||
    fail "replay: $(tail -5 "$T/replay.out")"
sed -nE \
    -e 's/^#[0-9]+ callback plugin="([^"]*)" callback="([^"]*)" result="([^"]*)".*/\1 \2 \3/p' \
    -e 's/^#[0-9]+ callout plugin="([^"]*)" .* path="([^"]*)".*/\1 callout \2/p' \
    -e 's/^-- callout_response plugin="([^"]*)" token=[0-9]+ status="([^"]*)".*/\1 answered \2/p' \
    -e 's/^#[0-9]+ continue direction="([a-z]*)".*/continue \1/p' \
    -e 's/^#[0-9]+ local_reply status=([0-9]+) details="([^"]*)".*/local_reply \1 \2/p' \
    "$T/replay.out" >"$T/replay.seq"
[ "$(grep -c proxy_on_ "$T/replay.seq")" -ge 10 ] || fail "replay printed too little: $(cat "$T/replay.out")"

live() { # live NAME CURL_OPTS BASE: runs the recording's requests, one at a time
    local name=$1 opts=$2 base=$3 start path hdrs
    start=$(wc -l <"$T/waspd.err")
    while read -r path hdrs; do
        read -r -a h <<<"$hdrs"
        read -r -a o <<<"$opts"
        http -o /dev/null "${o[@]}" "${h[@]}" "$base$path" || fail "$name: $path"
        # on_log is the last thing of a stream: the next request starts after it.
        wait_until 5 sh -c "tail -n +$((start + 1)) '$T/waspd.err' | grep -c 'wasm log hc_headers: on_log' |
            grep -qx \$(( \$(tail -n +$((start + 1)) '$T/waspd.err' | grep -c 'wasm log hc_headers: request ') ))" ||
            fail "$name: $path did not end"
    done <"$T/requests"
    tail -n +$((start + 1)) "$T/waspd.err" | sed -nE \
        -e 's/.*\[plugin:([^]]*)\] (proxy_on_[a-z_]+) -> ([a-z]+)$/\1 \2 \3/p' \
        -e 's/.*\[plugin:([^]]*)\] callout [0-9]+ to [^:]*: [A-Z]+ (.*)$/\1 callout \2/p' \
        -e 's/.*\[plugin:([^]]*)\] callout [0-9]+ answered: ([0-9]+).*/\1 answered \2/p' \
        -e 's/.*\[plugin:[^]]*\] continue ([a-z]+)$/continue \1/p' \
        -e 's/.*\[plugin:[^]]*\] local reply ([0-9]+) \((.*)\)$/local_reply \1 \2/p' >"$T/$name.seq"
    diff "$T/replay.seq" "$T/$name.seq" >"$T/$name.diff" ||
        fail "$name: the live callback sequence differs from replay's:
$(cat "$T/$name.diff")"
}
live h1 "" "http://127.0.0.1:$wp"
pass "HTTP/1.1: waspd's callback sequence is replay's ($(wc -l <"$T/replay.seq") events)"
live tls_h2 "-k --http2" "https://127.0.0.1:$tp"
pass "HTTP/2 over TLS: waspd's callback sequence is replay's"
