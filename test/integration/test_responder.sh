#!/usr/bin/env bash
# The embedded responder: the shipped etc/waspd.ini answers on its own (no upstream),
# header filters from the config apply, and waspd -h documents every flag.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$port/" -e "s/^access_log *=.*/access_log = off/" \
    "$SRC_DIR/etc/waspd.ini" >"$T/default.ini"
grep -q "127.0.0.1:$port" "$T/default.ini" || fail "etc/waspd.ini has no 127.0.0.1:8080 listener"
# The plugin the default configuration runs, where it looks for it (as scripts/run.sh
# and an install put it).
mkdir -p "$T/plugins"
cp "$BUILD_ETC/plugins/add_header.wasm" "$T/plugins/"
start_waspd "$T/default.ini" "$port"

out=$(http -D "$T/h" "http://127.0.0.1:$port/")
[ -n "$out" ] || fail "empty body from the default responder"
grep -q "^HTTP/1.1 200" "$T/h" || fail "default responder status: $(head -1 "$T/h")"
grep -qi "^x-wasp-plugin: add_header" "$T/h" || fail "the default plugin's header is missing"
pass "default config answers with the plugin at work: $out"

# A config of our own: a respond route next to the listener default, header edits.
port2=$(free_port)
cat >"$T/r.ini" <<INI
[daemon]
workers = 2
[listener:web]
address = 127.0.0.1:$port2
respond = 200 "hello from wasp"
add_response_header = X-Test: yes
remove_response_header = Content-Type
[route:teapot]
path_prefix = /tea
respond = 418 "short and stout"
INI
"$WASPD" -t -c "$T/r.ini" >/dev/null || fail "waspd -t rejects a valid file"
start_waspd "$T/r.ini" "$port2"
body=$(http -D "$T/h2" "http://127.0.0.1:$port2/anything")
[ "$body" = "hello from wasp" ] || fail "responder body: '$body'"
grep -qi "^x-test: yes" "$T/h2" || fail "add_response_header missing"
grep -qi "^content-type" "$T/h2" && fail "remove_response_header did not remove Content-Type"
code=$(http -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port2/teapot")
[ "$code" = 418 ] || fail "route respond: got $code, want 418"
pass "respond routes and header filters"

# HEAD gets the head of a local reply (its Content-Length) and no body: the next
# response on the connection starts right after it.
exec 3<>"/dev/tcp/127.0.0.1/$port2"
printf 'HEAD /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >&3
timeout 5 cat <&3 >"$T/head.out" || fail "HEAD then GET: the connection stayed open"
exec 3<&-
n=$(grep -o "hello from wasp" "$T/head.out" | wc -l)
[ "$n" = 1 ] || fail "HEAD on a local reply: $n bodies in $(tr '\r\n' '  ' <"$T/head.out")"
[ "$(grep -c '^HTTP/1.1 200' "$T/head.out")" = 2 ] || fail "HEAD then GET: $(cat "$T/head.out")"
# Only the HEAD answer's head: the GET's answer has the same Content-Length.
sed -n '1,/^\r$/p' "$T/head.out" | grep -qi "^content-length: 15" || fail "HEAD: no Content-Length"
pass "HEAD on a local reply: head only (Content-Length kept)"

# Keep-alive on local replies: two requests, one connection.
n=$(http -o /dev/null -o /dev/null -w '%{num_connects}\n' "http://127.0.0.1:$port2/a" \
    "http://127.0.0.1:$port2/b" | awk '{s += $1} END {print s}')
[ "$n" = 1 ] || fail "keep-alive: $n connections for two requests"
pass "keep-alive on local replies"

help=$("$WASPD" -h)
for flag in -c -t -h SIGHUP SIGTERM SIGUSR1; do
    grep -q -- "$flag" <<<"$help" || fail "waspd -h does not document $flag"
done
pass "waspd -h documents every flag"
