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
# on CPU 0 (taskset), so each proxy gets one core.
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

WASPD=${WASPD:-build/release/src/waspd}
if [ ! -x "$WASPD" ]; then
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j"$(nproc)" --target waspd >/dev/null
fi

T=$(mktemp -d /tmp/wasp-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

port() { # a free loopback port below the ephemeral range
    local p
    while :; do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % 22000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    exit 1
}

cpu_proxy=""
cpu_other=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    cpu_proxy="taskset -c 1"
    cpu_other="taskset -c 0"
fi
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"

up=$(port)
ngp=$(port)
ngc=$(port)
wp=$(port)
wc=$(port)
mkdir -p "$T/up/www" "$T/ngp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -days 1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
head -c "$size" /dev/zero | tr '\0' 'x' >"$T/up/www/index.html"
temps() { echo "client_body_temp_path $1/cb; proxy_temp_path $1/pt; fastcgi_temp_path $1/ft; uwsgi_temp_path $1/ut; scgi_temp_path $1/st;"; }

cat >"$T/up/nginx.conf" <<NGX
$user
worker_processes 1;
pid $T/up/nginx.pid;
error_log $T/up/error.log;
events { worker_connections 4096; }
http {
    access_log off; $(temps "$T/up")
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$up; root $T/up/www; }
}
NGX
cat >"$T/ngp/nginx.conf" <<NGX
$user
worker_processes 1;
pid $T/ngp/nginx.pid;
error_log $T/ngp/error.log;
events { worker_connections 4096; }
http {
    access_log off; $(temps "$T/ngp")
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$up; keepalive 512; }
    server {
        listen 127.0.0.1:$ngp ssl http2;
        listen 127.0.0.1:$ngc http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        http2_max_concurrent_streams 128;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
NGX
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

$cpu_other nginx -p "$T/up" -c "$T/up/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
PIDS+=($!)
$cpu_proxy nginx -p "$T/ngp" -c "$T/ngp/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
ngp_master=$!
PIDS+=($!)
$cpu_proxy "$WASPD" -c "$T/waspd.ini" </dev/null >/dev/null 2>&1 &
waspd_pid=$!
PIDS+=($!)
wait_port "$up"
wait_port "$ngp"
wait_port "$wp"
wait_port "$wc"
wait_port "$ngc"
for u in "https://127.0.0.1:$wp" "https://127.0.0.1:$ngp"; do
    curl -sfk --http2 "$u/index.html" >/dev/null || { echo "$u does not proxy" >&2; exit 1; }
done
for u in "http://127.0.0.1:$wc" "http://127.0.0.1:$ngc"; do
    curl -sf --http2-prior-knowledge "$u/index.html" >/dev/null ||
        { echo "$u does not proxy" >&2; exit 1; }
done
ngp_worker=$(pgrep -P "$ngp_master" | head -1)

# cpu_ticks PID: user+system clock ticks the process used so far (all threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run NAME URL PID: one h2load run; prints "rps p50_ms p99_ms failed cpu_us_per_req"
# (proxy CPU over the whole run, warm-up included, per request: an approximation).
run() {
    local log="$T/$1.log" c0 c1
    rm -f "$log"
    c0=$(cpu_ticks "$3")
    $cpu_other h2load -c "$conns" -m "$streams" -t 1 -D "$secs" --warm-up-time=1 \
        --log-file="$log" "$2/index.html" >"$T/$1.out" 2>&1
    c1=$(cpu_ticks "$3")
    local rps failed
    rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' "$T/$1.out")
    failed=$(awk '/^requests:/ {print $10 + $12}' "$T/$1.out")
    sort -n -k3 "$log" | awk -v n="$(wc -l <"$log")" '
        { v[NR] = $3 }
        END { i50 = int(n * 0.50); i99 = int(n * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
              printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }' >"$T/$1.lat"
    local cpu
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" \
          'BEGIN { printf "%.1f", t / hz * 1e6 / (r * (s + 1)) }')
    echo "$rps $(cat "$T/$1.lat") $failed $cpu"
}

median() { sort -n -k"$2" "$1" | awk -v k="$2" '{v[NR] = $k} END {print v[int((NR + 1) / 2)]}'; }

# bench MODE WASPD_URL NGINX_URL
bench() {
    printf "\nproxy-h2 %s: h2load -c %s -m %s -D %ss, %s-byte body, 1 proxy worker%s\n" "$1" \
        "$conns" "$streams" "$secs" "$size" "${cpu_proxy:+ (proxies on CPU 1)}"
    printf "%-8s %12s %10s %10s %8s %12s\n" proxy "req/s" "p50 ms" "p99 ms" failed "cpu us/req"
    : >"$T/w.all"
    : >"$T/n.all"
    local r wres nres
    for r in $(seq 1 "$rounds"); do
        # Alternate the order so neither proxy always runs second on a busy machine.
        if [ $((r % 2)) = 1 ]; then
            wres=$(run waspd "$2" "$waspd_pid")
            nres=$(run nginx "$3" "$ngp_worker")
        else
            nres=$(run nginx "$3" "$ngp_worker")
            wres=$(run waspd "$2" "$waspd_pid")
        fi
        printf "%-8s %12s %10s %10s %8s %12s\n" waspd $wres
        printf "%-8s %12s %10s %10s %8s %12s\n" nginx $nres
        echo "$wres" >>"$T/w.all"
        echo "$nres" >>"$T/n.all"
    done
    local w n
    w=$(median "$T/w.all" 1)
    n=$(median "$T/n.all" 1)
    printf "%s median: waspd %s req/s (p50 %s ms, p99 %s ms), nginx %s req/s (p50 %s ms, p99 %s ms)\n" \
        "$1" "$w" "$(median "$T/w.all" 2)" "$(median "$T/w.all" 3)" \
        "$n" "$(median "$T/n.all" 2)" "$(median "$T/n.all" 3)"
    awk -v m="$1" -v w="$w" -v n="$n" \
        'BEGIN { printf "%s ratio waspd/nginx (median req/s): %.2f\n", m, w / n }'
    printf "%s median proxy CPU per request: waspd %s us, nginx %s us\n" "$1" \
        "$(median "$T/w.all" 5)" "$(median "$T/n.all" 5)"
}

# An unmeasured warm-up of each proxy and mode (pools, heap, page faults) before the rounds.
for u in "https://127.0.0.1:$wp" "https://127.0.0.1:$ngp" "http://127.0.0.1:$wc" \
    "http://127.0.0.1:$ngc"; do
    $cpu_other h2load -c "$conns" -m "$streams" -t 1 -D 2 "$u/index.html" >/dev/null 2>&1
done

bench "TLS h2" "https://127.0.0.1:$wp" "https://127.0.0.1:$ngp"
bench "h2c" "http://127.0.0.1:$wc" "http://127.0.0.1:$ngc"
