# lib.sh - shared parts of the proxy benchmarks (proxy-h1.sh, proxy-h2.sh): a scratch
# directory with process cleanup, free ports, CPU pinning, the nginx upstream, and
# side-by-side h2load rounds of waspd and nginx with medians and the ratio.
# Source it after `cd` to the repository root; set conns, secs, size, rounds first.

WASPD=${WASPD:-build/release/src/waspd}
if [ ! -x "$WASPD" ]; then
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j"$(nproc)" --target waspd >/dev/null
fi

T=$(mktemp -d /tmp/wasp-bench.XXXXXX)
PIDS=()
bench_cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap bench_cleanup EXIT

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

# On >= 2 cores the proxies run on CPU 1, upstream and load generator on CPU 0.
cpu_proxy=""
cpu_other=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    cpu_proxy="taskset -c 1"
    cpu_other="taskset -c 0"
fi
nginx_user=""
[ "$(id -u)" -eq 0 ] && nginx_user="user root;"

# nginx_main DIR: the lines every nginx.conf here starts with, up to `http {` (open).
nginx_main() {
    cat <<NGX
$nginx_user
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
    access_log off; keepalive_requests 1000000;
    client_body_temp_path $1/cb; proxy_temp_path $1/pt; fastcgi_temp_path $1/ft;
    uwsgi_temp_path $1/ut; scgi_temp_path $1/st;
NGX
}

# start_upstream PORT: nginx serving a $size-byte index.html on 127.0.0.1:PORT (CPU 0).
start_upstream() {
    mkdir -p "$T/up/www"
    head -c "$size" /dev/zero | tr '\0' 'x' >"$T/up/www/index.html"
    { nginx_main "$T/up"; echo "    server { listen 127.0.0.1:$1; root $T/up/www; } }"; } \
        >"$T/up/nginx.conf"
    $cpu_other nginx -p "$T/up" -c "$T/up/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
}

