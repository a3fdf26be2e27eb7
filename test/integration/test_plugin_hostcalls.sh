#!/usr/bin/env bash
# The test plugins (plugins/test) and the AssemblyScript plugins (plugins/as) live in
# waspd with 2 workers, asserting on live traffic what their replay tests
# (test/plugins/CMakeLists.txt) assert on recorded traffic:
#   - hc_headers: request headers edited in place (the upstream sees x-replayed, no h2),
#     a response header from the configuration, on_log reads the request headers, ticks
#     on each worker's VM, WASI environment and stdout, trailers both ways (h2c and
#     HTTP/1.1); hc_metrics: its counter is one process-wide metric;
#   - hc_callout + hc_body: a callout to a [cluster:NAME] (nginx) pauses the request until
#     its answer, a 401 becomes hc_callout's local 403 whose body passes hc_body, a slow
#     authorizer hits the call's timeout (504); bodies paused until their end are
#     buffered and rewritten whole with an exact length, beyond the hold limit a 500;
#   - hc_callout_args: proxy_http_call's timeout checks;
#   - hc_props: the properties of the live connection and stream (TLS h2 and HTTP/1.1);
#   - hc_abi010 (ABI 0.1.0) and hc_freestanding (the C SDK without libc);
#   - hc_queue: queue items from both workers reach the consumer, and the shared-data
#     counter updated with compare-and-swap on both workers counts every request;
#   - the AssemblyScript guard (local 403 with a body, per-VM sequence header, counter)
#     and add_header.
source "$(dirname "$0")/lib.sh"
: "${TEST_PLUGINS:?}" "${AS_PLUGINS:?}" "${H2_CLIENT:?}"
P=$TEST_PLUGINS
AS=$AS_PLUGINS
[ -f "$AS/guard.wasm" ] || fail "AssemblyScript plugins not built in $AS (npm missing?)"

