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
wp=$(port)
mkdir -p "$T/up/www" "$T/ngp"
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
    upstream backend { server 127.0.0.1:$up; keepalive 128; }
    server {
        listen 127.0.0.1:$ngp;
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
cluster = backend
[cluster:backend]
endpoints = 127.0.0.1:$up
max_idle = 128
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
curl -sf "http://127.0.0.1:$wp/index.html" >/dev/null || { echo "waspd does not proxy" >&2; exit 1; }
curl -sf "http://127.0.0.1:$ngp/index.html" >/dev/null || { echo "nginx does not proxy" >&2; exit 1; }
ngp_worker=$(pgrep -P "$ngp_master" | head -1)

# cpu_ticks PID: user+system clock ticks the process used so far (all threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# CPU cycles per request (user + kernel) when perf may count the proxies: the figure
# that moves least on a shared machine.
use_perf=""
if command -v perf >/dev/null && perf stat -e cycles -p "$waspd_pid" -- sleep 0.1 >/dev/null 2>&1; then
    use_perf=1
fi

# run NAME PORT PID: one h2load run; prints "rps p50_ms p99_ms failed cpu_us_per_req"
# (proxy CPU over the whole run, warm-up included, per request: an approximation).
run() {
    local log="$T/$1.log" c0 c1
    rm -f "$log"
    c0=$(cpu_ticks "$3")
    local perf_pid=""
    if [ -n "$use_perf" ]; then
        perf stat -x, -e cycles -p "$3" -o "$T/$1.perf" -- sleep $((secs + 1)) 2>/dev/null &
        perf_pid=$!
    fi
    $cpu_other h2load --h1 -c "$conns" -t 1 -D "$secs" --warm-up-time=1 --log-file="$log" \
        "http://127.0.0.1:$2/index.html" >"$T/$1.out" 2>&1
    [ -n "$perf_pid" ] && wait "$perf_pid"
    c1=$(cpu_ticks "$3")
    local rps failed
    rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' "$T/$1.out")
    failed=$(awk '/^requests:/ {print $10 + $12}' "$T/$1.out")
    sort -n -k3 "$log" | awk -v n="$(wc -l <"$log")" '
        { v[NR] = $3 }
        END { i50 = int(n * 0.50); i99 = int(n * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
              printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }' >"$T/$1.lat"
    local cpu cyc="-"
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" \
          'BEGIN { printf "%.1f", t / hz * 1e6 / (r * (s + 1)) }')
    if [ -n "$use_perf" ] && [ -s "$T/$1.perf" ]; then
        cyc=$(awk -F, -v r="$rps" -v s="$secs" '$3 ~ /cycles/ && $1 ~ /^[0-9]+$/ {
                  printf "%.0f", $1 / (r * (s + 1)) }' "$T/$1.perf")
        [ -n "$cyc" ] || cyc="-"
    fi
    echo "$rps $(cat "$T/$1.lat") $failed $cpu $cyc"
}

printf "proxy-h1: h2load --h1 -c %s -D %ss, %s-byte body, 1 proxy worker%s\n" "$conns" "$secs" \
    "$size" "${cpu_proxy:+ (proxies on CPU 1)}"
printf "%-8s %12s %10s %10s %8s %12s %12s\n" proxy "req/s" "p50 ms" "p99 ms" failed "cpu us/req" \
    "cycles/req"
# An unmeasured warm-up of each proxy (pools, heap, page faults) before the rounds.
for p in "$wp" "$ngp"; do
    $cpu_other h2load --h1 -c "$conns" -t 1 -D 2 "http://127.0.0.1:$p/index.html" >/dev/null 2>&1
done
: >"$T/w.all"
: >"$T/n.all"
for r in $(seq 1 "$rounds"); do
    # Alternate the order so neither proxy always runs second on a busy machine.
    if [ $((r % 2)) = 1 ]; then
        wres=$(run waspd "$wp" "$waspd_pid")
        nres=$(run nginx "$ngp" "$ngp_worker")
    else
        nres=$(run nginx "$ngp" "$ngp_worker")
        wres=$(run waspd "$wp" "$waspd_pid")
    fi
    printf "%-8s %12s %10s %10s %8s %12s %12s\n" waspd $wres
    printf "%-8s %12s %10s %10s %8s %12s %12s\n" nginx $nres
    echo "$wres" >>"$T/w.all"
    echo "$nres" >>"$T/n.all"
done
median() { sort -n -k"$2" "$1" | awk -v k="$2" '{v[NR] = $k} END {print v[int((NR + 1) / 2)]}'; }
w=$(median "$T/w.all" 1)
n=$(median "$T/n.all" 1)
printf "median   waspd %s req/s (p50 %s ms, p99 %s ms), nginx %s req/s (p50 %s ms, p99 %s ms)\n" \
    "$w" "$(median "$T/w.all" 2)" "$(median "$T/w.all" 3)" \
    "$n" "$(median "$T/n.all" 2)" "$(median "$T/n.all" 3)"
awk -v w="$w" -v n="$n" 'BEGIN { printf "ratio waspd/nginx (median req/s): %.2f\n", w / n }'
printf "median proxy CPU per request: waspd %s us, nginx %s us\n" "$(median "$T/w.all" 5)" \
    "$(median "$T/n.all" 5)"
if [ -n "$use_perf" ]; then
    wc=$(median "$T/w.all" 6)
    nc=$(median "$T/n.all" 6)
    printf "median proxy cycles per request: waspd %s, nginx %s" "$wc" "$nc"
    awk -v w="$wc" -v n="$nc" 'BEGIN { if (w > 0) printf " (nginx/waspd: %.2f)", n / w }'
    echo
fi
