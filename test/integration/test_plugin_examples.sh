#!/usr/bin/env bash
# The C SDK's example plugins (plugins/examples) live in waspd with 2 workers, on
# HTTP/1.1, h2c (prior knowledge and Upgrade) and HTTP/2 over TLS, driven by curl and
# nghttp, with nginx as the upstream and as the authorizer:
#   - add_header, authz and body_rewrite in one chain: a real callout per request to an
#     nginx auth endpoint (allowed: the paused request resumes; denied: 403 whose response
#     callbacks run; a slow authorizer: the callout's 1 s timeout answers 504 and the
#     plugin denies; a client that goes away mid-callout cancels it);
#   - body_rewrite on a chunked HTTP/1.1 upstream body and on HTTP/2: the rewritten body
#     arrives whole with a Content-Length that matches it;
#   - ratelimit across 2 workers: one shared-data counter for requests spread over both
#     (HTTP/1.1, h2c, TLS), 429 with retry-after past the limit;
#   - the queue example's producer and consumer: items produced on either worker (HTTP/1.1,
#     h2c, TLS) are consumed by the one consumer, on its own worker; its counter is one
#     process-wide metric (hc_metrics reads it on any worker).
source "$(dirname "$0")/lib.sh"
: "${EXAMPLE_PLUGINS:?}" "${TEST_PLUGINS:?}"
EX=$EXAMPLE_PLUGINS

ng=$(free_port)
tu=$(free_port)
wp=$(free_port)
tp=$(free_port)
rp=$(free_port)
qp=$(free_port)
rtp=$(free_port)
qtp=$(free_port)
start_test_upstream "$tu"
# The authorizer: /check/<path> allows "Bearer good", answers 401 otherwise, and takes
# 20 s for paths under /slow (through test_upstream): far beyond any callout timeout.
NGINX_EXTRA="location /check/slow { proxy_pass http://127.0.0.1:$tu/slow/20000; }
        location /check/ { if (\$http_authorization = \"Bearer good\") { return 200 \"allowed\\n\"; }
                           return 401 \"denied\\n\"; }"
start_nginx "$ng"
printf 'hidden gems, hidden garden\n' >"$T/ng/www/small.txt"
for i in $(seq 1 6000); do echo "line $i: the hidden path"; done >"$T/ng/www/big.txt"
sed 's/idden/IDDEN-LONGER/g' "$T/ng/www/small.txt" >"$T/small.want"
sed 's/idden/IDDEN-LONGER/g' "$T/ng/www/big.txt" >"$T/big.want"
self_signed srv localhost

cat >"$T/w.ini" <<INI
[daemon]
workers = 2
log_level = debug
access_log = off
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
plugins = add_header, authz, body_rewrite
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = add_header, authz, body_rewrite
[listener:rl]
address = 127.0.0.1:$rp
cluster = ng
plugins = ratelimit
[listener:q]
address = 127.0.0.1:$qp
cluster = ng
plugins = producer, consumed
[listener:rl_tls]
address = 127.0.0.1:$rtp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = ratelimit
[listener:q_tls]
address = 127.0.0.1:$qtp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = producer, consumed
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:authz]
endpoints = 127.0.0.1:$ng
[plugin:add_header]
file = $EX/add_header.wasm
configuration = x-demo: yes
[plugin:authz]
file = $EX/authz.wasm
[plugin:body_rewrite]
file = $EX/body_rewrite.wasm
configuration = idden=IDDEN-LONGER
; rewriting 150 KB in the interpreter of a sanitizer build takes longer than the default
max_execution_time = 10s
[plugin:ratelimit]
file = $EX/ratelimit.wasm
configuration = 5
[plugin:producer]
file = $EX/queue.wasm
root_id = producer
vm_id = q
[plugin:consumer]
file = $EX/queue.wasm
root_id = consumer
vm_id = q
[plugin:consumed]
file = $TEST_PLUGINS/hc_metrics.wasm
configuration = queue_consumed_total
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"
for p in "$rp" "$qp" "$rtp" "$qtp"; do wait_port "$p"; done

# get NAME CURL_ARGS...: the response head in $T/NAME.h (CR removed), the body in
# $T/NAME.b; prints the status code.
get() {
    local name=$1
    shift
    http -D "$T/$name.raw" -o "$T/$name.b" -w '%{http_code}' "$@"
    tr -d '\r' <"$T/$name.raw" >"$T/$name.h"
}
# header NAME FIELD: the value of FIELD in $T/NAME.h (empty when absent).
header() {
    grep -i "^$2:" "$T/$1.h" | head -1 | sed 's/^[^:]*: *//'
}
# rewritten NAME WANT_FILE: a 200 whose body is WANT_FILE, framed by a Content-Length
# that matches it, with add_header's header.
rewritten() {
    local name=$1 want=$2 cl
    cmp -s "$T/$name.b" "$want" || fail "$name: body not rewritten as expected: $(head -c 200 "$T/$name.b")"
    cl=$(header "$name" content-length)
    [ "$cl" = "$(stat -c %s "$want")" ] ||
        fail "$name: content-length '$cl' for a rewritten body of $(stat -c %s "$want") bytes"
    [ -z "$(header "$name" transfer-encoding)" ] || fail "$name: both a length and chunked"
    [ "$(header "$name" x-demo)" = yes ] || fail "$name: no x-demo header: $(cat "$T/$name.h")"
}

AUTH=(-H "authorization: Bearer good")
# The ways in: HTTP/1.1, h2c with prior knowledge, HTTP/2 over TLS (ALPN), HTTP/1.1 over
# TLS: curl options and base URL of each.
declare -A OPT=([h1]="" [h2c]="--http2-prior-knowledge" [tls_h2]="-k --http2" [tls_h1]="-k --http1.1")
declare -A BASE=([h1]="http://127.0.0.1:$wp" [h2c]="http://127.0.0.1:$wp"
    [tls_h2]="https://127.0.0.1:$tp" [tls_h1]="https://127.0.0.1:$tp")
for via in h1 h2c tls_h2 tls_h1; do
    read -r -a opt <<<"${OPT[$via]}"
    base=${BASE[$via]}
    st=$(get "$via-small" "${opt[@]}" "${AUTH[@]}" "$base/small.txt")
    [ "$st" = 200 ] || fail "$via: allowed request got $st: $(cat "$T/$via-small.b")"
    rewritten "$via-small" "$T/small.want"
    case $via in h2c | tls_h2) grep -q '^HTTP/2 200' "$T/$via-small.h" || fail "$via: not HTTP/2" ;; esac

    # Denied: authz's local 403 runs the response callbacks of the whole chain.
    st=$(get "$via-deny" "${opt[@]}" -H "authorization: Bearer bad" "$base/small.txt")
    [ "$st" = 403 ] || fail "$via: denied request got $st"
    [ "$(cat "$T/$via-deny.b")" = "forbIDDEN-LONGER" ] ||
        fail "$via: local reply body not through body_rewrite: $(cat "$T/$via-deny.b")"
    [ "$(header "$via-deny" content-length)" = 17 ] ||
        fail "$via: local reply content-length: $(cat "$T/$via-deny.h")"
    [ "$(header "$via-deny" x-demo)" = yes ] || fail "$via: local reply without add_header's header"

    # A chunked upstream body (nginx /chunked/), rewritten whole.
    st=$(get "$via-big" "${opt[@]}" "${AUTH[@]}" "$base/chunked/big.txt")
    [ "$st" = 200 ] || fail "$via: chunked request got $st"
    rewritten "$via-big" "$T/big.want"