ng=$(free_port)
tu=$(free_port)
eu=$(free_port)
hp=$(free_port) # hc_headers, hc_metrics
tp=$(free_port) # hc_headers on the trailer-echoing upstream
cp=$(free_port) # hc_callout, hc_body
ap=$(free_port) # hc_abi010, hc_freestanding
qp=$(free_port) # hc_queue producer
sp=$(free_port) # AssemblyScript guard, add_header
up=$(free_port) # hc_callout_args: a timeout negative as an i32
mp=$(free_port) # hc_callout_args: the largest timeout
pt=$(free_port) # hc_props over TLS
pp=$(free_port) # hc_props over plain HTTP/1.1
start_test_upstream "$tu"
"$H2_CLIENT" echo-upstream "$eu" </dev/null >/dev/null 2>"$T/echo.err" &
PIDS+=($!)
wait_port "$eu"
# The authorizer of hc_callout (GET /check<path>): paths under [/chunked]/allowed pass, /slow takes
# 20 s, anything else is 401.
NGINX_EXTRA="location ~ ^/check(/chunked)?/allowed/ { return 200 \"allowed\"; }
        location /check/slow/ { proxy_pass http://127.0.0.1:$tu/slow/20000; }
        location /check/ { return 401 \"no\"; }"
start_nginx "$ng"
mkdir -p "$T/ng/www/allowed"
printf 'Hello World!' >"$T/ng/www/allowed/hello.txt"
{
    for i in $(seq 1 4000); do echo "line $i before"; done
    echo "the World is here"
    for i in $(seq 1 4000); do echo "line $i after"; done
} >"$T/ng/www/allowed/big.txt"
{
    printf '['
    sed 's/World/wasp/' "$T/ng/www/allowed/big.txt"
    printf ']'
} >"$T/big.want"
head -c 600000 /dev/zero | tr '\0' 'x' >"$T/ng/www/allowed/huge.txt"
self_signed srv localhost
# hc_props' list: TYPE:PATH for every property checked below.
echo "s:source.address i:source.port s:destination.address i:destination.port i:connection.id
b:connection.mtls s:connection.tls_version s:connection.requested_server_name s:request.protocol
s:request.method s:request.path s:request.url_path s:request.host s:request.scheme
s:request.useragent s:request.id i:request.size i:response.code s:response.code_details
s:upstream.address i:upstream.port s:plugin_name s:plugin_root_id s:plugin_vm_id
s:xds.route_name s:xds.cluster_name s:xds.listener_name" | tr '\n' ' ' >"$T/props.conf"

cat >"$T/w.ini" <<INI
[daemon]
workers = 2
log_level = debug
access_log = off
[listener:hdr]
address = 127.0.0.1:$hp
cluster = tu
plugins = hdr, requests
[listener:trl]
address = 127.0.0.1:$tp
cluster = echo
plugins = hdr
[listener:callout]
address = 127.0.0.1:$cp
cluster = ng
plugins = callout, body
hold_limit = 512k
[listener:abi]
address = 127.0.0.1:$ap
cluster = tu
plugins = abi010, free
[listener:queue]
address = 127.0.0.1:$qp
cluster = tu
plugins = jobs_producer
[listener:as]
address = 127.0.0.1:$sp
cluster = tu
plugins = guard, as_add, guard_count
[listener:args_unbounded]
address = 127.0.0.1:$up
cluster = tu
plugins = args_unbounded
[listener:args_max]
address = 127.0.0.1:$mp
cluster = tu
plugins = args_max
[listener:props_tls]
address = 127.0.0.1:$pt
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = props
[listener:props]
address = 127.0.0.1:$pp
cluster = ng
plugins = props
[route:echo_head]
listener = props_tls, props
path_prefix = /head
cluster = tu
[cluster:tu]
endpoints = 127.0.0.1:$tu
[cluster:echo]
endpoints = 127.0.0.1:$eu
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:authz]
endpoints = 127.0.0.1:$ng
[plugin:hdr]
file = $P/hc_headers.wasm
configuration = hello-config
environment = HC_GREETING=hello-env
[plugin:requests]
file = $P/hc_metrics.wasm
configuration = hc_requests
[plugin:callout]
file = $P/hc_callout.wasm
[plugin:body]
file = $P/hc_body.wasm
; big bodies, and on_configure's allocator churn of free, take longer than the default
; 100 ms in the interpreter of a sanitizer build
max_execution_time = 10s
[plugin:abi010]
file = $P/hc_abi010.wasm
configuration = abc
[plugin:free]
file = $P/hc_freestanding.wasm
configuration = cfg1
max_execution_time = 10s
[plugin:jobs_producer]
file = $P/hc_queue.wasm
root_id = producer
vm_id = jobs
vm_configuration = p
[plugin:jobs_consumer]
file = $P/hc_queue.wasm
root_id = consumer
vm_id = jobs
vm_configuration = c
[plugin:guard]
file = $AS/guard.wasm
root_id = guard
configuration = /admin
[plugin:as_add]
file = $AS/add_header.wasm
root_id = add_header
configuration = v1
[plugin:args_unbounded]
file = $P/hc_callout_args.wasm
configuration = unbounded_timeout
[plugin:args_max]
file = $P/hc_callout_args.wasm
configuration = max_timeout
[plugin:props]
file = $P/hc_props.wasm
root_id = r1
vm_id = v1
configuration_file = $T/props.conf
[plugin:guard_count]
file = $P/hc_metrics.wasm
configuration = guard_requests_total
INI
start_waspd "$T/w.ini" "$hp"
for p in "$tp" "$cp" "$ap" "$qp" "$sp" "$up" "$mp" "$pt" "$pp"; do wait_port "$p"; done

# get NAME CURL_ARGS...: head in $T/NAME.h (no CR), body in $T/NAME.b and without CR in
# $T/NAME.t (test_upstream's /head echo); prints the status.
get() {
    local name=$1
    shift
    http -D "$T/$name.raw" -o "$T/$name.b" -w '%{http_code}' "$@"
    tr -d '\r' <"$T/$name.raw" >"$T/$name.h"
    tr -d '\r' <"$T/$name.b" >"$T/$name.t"
}
header() { # header NAME FIELD
    grep -i "^$2:" "$T/$1.h" | head -1 | sed 's/^[^:]*: *//'
}
# worker_of PATTERN: the "[worker N]" of the last log line matching PATTERN.
worker_of() {
    grep -E -- "$1" "$T/waspd.err" | tail -1 | grep -oE '\[worker [0-9]+\]'
}

# ---- hc_headers ----------------------------------------------------------------------
wait_log 5 'wasm log hdr: configured: hello-config' || fail "hc_headers not configured"
grep -q 'wasm log hdr: greeting from the environment: hello-env' "$T/waspd.err" ||
    fail "WASI environment / stdout of hc_headers not in the log"
for proto in h1 h2c; do
    opt=()
    [ $proto = h2c ] && opt=(--http2-prior-knowledge)
    st=$(get hdr-$proto "${opt[@]}" -H "h2: v2" -H "x-keep: 1" "http://127.0.0.1:$hp/head")
    [ "$st" = 200 ] || fail "$proto hc_headers: $st"
    grep -qi '^x-replayed: 1$' "$T/hdr-$proto.t" || fail "$proto: upstream did not get x-replayed: $(cat "$T/hdr-$proto.t")"
    grep -qi '^x-keep: 1$' "$T/hdr-$proto.t" || fail "$proto: x-keep lost"
    grep -qi '^h2:' "$T/hdr-$proto.t" && fail "$proto: h2 not removed: $(cat "$T/hdr-$proto.t")"
    [ "$(header hdr-$proto x-resp)" = hello-config ] || fail "$proto: x-resp: $(cat "$T/hdr-$proto.h")"
done
wait_log 5 'wasm log hdr: on_log [0-9]+: x-replayed status 0 value 1' ||
    fail "on_log did not read the request headers"
grep -qE 'wasm log hdr: request [0-9]+: [0-9]+ headers, path /head' "$T/waspd.err" ||
    fail "hc_headers did not log the request path"
pass "hc_headers: request headers edited in place (h1, h2c), response header from the configuration, on_log, WASI env/stdout"

# A client that goes away mid-stream (waiting for a slow upstream): the plugin still gets
# on_log (with the request it knew) at once, not when the upstream would have answered.
for proto in h1 h2c; do
    opt=()
    [ $proto = h2c ] && opt=(--http2-prior-knowledge)
    n0=$(grep -c 'wasm log hdr: on_log' "$T/waspd.err")
    t0=$(now_ms)
    http "${opt[@]}" --max-time 0.5 "http://127.0.0.1:$hp/slow/20000" >/dev/null 2>&1 &&
        fail "$proto: the slow request did not time out"
    wait_until 5 sh -c "[ \$(grep -c 'wasm log hdr: on_log [0-9]*: x-replayed status 0 value 1' '$T/waspd.err') -gt $n0 ]" ||
        fail "$proto: no on_log for a stream whose client went away"
    dt=$(($(now_ms) - t0))
    [ "$dt" -lt 10000 ] || fail "$proto: on_log came after $dt ms (at the upstream's answer?)"
done
pass "hc_headers: a client gone mid-stream still gets on_log at once (h1, h2c)"

# Ticks (every 4 ms) on each worker's own VM: each counts from 1.
for w in 0 1; do
    wait_log 5 "\[worker $w\] .*wasm log hdr: tick 3\$" || fail "no ticks on worker $w"
done
pass "hc_headers: proxy_on_tick runs on each worker's VM"

# hc_requests counts in hc_headers on every worker; hc_metrics reads it after hc_headers
# in the chain: one request at a time, it reads exactly one more each time, whichever
# worker serves it (per-worker counters would repeat values).
prev=$(get m0 "http://127.0.0.1:$hp/head" >/dev/null; header m0 x-metric | sed 's/^hc_requests=//')
seen=""
for i in $(seq 1 30); do
    get m "http://127.0.0.1:$hp/head" >/dev/null
    v=$(header m x-metric | sed 's/^hc_requests=//')
    [ "$v" = $((prev + 1)) ] || fail "hc_requests read $v after $prev"
    prev=$v
    w=$(worker_of 'wasm log hdr: request [0-9]+: ')
    case "$seen" in *"$w"*) ;; *) seen="$seen$w" ;; esac
    [ "$(echo "$seen" | grep -o worker | wc -l)" = 2 ] && [ "$i" -ge 4 ] && break
