#!/usr/bin/env bash
# proxy-h1.sh - HTTP/1.1 reverse-proxy benchmark: waspd vs nginx, one worker each.
#
# nginx serves a small static file on loopback (the upstream); waspd and an nginx
# proxy (proxy_pass with an upstream keepalive pool) forward to it; the same
# h2load --h1 run hits each proxy in turn. Prints req/s, p50/p99 latency (from
# h2load's per-request log) and the waspd/nginx throughput ratio.
#
# Usage: scripts/bench/proxy-h1.sh [-c CONNS] [-d SECONDS] [-s BODY_BYTES] [-r ROUNDS]
#   env WASPD=path/to/waspd (default: build/release/src/waspd, built if missing)
# On a machine with >= 2 cores the proxies run on CPU 1, upstream and load generator
# on CPU 0 (taskset), so each proxy gets one core. With perf, also CPU cycles per request.
set -euo pipefail
cd "$(dirname "$0")/../.."

conns=64
secs=10
size=128
rounds=3
while getopts "c:d:s:r:" o; do
    case $o in
    c) conns=$OPTARG ;;
    d) secs=$OPTARG ;;
    s) size=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done
. scripts/bench/lib.sh

up=$(port)
ngp=$(port)
wp=$(port)
mkdir -p "$T/ngp"
{
    nginx_main "$T/ngp"
    cat <<NGX
    upstream backend { server 127.0.0.1:$up; keepalive 128; }
    server {
        listen 127.0.0.1:$ngp;
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
cluster = backend
[cluster:backend]
endpoints = 127.0.0.1:$up
max_idle = 128
INI

start_upstream "$up"
start_proxies "$T/ngp/nginx.conf" "$T/waspd.ini"
wait_port "$up"
wait_port "$ngp"
wait_port "$wp"
curl -sf "http://127.0.0.1:$wp/index.html" >/dev/null || { echo "waspd does not proxy" >&2; exit 1; }
curl -sf "http://127.0.0.1:$ngp/index.html" >/dev/null || { echo "nginx does not proxy" >&2; exit 1; }
detect_perf "$waspd_pid"

H2LOAD_ARGS=(--h1 -c "$conns")
compare proxy-h1 "http://127.0.0.1:$wp/index.html" "http://127.0.0.1:$ngp/index.html"