done
# The upstream really sends that body chunked.
http -D - -o /dev/null "http://127.0.0.1:$ng/chunked/big.txt" | grep -qi '^transfer-encoding: chunked' ||
    fail "nginx /chunked/ is not chunked"
pass "add_header, authz and body_rewrite on HTTP/1.1, h2c and TLS (h2, h1): allow, deny, chunked body rewritten with an exact Content-Length"

# nghttp: h2c prior knowledge, h2c by Upgrade, and TLS.
for url in "http://127.0.0.1:$wp/small.txt" "-u http://127.0.0.1:$wp/small.txt" \
    "https://127.0.0.1:$tp/small.txt"; do
    read -r -a a <<<"$url"
    timeout 20 nghttp -v -H "authorization: Bearer good" "${a[@]}" >"$T/ng.out" 2>&1 ||
        fail "nghttp $url: $(tail -5 "$T/ng.out")"
    grep -q 'x-demo: yes' "$T/ng.out" || fail "nghttp $url: no x-demo header"
    grep -q ':status: 200' "$T/ng.out" || fail "nghttp $url: not 200"
    grep -q '^hIDDEN-LONGER gems, hIDDEN-LONGER garden$' "$T/ng.out" ||
        fail "nghttp $url: body not rewritten: $(tail -3 "$T/ng.out")"
    grep -q "content-length: $(stat -c %s "$T/small.want")" "$T/ng.out" ||
        fail "nghttp $url: content-length not $(stat -c %s "$T/small.want")"
done
pass "nghttp (h2c prior knowledge, h2c Upgrade, TLS): the chain's work on HTTP/2"