done
[ "$(echo "$seen" | grep -o worker | wc -l)" = 2 ] || fail "requests never reached both workers"
pass "metrics: hc_requests is one process-wide counter (read $prev, +1 per request on either worker)"

# Trailers: h2c and HTTP/1.1 requests with trailers through hc_headers to an upstream
# that echoes the trailers it got and sends x-resp-trailer.
"$H2_CLIENT" trailers "$tp" /echo >"$T/tr.out" 2>&1 || fail "h2_client trailers: $(cat "$T/tr.out")"
grep -q '^status 200$' "$T/tr.out" || fail "h2c trailers: $(cat "$T/tr.out")"
grep -q '^got x-req-trailer: yes$' "$T/tr.out" || fail "h2c: client trailer lost: $(cat "$T/tr.out")"
grep -q '^got x-seen: req$' "$T/tr.out" || fail "h2c: plugin's request trailer not sent: $(cat "$T/tr.out")"
grep -q '^trailer x-resp-trailer: done$' "$T/tr.out" || fail "h2c: upstream trailer lost: $(cat "$T/tr.out")"
grep -q '^trailer checksum: rewritten$' "$T/tr.out" || fail "h2c: plugin's response trailer missing: $(cat "$T/tr.out")"
exec 3<>"/dev/tcp/127.0.0.1/$tp"
printf 'POST /echo HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Req-Trailer: abc\r\n\r\n' >&3
out=$(timeout 15 cat <&3 | tr -d '\r')
exec 3<&-
grep -q '^got x-req-trailer: abc$' <<<"$out" || fail "h1: client trailer lost: $out"
grep -q '^got x-seen: req$' <<<"$out" || fail "h1: plugin's request trailer not sent: $out"
awk '/^0$/ {z = 1; next} z && /^checksum: rewritten$/ {f = 1} END {exit !f}' <<<"$out" ||
    fail "h1: plugin's response trailer not after the last chunk: $out"
