#!/usr/bin/env bash
# proxy-h2.sh - HTTP/2 termination benchmark: waspd vs nginx, one worker each.
#
# nginx serves a small static file on loopback over HTTP/1.1 (the upstream); waspd and
# an nginx proxy (listen ... ssl http2 and listen ... http2 for h2c prior knowledge,
# proxy_pass with an upstream keepalive pool) forward to it; the same h2load run hits
# each proxy in turn, over TLS (h2 via ALPN) and over h2c. Prints req/s, p50/p99
# latency (from h2load's per-request log) and the waspd/nginx throughput ratio.
#
# Usage: scripts/bench/proxy-h2.sh [-c CONNS] [-m STREAMS] [-d SECONDS] [-s BODY_BYTES]
#                                  [-r ROUNDS]
#   env WASPD=path/to/waspd (default: build/release/src/waspd, built if missing)
# On a machine with >= 2 cores the proxies run on CPU 1, upstream and load generator
# on CPU 0 (taskset), so each proxy gets one core. With perf, also CPU cycles per request.
set -euo pipefail
cd "$(dirname "$0")/../.."

conns=8
streams=32
secs=10
size=128
rounds=3
while getopts "c:m:d:s:r:" o; do
    case $o in
    c) conns=$OPTARG ;;
    m) streams=$OPTARG ;;
    d) secs=$OPTARG ;;
    s) size=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
    esac
done
. scripts/bench/lib.sh

up=$(port)
ngp=$(port)
ngc=$(port)
wp=$(port)
wc=$(port)
mkdir -p "$T/ngp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -days 1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
{
    nginx_main "$T/ngp"
    cat <<NGX
    upstream backend { server 127.0.0.1:$up; keepalive 512; }
    server {
        listen 127.0.0.1:$ngp ssl http2;
        listen 127.0.0.1:$ngc http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        http2_max_concurrent_streams 128;
        $NGINX_PROXY_LOCATION
    }
}
NGX
} >"$T/ngp/nginx.conf"
cat >"$T/waspd.ini" <<INI
[daemon]
workers = 1
error_log = $T/waspd.err
access_log = off
[listener:bench]
address = 127.0.0.1:$wp
protocol = https
tls_certificate = $T/cert.pem
tls_key = $T/key.pem
cluster = backend
[listener:benchc]
address = 127.0.0.1:$wc
cluster = backend
[cluster:backend]
endpoints = 127.0.0.1:$up
max_idle = 512
INI

start_upstream "$up"
start_proxies "$T/ngp/nginx.conf" "$T/waspd.ini"
for p in "$up" "$ngp" "$ngc" "$wp" "$wc"; do wait_port "$p"; done
for u in "https://127.0.0.1:$wp" "https://127.0.0.1:$ngp"; do
    curl -sfk --http2 "$u/index.html" >/dev/null || { echo "$u does not proxy" >&2; exit 1; }
done
for u in "http://127.0.0.1:$wc" "http://127.0.0.1:$ngc"; do
    curl -sf --http2-prior-knowledge "$u/index.html" >/dev/null ||
        { echo "$u does not proxy" >&2; exit 1; }
done
detect_perf "$waspd_pid"

H2LOAD_ARGS=(-c "$conns" -m "$streams")
compare "proxy-h2 TLS h2" "https://127.0.0.1:$wp/index.html" "https://127.0.0.1:$ngp/index.html"
compare "proxy-h2 h2c" "http://127.0.0.1:$wc/index.html" "http://127.0.0.1:$ngc/index.html"