# The authorizer takes 20 s; the callout's timeout (1 s) answers 504 and authz denies.
for via in h1 tls_h2; do
    read -r -a opt <<<"${OPT[$via]}"
    base=${BASE[$via]}
    t0=$(now_ms)
    st=$(get "$via-slow" "${opt[@]}" "${AUTH[@]}" "$base/slow/x")
    dt=$(($(now_ms) - t0))
    [ "$st" = 403 ] || fail "$via: slow authorizer: $st"
    [ "$dt" -ge 900 ] && [ "$dt" -lt 10000 ] || fail "$via: callout timeout answered after $dt ms"
done
wait_log 5 '\[plugin:authz\] callout [0-9]+ answered: 504 \(timeout\)' ||
    fail "no 504 (timeout) answer in the log"
grep -q 'authz: denied (authz_denied)' "$T/waspd.err" || fail "authz did not log its denial"
pass "authz: a callout past its timeout answers 504 (after ~1 s, not 20 s), the request is denied"

# A client that goes away while its callout runs (HTTP/1.1: it closes; h2c, TLS: the
# connection ends): the stream ends and its callout is cancelled.
for via in h1 h2c tls_h2; do
    read -r -a opt <<<"${OPT[$via]}"
    n0=$(grep -c 'callout [0-9]* cancelled' "$T/waspd.err" || true)
    http --max-time 0.5 "${opt[@]}" "${AUTH[@]}" "${BASE[$via]}/slow/gone" >/dev/null 2>&1 &&
        fail "$via: the slow request did not time out"
    wait_until 5 sh -c "[ \$(grep -c 'callout [0-9]* cancelled' '$T/waspd.err') -gt $n0 ]" ||
        fail "$via: the callout of a stream whose client went away was not cancelled"
done
pass "authz: the callout of a client that went away is cancelled (HTTP/1.1, h2c, TLS)"