grep -q 'wasm log hdr: request trailers: 1' "$T/waspd.err" || fail "on_request_trailers not logged"
pass "hc_headers: trailers both ways on h2c and HTTP/1.1 (request trailer added, response trailer set)"

# ---- hc_callout + hc_body --------------------------------------------------------------
for proto in h1 h2c; do
    opt=()
    [ $proto = h2c ] && opt=(--http2-prior-knowledge)
    st=$(get ok-$proto "${opt[@]}" "http://127.0.0.1:$cp/allowed/hello.txt")
    [ "$st" = 200 ] && [ "$(cat "$T/ok-$proto.b")" = "[Hello wasp!]" ] ||
        fail "$proto: allowed request: $st $(cat "$T/ok-$proto.b")"
    [ "$(header ok-$proto content-length)" = 13 ] || fail "$proto: content-length: $(cat "$T/ok-$proto.h")"
    st=$(get deny-$proto "${opt[@]}" "http://127.0.0.1:$cp/other/hello.txt")
    [ "$st" = 403 ] || fail "$proto: denied request: $st"
    [ "$(cat "$T/deny-$proto.b")" = "[forbidden
]" ] || fail "$proto: local reply body not through hc_body: $(cat "$T/deny-$proto.b")"
    [ "$(header deny-$proto x-denied-by)" = hc_callout ] || fail "$proto: local reply headers: $(cat "$T/deny-$proto.h")"
    [ "$(header deny-$proto content-length)" = 12 ] || fail "$proto: local reply length: $(cat "$T/deny-$proto.h")"