# start_proxies NGINX_CONF WASPD_INI: both proxies on CPU 1; sets waspd_pid and
# nginx_worker (the process to measure).
start_proxies() {
    $cpu_proxy nginx -p "$T/ngp" -c "$1" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
    local master=$!
    PIDS+=($master)
    $cpu_proxy "$WASPD" -c "$2" </dev/null >/dev/null 2>&1 &
    waspd_pid=$!
    PIDS+=($waspd_pid)
    sleep 0.2
    nginx_worker=$(pgrep -P "$master" | head -1)
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user+system ticks, all threads
hz=$(getconf CLK_TCK)
use_perf=""

# detect_perf PID: use perf for CPU cycles per request when it may count PID.
detect_perf() {
    if command -v perf >/dev/null && perf stat -e cycles -p "$1" -- sleep 0.1 >/dev/null 2>&1; then
        use_perf=1
    fi
}

# run NAME PID URL: one h2load run with H2LOAD_ARGS against URL; prints
# "rps p50_ms p99_ms failed cpu_us_per_req cycles_per_req" (proxy CPU over the whole
# run, warm-up included, per request: an approximation).
run() {
    local log="$T/$1.log" c0 c1 perf_pid=""
    rm -f "$log"
    c0=$(cpu_ticks "$2")
    if [ -n "$use_perf" ]; then
        perf stat -x, -e cycles -p "$2" -o "$T/$1.perf" -- sleep $((secs + 1)) 2>/dev/null &
        perf_pid=$!
    fi
    $cpu_other h2load "${H2LOAD_ARGS[@]}" -t 1 -D "$secs" --warm-up-time=1 --log-file="$log" \
        "$3" >"$T/$1.out" 2>&1
    [ -n "$perf_pid" ] && wait "$perf_pid"
    c1=$(cpu_ticks "$2")
    local rps failed lat cpu cyc="-"
    rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' "$T/$1.out")
    failed=$(awk '/^requests:/ {print $10 + $12}' "$T/$1.out")
    lat=$(sort -n -k3 "$log" | awk -v n="$(wc -l <"$log")" '
        { v[NR] = $3 }
        END { i50 = int(n * 0.50); i99 = int(n * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
              printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }')
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" \
          'BEGIN { printf "%.1f", t / hz * 1e6 / (r * (s + 1)) }')
    if [ -n "$use_perf" ] && [ -s "$T/$1.perf" ]; then
        cyc=$(awk -F, -v r="$rps" -v s="$secs" '$3 ~ /cycles/ && $1 ~ /^[0-9]+$/ {
                  printf "%.0f", $1 / (r * (s + 1)) }' "$T/$1.perf")
        [ -n "$cyc" ] || cyc="-"
    fi
    echo "$rps $lat $failed $cpu $cyc"
}

median() { sort -n -k"$2" "$1" | awk -v k="$2" '{v[NR] = $k} END {print v[int((NR + 1) / 2)]}'; }

# compare LABEL WASPD_URL NGINX_URL: $rounds alternating rounds after an unmeasured
# warm-up of each; prints each round, the medians and the waspd/nginx ratio.
compare() {
    local label=$1 r wres nres u
    for u in "$2" "$3"; do # pools, heap, page faults
        $cpu_other h2load "${H2LOAD_ARGS[@]}" -t 1 -D 2 "$u" >/dev/null 2>&1
    done
    printf "\n%s: h2load %s -D %ss, %s-byte body, 1 proxy worker%s\n" "$label" \
        "${H2LOAD_ARGS[*]}" "$secs" "$size" "${cpu_proxy:+ (proxies on CPU 1)}"
    printf "%-8s %12s %10s %10s %8s %12s %12s\n" proxy "req/s" "p50 ms" "p99 ms" failed \
        "cpu us/req" "cycles/req"
    : >"$T/w.all"
    : >"$T/n.all"
    for r in $(seq 1 "$rounds"); do
        # Alternate the order so neither proxy always runs second on a busy machine.
        if [ $((r % 2)) = 1 ]; then
            wres=$(run waspd "$waspd_pid" "$2")
            nres=$(run nginx "$nginx_worker" "$3")
        else
            nres=$(run nginx "$nginx_worker" "$3")
            wres=$(run waspd "$waspd_pid" "$2")
        fi
        printf "%-8s %12s %10s %10s %8s %12s %12s\n" waspd $wres
        printf "%-8s %12s %10s %10s %8s %12s %12s\n" nginx $nres
        echo "$wres" >>"$T/w.all"
        echo "$nres" >>"$T/n.all"
    done
    local w n wc nc
    w=$(median "$T/w.all" 1)
    n=$(median "$T/n.all" 1)
    printf "%s median: waspd %s req/s (p50 %s ms, p99 %s ms), nginx %s req/s (p50 %s ms, p99 %s ms)\n" \
        "$label" "$w" "$(median "$T/w.all" 2)" "$(median "$T/w.all" 3)" \
        "$n" "$(median "$T/n.all" 2)" "$(median "$T/n.all" 3)"
    awk -v m="$label" -v w="$w" -v n="$n" \
        'BEGIN { printf "%s ratio waspd/nginx (median req/s): %.2f\n", m, w / n }'
    printf "%s median proxy CPU per request: waspd %s us, nginx %s us\n" "$label" \
        "$(median "$T/w.all" 5)" "$(median "$T/n.all" 5)"
    if [ -n "$use_perf" ]; then
        wc=$(median "$T/w.all" 6)
        nc=$(median "$T/n.all" 6)
        printf "%s median proxy cycles per request: waspd %s, nginx %s" "$label" "$wc" "$nc"
        awk -v w="$wc" -v n="$nc" 'BEGIN { if (w > 0) printf " (nginx/waspd: %.2f)", n / w }'
        echo
    fi
}

# The nginx proxy's location block: keep-alive to the upstream, and the same forwarding
# headers waspd adds (X-Forwarded-For, X-Forwarded-Proto, Via both ways), so both
# proxies do the same work and the upstream parses the same requests.
NGINX_PROXY_LOCATION='location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Via "1.1 nginx";
            add_header Via "1.1 nginx";
        }'