# ---- ratelimit: 5 requests per second per client, across both workers -------------------
# A burst of 40 requests on 8 connections (SO_REUSEPORT spreads them over the workers)
# inside one second window: exactly 5 pass. Per-worker counters would let 10 through.
workers_seen() { # workers_seen PLUGIN: how many workers ran its request callback
    grep -oE "\[worker [0-9]+\] \[plugin:$1\] proxy_on_request_headers" "$T/waspd.err" |
        sort -u | wc -l
}
# burst PROTO ID: 40 requests of client ID on 8 connections in one second window (retried
# up to 5 times when the second turned or all connections landed on one worker); checks
# that exactly 5 passed and the rest got 429. One request of the client in an earlier
# second creates its counter first: the ABI has no create-if-absent, so two workers that
# both see no counter may each write a fresh one (see plugins/examples/ratelimit.c);
# every later window is a compare-and-swap update of that key.
burst() {
    local proto=$1 id=$2 url opt=() attempt start s0 s1 sw seen
    case $proto in
    h1) url="http://127.0.0.1:$rp/small.txt" opt=(--h1) ;;
    h2c) url="http://127.0.0.1:$rp/small.txt" ;;
    tls) url="https://127.0.0.1:$rtp/small.txt" ;;
    esac
    for attempt in 1 2 3 4 5; do
        h2load "${opt[@]}" -c 1 -n 1 -H "x-client-id: $id$attempt" "$url" >"$T/rl.out" 2>&1 ||
            fail "$proto h2load: $(cat "$T/rl.out")"
        grep -q "status codes: 1 2xx" "$T/rl.out" ||
            fail "$proto: a new client's first request: $(grep 'status codes' "$T/rl.out")"
        sw=$(date +%s)
        # Start at the beginning of a second, so that the burst fits in one window.
        ms=$((10#$(date +%N) / 1000000))
        sleep "$(printf '0.%03d' $((999 - ms)))"
        start=$(wc -l <"$T/waspd.err")
        s0=$(date +%s)
        h2load "${opt[@]}" -c 8 -n 40 -H "x-client-id: $id$attempt" "$url" >"$T/rl.out" 2>&1 ||
            fail "$proto h2load: $(cat "$T/rl.out")"
        s1=$(date +%s)
        [ "$s0" = "$s1" ] && [ "$sw" -lt "$s0" ] || continue # crossed a window: again
        seen=$(tail -n +$((start + 1)) "$T/waspd.err" |
            grep -oE "\[worker [0-9]+\] \[plugin:ratelimit\] proxy_on_request_headers" | sort -u | wc -l)
        [ "$seen" = 2 ] || continue # this burst stayed on one worker: again
        grep -q "status codes: 5 2xx, 0 3xx, 35 4xx, 0 5xx" "$T/rl.out" ||
            fail "$proto: ratelimit across 2 workers: $(grep 'status codes' "$T/rl.out") (want 5 2xx, 35 4xx)"
        return 0
    done
    fail "$proto: no burst fitted in one second on both workers in 5 attempts"
}
burst h1 b1-
burst h2c b2-
burst tls b3-
# Six requests of one client on one connection at the start of a second: the sixth gets
# 429 with retry-after: 1 (again with a new client when the six crossed a second).
for attempt in 1 2 3 4 5; do
    ms=$((10#$(date +%N) / 1000000))
    sleep "$(printf '0.%03d' $((999 - ms)))"
    s0=$(date +%s)
    codes=$(http -D "$T/rl429.raw" -o /dev/null -w '%{http_code} ' -H "x-client-id: six$attempt" \
        "http://127.0.0.1:$rp/small.txt?[1-6]")
    [ "$s0" = "$(date +%s)" ] && break
done
[ "$codes" = "200 200 200 200 200 429 " ] || fail "six requests of one client: $codes"
tr -d '\r' <"$T/rl429.raw" | grep -qi '^retry-after: 1$' || fail "429 without retry-after: 1"
pass "ratelimit: one shared-data counter across 2 workers (5 of 40 pass in one window) on HTTP/1.1, h2c and TLS"

# ---- queue: producer on every worker, one consumer --------------------------------------
# 20 items over HTTP/1.1 (a connection each), 5 over h2c and 5 over TLS (h2).
for i in $(seq 1 30); do
    opt=() base=http://127.0.0.1:$qp
    [ "$i" -gt 20 ] && opt=(--http2-prior-knowledge)
    [ "$i" -gt 25 ] && opt=(-k --http2) base=https://127.0.0.1:$qtp
    st=$(http -o /dev/null -w '%{http_code}' "${opt[@]}" "$base/small.txt?item=$i")
    [ "$st" = 200 ] || fail "queue request $i: $st"
done
wait_until 10 sh -c "[ \$(grep -c 'consumer: GET /small.txt?item=' '$T/waspd.err') -ge 30 ]" ||
    fail "not every item consumed: $(grep -c 'consumer: GET' "$T/waspd.err")"
for i in $(seq 1 30); do
    grep -q "consumer: GET /small.txt?item=$i\$" "$T/waspd.err" || fail "item $i not consumed"
done
# The consumer (the last root to register the queue) runs on one worker only; the
# producers ran on both, so items crossed workers through the consumer's mailbox.
cw=$(grep 'consumer: GET /small.txt' "$T/waspd.err" | grep -oE '\[worker [0-9]+\]' | sort -u)
[ "$(echo "$cw" | wc -l)" = 1 ] || fail "on_queue_ready ran on several workers: $cw"
[ "$(workers_seen producer)" = 2 ] ||
    fail "the 30 requests all landed on one worker (cannot show a cross-worker queue)"
other=$(grep -E "\[plugin:producer\] proxy_on_request_headers" "$T/waspd.err" | grep -v -F "$cw" | wc -l)
[ "$other" -gt 0 ] || fail "no item produced on another worker than the consumer's"
pass "queue: 30 items (HTTP/1.1, h2c, TLS), $other of them produced on another worker than the consumer's ($cw), all consumed there"
# queue_consumed_total is one process-wide counter: hc_metrics, after the producer in the
# chain, reads at least the 30 consumed items on whichever worker serves the request.
read_on=""
for i in $(seq 1 30); do
    before=$(grep -c '\[plugin:producer\] proxy_on_request_headers' "$T/waspd.err")
    v=$(http -D - -o /dev/null "http://127.0.0.1:$qp/small.txt?metric=$i" | tr -d '\r' |
        sed -n 's/^x-metric: queue_consumed_total=//p')
    [ "$v" -ge 30 ] 2>/dev/null || fail "queue_consumed_total read as '$v' (request $i)"
    w=$(grep '\[plugin:producer\] proxy_on_request_headers' "$T/waspd.err" | sed -n "$((before + 1))p" |
        grep -oE '\[worker [0-9]+\]')
    case " $read_on " in *" $w "*) ;; *) read_on="$read_on $w" ;; esac
    [ "$(echo "$read_on" | grep -o worker | wc -l)" = 2 ] && break
done
[ "$(echo "$read_on" | grep -o worker | wc -l)" = 2 ] || fail "metric reads never reached both workers"
pass "metrics: the consumer's counter is one process-wide metric, read as >= 30 on both workers"