done
grep -qE 'wasm log callout: callout [0-9]+ answered: [0-9]+ headers, status 200, body allowed' "$T/waspd.err" ||
    fail "callout answer (status, body) not seen by the plugin"
grep -qE '\[plugin:callout\] proxy_on_request_headers -> pause' "$T/waspd.err" || fail "no pause"
grep -qE '\[plugin:callout\] continue request' "$T/waspd.err" || fail "no continue"
pass "hc_callout: pause until the callout's answer, continue on 200, local 403 whose body passes hc_body (h1, h2c)"

t0=$(now_ms)
st=$(get slow "http://127.0.0.1:$cp/slow/x")
dt=$(($(now_ms) - t0))
[ "$st" = 403 ] && [ "$dt" -ge 900 ] && [ "$dt" -lt 10000 ] || fail "slow callout: $st after $dt ms"
wait_log 5 'wasm log callout: callout [0-9]+ answered: [0-9]+ headers, status 504' ||
    fail "the callout timeout did not reach the plugin as 504"
pass "hc_callout: the call's 1 s timeout answers 504"

# A body paused until its end (hc_body) arrives in pieces: each call sees everything so
# far, the last one rewrites it; the client gets it with its exact length.
n0=$(grep -c '\[plugin:body\] proxy_on_response_body -> pause' "$T/waspd.err" || true)
for proto in h1 h2c; do
    opt=()
    [ $proto = h2c ] && opt=(--http2-prior-knowledge)
    st=$(get big-$proto "${opt[@]}" "http://127.0.0.1:$cp/chunked/allowed/big.txt")
    [ "$st" = 200 ] || fail "$proto big body: $st"
    cmp -s "$T/big-$proto.b" "$T/big.want" || fail "$proto: big body not rewritten whole"
    [ "$(header big-$proto content-length)" = "$(stat -c %s "$T/big.want")" ] ||
        fail "$proto: big body length: $(cat "$T/big-$proto.h")"
done
n1=$(grep -c '\[plugin:body\] proxy_on_response_body -> pause' "$T/waspd.err")
[ "$n1" -ge $((n0 + 4)) ] || fail "the chunked body did not arrive in pieces ($((n1 - n0)) pauses)"
pass "hc_body: a body paused until its end is buffered ($((n1 - n0)) pauses), rewritten whole, framed exactly"

# Beyond the listener's hold_limit (512k; the default 1m would hold it) the paused
# response cannot be held: 500.
st=$(get huge "http://127.0.0.1:$cp/allowed/huge.txt")
[ "$st" = 500 ] || fail "a response past the hold limit got $st"
grep -q 'too large' "$T/huge.b" || fail "hold limit answer: $(cat "$T/huge.b")"
pass "hc_body: a paused response body past the hold limit gets 500"

# proxy_http_call's argument checks live (hc_callout_args treats statuses as the Rust SDK):
# a timeout negative as an i32 is BAD_ARGUMENT (a local 503), the largest positive one a
# timeout like any other (the callout to [cluster:authz] is answered, the request goes on).
st=$(get args-u "http://127.0.0.1:$up/x")
[ "$st" = 503 ] && [ "$(cat "$T/args-u.b")" = refused ] || fail "unbounded timeout: $st $(cat "$T/args-u.b")"
wait_log 5 'wasm log args_unbounded: http_call unbounded_timeout: status 2$' || fail "not BAD_ARGUMENT"
st=$(get args-m "http://127.0.0.1:$mp/x")
[ "$st" = 200 ] || fail "largest timeout: $st"
wait_log 5 'wasm log args_max: http_call max_timeout: status 0$' || fail "largest timeout refused"
wait_log 5 'wasm log args_max: callout [0-9]+ answered with [0-9]+ headers' || fail "largest timeout: no answer"
grep -qE 'plugin args_[a-z]+: proxy_on_[a-z_]+ failed|unexpected status' "$T/waspd.err" &&
    fail "hc_callout_args trapped: $(grep -E 'plugin args_|unexpected' "$T/waspd.err")"
pass "hc_callout_args: a negative timeout is BAD_ARGUMENT (503), the largest positive one is a callout like any other"

# ---- properties of the live connection (hc_props) ----------------------------------------
# prop NAME PATH: the value hc_props showed for PATH in $T/NAME.h.
prop() {
    sed -n "s/^x-prop-$2: //p" "$T/$1.h"
}
lp=$(http -k --http2 --resolve "props.test:$pt:127.0.0.1" -A ua/1 -H "x-request-id: rid-1" \
    -D "$T/p2.raw" -o /dev/null -w '%{local_port}' "https://props.test:$pt/head?q=1")
tr -d '\r' <"$T/p2.raw" >"$T/p2.h"
for want in "source.address=127.0.0.1:$lp" "source.port=$lp" "destination.address=127.0.0.1:$pt" \
    "destination.port=$pt" "connection.mtls=false" "connection.tls_version=TLSv1.3" \
    "connection.requested_server_name=props.test" "request.protocol=HTTP/2" "request.method=GET" \
    "request.path=/head?q=1" "request.url_path=/head" "request.host=props.test:$pt" \
    "request.scheme=https" "request.useragent=ua/1" "request.id=rid-1" "request.size=0" \
    "response.code=200" "response.code_details=via_upstream" "upstream.address=127.0.0.1:$tu" \
    "upstream.port=$tu" "plugin_name=props" "plugin_root_id=r1" "plugin_vm_id=v1" \
    "xds.route_name=echo_head" "xds.cluster_name=tu" "xds.listener_name=props_tls"; do
    got=$(prop p2 "${want%%=*}")
    [ "$got" = "${want#*=}" ] || fail "property ${want%%=*}: '$got', want '${want#*=}'"
done
prop p2 connection.id | grep -qE '^[0-9]+$' || fail "connection.id: $(prop p2 connection.id)"
# connection.id: one per connection (two requests on one connection share it).
http -D "$T/pc.raw" -o /dev/null -o /dev/null "http://127.0.0.1:$pp/head" "http://127.0.0.1:$pp/head"
tr -d '\r' <"$T/pc.raw" >"$T/pc.h"
ids=$(grep '^x-prop-connection.id:' "$T/pc.h" | sort -u | wc -l)
[ "$ids" = 1 ] || fail "two requests on one connection got $ids connection ids"
[ "$(prop pc connection.id | head -1)" != "$(prop p2 connection.id)" ] || fail "two connections, one id"
[ "$(prop pc connection.tls_version | head -1)" = "status 1" ] || fail "tls_version without TLS: $(prop pc connection.tls_version)"
[ "$(prop pc request.protocol | head -1)" = HTTP/1.1 ] && [ "$(prop pc request.scheme | head -1)" = http ] &&
    [ "$(prop pc xds.listener_name | head -1)" = props ] || fail "plain HTTP/1.1 properties: $(cat "$T/pc.h")"
pass "properties of the live stream: source/destination, connection (id, TLS version, SNI), request.*, response.*, upstream.*, plugin_*, route/cluster/listener names"

# ---- hc_abi010, hc_freestanding -------------------------------------------------------
st=$(get abi "http://127.0.0.1:$ap/head")
[ "$st" = 200 ] || fail "abi listener: $st"
grep -qi '^x-abi: 0.1.0$' "$T/abi.t" || fail "ABI 0.1.0 header edit did not reach the upstream: $(cat "$T/abi.t")"
grep -qi '^x-free: n=[0-9]* path=/head neg=-42 hex=beef size=5 big=12345678901%$' "$T/abi.t" ||
    fail "hc_freestanding's header: $(grep -i x-free "$T/abi.t")"
grep -q 'wasm log abi010: 0.1.0 configuration: abc' "$T/waspd.err" || fail "ABI 0.1.0 configuration"
grep -q 'wasm log free: freestanding configured: cfg1, allocator ok' "$T/waspd.err" ||
    fail "hc_freestanding's allocator"
pass "hc_abi010 (ABI 0.1.0) and hc_freestanding (no libc) live"

# ---- hc_queue: producers on both workers, one consumer, CAS counter ---------------------
# (hc_queue keeps its role in a global: producer and consumer need VMs of their own, with
# the same vm_id for the queue; a different vm_configuration makes them separate VMs.)
for i in $(seq 1 16); do
    st=$(http -o /dev/null -w '%{http_code}' "http://127.0.0.1:$qp/job/$i")
    [ "$st" = 200 ] || fail "queue request $i: $st"
done
wait_until 10 sh -c "[ \$(grep -c 'wasm log jobs_consumer consumer jobs: dequeued: /job/' '$T/waspd.err') -ge 16 ]" ||
    fail "not every job dequeued: $(grep -E 'wasm log jobs|queue' "$T/waspd.err" | head -30)"
grep -q 'wasm log jobs_producer producer jobs: count 16$' "$T/waspd.err" ||
    fail "the CAS counter did not reach 16: $(grep 'count ' "$T/waspd.err" | tail -3)"
[ "$(grep -oE '\[worker [0-9]+\] .*wasm log jobs_producer producer jobs: count' "$T/waspd.err" |
    grep -oE '\[worker [0-9]+\]' | sort -u | wc -l)" = 2 ] ||
    fail "the 16 requests all landed on one worker"
[ "$(grep 'dequeued: /job/' "$T/waspd.err" | grep -oE '\[worker [0-9]+\]' | sort -u | wc -l)" = 1 ] ||
    fail "items dequeued on several workers"
grep -qE 'wasm log jobs_consumer consumer jobs: queue [0-9]+ drained: status 7' "$T/waspd.err" ||
    fail "the consumer did not drain to EMPTY"
pass "hc_queue: jobs from both workers dequeued by the one consumer; CAS counter counts all 16"

# ---- AssemblyScript: guard and add_header -----------------------------------------------
grep -q 'guard configured to deny /admin' "$T/waspd.err" || fail "guard not configured"
st=$(get as-deny "http://127.0.0.1:$sp/admin/x")
[ "$st" = 403 ] && [ "$(cat "$T/as-deny.b")" = "forbidden by guard" ] ||
    fail "guard: $st $(cat "$T/as-deny.b")"
[ "$(header as-deny hello)" = v1 ] || fail "add_header did not run on guard's local reply"
for i in 1 2 3; do
    st=$(get as-ok "http://127.0.0.1:$sp/head")
    [ "$st" = 200 ] || fail "guard allowed request: $st"
    grep -qiE '^x-wasp-seq: [0-9]+$' "$T/as-ok.t" || fail "no x-wasp-seq upstream: $(cat "$T/as-ok.t")"
    [ "$(header as-ok x-wasp-guard)" = allowed ] && [ "$(header as-ok hello)" = v1 ] ||
        fail "AS response headers: $(cat "$T/as-ok.h")"
done
v=$(header as-ok x-metric)
[ "$v" = guard_requests_total=4 ] || fail "guard's counter: $v"
grep -q 'add_header saw request for /head' "$T/waspd.err" || fail "AS add_header did not log"
bad='plugin (guard|as_add): |wasm log (guard|as_add) .*(abort|critical)'
grep -qE "$bad" "$T/waspd.err" && fail "an AS plugin failed: $(grep -E "$bad" "$T/waspd.err" | head -3)"
pass "AssemblyScript guard (local 403, x-wasp-seq, counter = 4) and add_header live"
