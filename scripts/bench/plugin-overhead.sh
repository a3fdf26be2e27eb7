#!/usr/bin/env bash
# plugin-overhead.sh - what a plugin costs on live traffic, side by side in one run, one
# proxy worker each (all proxies on CPU 1, upstream and load generator on CPU 0):
#   waspd           no plugin
#   waspd+C         the C SDK's add_header example (a response header from its config)
#   waspd+AS        the AssemblyScript add_header plugin (@solo-io/proxy-runtime)
#   nginx           add_header
#   nginx+njs       the same header from a script (js_header_filter, libnginx-mod-http-js)
# each proxying to the same nginx upstream, driven by h2load --h1 and h2c (cleartext
# HTTP/2, prior knowledge). Prints req/s, p50/p99, proxy CPU per request and the ratios
# the issue sets targets for; then the time to make a worker VM of each example plugin
# (scripts/bench/snapshot) and the RSS each extra worker adds with a plugin (1 vs 4
# workers). Not a test: figures depend on the machine; compare within one run.
#
# Usage: scripts/bench/plugin-overhead.sh [-c CONNS] [-d SECONDS] [-s BODY_BYTES] [-r ROUNDS]
#   env WASPD=path/to/waspd (default build/release/src/waspd), PLUGINS=build dir of plugins
set -euo pipefail
cd "$(dirname "$0")/../.."

conns=64
secs=8
size=128
rounds=3
while getopts "c:d:s:r:" o; do
    case $o in
    c) conns=$OPTARG ;;
    d) secs=$OPTARG ;;
    s) size=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
    esac
done
scripts/install-deps.sh --bench
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target waspd plugin_add_header >/dev/null
cmake --build build/release -j"$(nproc)" --target as_plugins >/dev/null
PLUGINS=${PLUGINS:-build/release/plugins}
. scripts/bench/lib.sh
njs_module=/usr/lib/nginx/modules/ngx_http_js_module.so
[ -f "$njs_module" ] || { echo "libnginx-mod-http-js is missing ($njs_module)" >&2; exit 1; }

up=$(port)
start_upstream "$up"

# waspd_ini NAME PORT WORKERS [PLUGIN-SECTION-LINES...]: a waspd configuration proxying
# to the upstream, with the plugin "p" when lines for it are given.
waspd_ini() {
    local name=$1 p=$2 workers=$3
    shift 3
    {
        printf '[daemon]\nworkers = %s\nerror_log = %s\nlog_level = warn\naccess_log = off\n' \
            "$workers" "$T/$name.err"
        printf '[listener:bench]\naddress = 127.0.0.1:%s\ncluster = backend\n' "$p"
        [ $# -gt 0 ] && printf 'plugins = p\n'
        printf '[cluster:backend]\nendpoints = 127.0.0.1:%s\nmax_idle = 128\n' "$up"
        if [ $# -gt 0 ]; then
            printf '[plugin:p]\n'
            printf '%s\n' "$@"
        fi
    } >"$T/$name.ini"
}
C_PLUGIN=("file = $(realpath "$PLUGINS/examples/add_header.wasm")" "configuration = x-wasp: 1")
AS_PLUGIN=("file = $(realpath "$PLUGINS/as/add_header.wasm")" "root_id = add_header"
    "configuration = 1")

declare -A PORT PID
start_waspd() { # NAME INI
    $cpu_proxy "$WASPD" -c "$T/$1.ini" </dev/null >/dev/null 2>&1 &
    PID[$1]=$!
    PIDS+=($!)
}
for name in waspd waspd+C waspd+AS nginx nginx+njs; do PORT[$name]=$(port); done
waspd_ini waspd "${PORT[waspd]}" 1
waspd_ini waspd+C "${PORT[waspd+C]}" 1 "${C_PLUGIN[@]}"
waspd_ini waspd+AS "${PORT[waspd+AS]}" 1 "${AS_PLUGIN[@]}"
for name in waspd waspd+C waspd+AS; do start_waspd "$name"; done

# nginx_proxy NAME PORT EXTRA_MAIN EXTRA_HTTP LOCATION_EXTRA: one nginx proxy worker.
nginx_proxy() {
    mkdir -p "$T/$1"
    {
        echo "$3"
        nginx_main "$T/$1"
        echo "$4"
        cat <<NGX
    upstream backend { server 127.0.0.1:$up; keepalive 128; }
    server {
        listen 127.0.0.1:$2;
        listen 127.0.0.1:$(($2 + 1)) http2;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            $5
        }
    }
}
NGX
    } >"$T/$1/nginx.conf"
    $cpu_proxy nginx -p "$T/$1" -c "$T/$1/nginx.conf" -g 'daemon off;' </dev/null \
        >"$T/$1.out" 2>&1 &
    local master=$!
    PIDS+=($master)
    sleep 0.3
    PID[$1]=$(pgrep -P "$master" | head -1)
}
cat >"$T/hdr.js" <<'JS'
function add(r) { r.headersOut['x-wasp'] = '1'; }
export default { add };
JS
# nginx's h2c needs its own port (a listen line is http2 or not in nginx 1.22).
PORT[nginx]=$(port); while (exec 3<>"/dev/tcp/127.0.0.1/$((PORT[nginx] + 1))") 2>/dev/null; do PORT[nginx]=$(port); done
PORT[nginx+njs]=$(port); while (exec 3<>"/dev/tcp/127.0.0.1/$((PORT[nginx+njs] + 1))") 2>/dev/null; do PORT[nginx+njs]=$(port); done
nginx_proxy nginx "${PORT[nginx]}" "" "" "add_header x-wasp 1;"
nginx_proxy nginx+njs "${PORT[nginx+njs]}" "load_module $njs_module;" \
    "js_import hdr from $T/hdr.js;" "js_header_filter hdr.add;"
wait_port "$up"
for name in waspd waspd+C waspd+AS nginx nginx+njs; do
    wait_port "${PORT[$name]}"
    hdr=$(curl -sf -D - -o /dev/null "http://127.0.0.1:${PORT[$name]}/index.html") ||
        { echo "$name does not proxy" >&2; exit 1; }
    case $name in
    waspd) ;;
    waspd+AS) grep -qi '^hello: 1' <<<"$hdr" || { echo "$name adds no header" >&2; exit 1; } ;;
    *) grep -qi '^x-wasp: 1' <<<"$hdr" || { echo "$name adds no header" >&2; exit 1; } ;;
    esac
done
detect_perf "${PID[waspd]}"

# bench MODE: every proxy, $rounds rounds in rotating order, medians and ratios.
bench() {
    local mode=$1 name r i
    local names=(waspd waspd+C waspd+AS nginx nginx+njs)
    for name in "${names[@]}"; do : >"$T/$mode.$name"; done
    url() {
        local p=${PORT[$1]}
        [ "$mode" = h2c ] && case $1 in nginx*) p=$((p + 1)) ;; esac
        echo "http://127.0.0.1:$p/index.html"
    }
    if [ "$mode" = h1 ]; then H2LOAD_ARGS=(--h1 -c "$conns"); else H2LOAD_ARGS=(-c 8 -m 32); fi
    for name in "${names[@]}"; do # warm-up: pools, heaps, page faults
        $cpu_other h2load "${H2LOAD_ARGS[@]}" -t 1 -D 2 "$(url "$name")" >/dev/null 2>&1
    done
    printf "\n%s: h2load %s -D %ss, %s-byte body, 1 proxy worker%s\n" "$mode" \
        "${H2LOAD_ARGS[*]}" "$secs" "$size" "${cpu_proxy:+ (proxies on CPU 1)}"
    printf "%-10s %12s %10s %10s %8s %12s %12s\n" proxy "req/s" "p50 ms" "p99 ms" failed \
        "cpu us/req" "cycles/req"
    for r in $(seq 1 "$rounds"); do
        for i in $(seq 0 4); do # rotate the order each round
            name=${names[$(((i + r) % 5))]}
            res=$(run "$mode-$name" "${PID[$name]}" "$(url "$name")")
            printf "%-10s %12s %10s %10s %8s %12s %12s\n" "$name" $res
            echo "$res" >>"$T/$mode.$name"
        done
    done
    echo "$mode medians:"
    for name in "${names[@]}"; do
        printf "  %-10s %10s req/s  p50 %s ms  p99 %s ms  %s us CPU/req\n" "$name" \
            "$(median "$T/$mode.$name" 1)" "$(median "$T/$mode.$name" 2)" \
            "$(median "$T/$mode.$name" 3)" "$(median "$T/$mode.$name" 5)"
    done
    local w wc was n nj cw cc cn cnj
    w=$(median "$T/$mode.waspd" 1)
    wc=$(median "$T/$mode.waspd+C" 1)
    was=$(median "$T/$mode.waspd+AS" 1)
    n=$(median "$T/$mode.nginx" 1)
    nj=$(median "$T/$mode.nginx+njs" 1)
    cw=$(median "$T/$mode.waspd" 5)
    cc=$(median "$T/$mode.waspd+C" 5)
    cn=$(median "$T/$mode.nginx" 5)
    cnj=$(median "$T/$mode.nginx+njs" 5)
    awk -v m="$mode" -v w="$w" -v wc="$wc" -v was="$was" -v n="$n" -v nj="$nj" -v cw="$cw" \
        -v cc="$cc" -v cn="$cn" -v cnj="$cnj" 'BEGIN {
        printf "%s: waspd+C / waspd        %.2f  (target >= 0.90)\n", m, wc / w
        printf "%s: plugin CPU per request %.2f us (waspd+C - waspd; target <= 2 us)\n", m, cc - cw
        printf "%s: waspd+C / nginx        %.2f  (target >= 1.00)\n", m, wc / n
        printf "%s: CPU/req waspd+C / nginx+njs %.2f  (target <= 0.70)\n", m, cc / cnj
        printf "%s: waspd+AS / waspd       %.2f;  waspd+AS / nginx+njs %.2f\n", m, was / w, was / nj
        printf "%s: CPU/req waspd / nginx %.2f\n", m, cw / cn }'
}
bench h1
bench h2c

# Worker VMs: the time to make one of each example plugin (an image clone plus the
# proxy-wasm start sequence), from the snapshot bench.
echo
echo "worker VM of each plugin (scripts/bench/snapshot/run.sh --iterations 200):"
scripts/bench/snapshot/run.sh --iterations 200 --clones 20 2>&1 | sed 's/^/  /'

# RSS each extra worker adds: 1 vs 4 workers, without and with each plugin.
rss_of() { # INI -> VmRSS in kB once every worker started
    local p pid rss
    p=$(port)
    sed -e "s/^address = .*/address = 127.0.0.1:$p/" -e "s/^workers = .*/workers = $2/" \
        "$T/$1.ini" >"$T/rss.ini"
    "$WASPD" -c "$T/rss.ini" </dev/null >/dev/null 2>&1 &
    pid=$!
    wait_port "$p"
    # A few requests on every worker's connection, so each worker's VMs have served.
    $cpu_other h2load --h1 -c 16 -n 400 "http://127.0.0.1:$p/index.html" >/dev/null 2>&1
    sleep 0.3
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$rss"
}
echo
echo "RSS per extra worker (VmRSS, 1 vs 4 workers):"
declare -A per
for name in waspd waspd+C waspd+AS; do
    r1=$(rss_of "$name" 1)
    r4=$(rss_of "$name" 4)
    per[$name]=$(((r4 - r1) / 3))
    printf "  %-10s 1 worker %6d kB, 4 workers %6d kB: %5d kB per extra worker\n" "$name" "$r1" \
        "$r4" "${per[$name]}"
done
for name in waspd+C waspd+AS; do
    printf "  %-10s the plugin's share per extra worker: %d kB (target <= 2048 kB)\n" "$name" \
        $((per[$name] - per[waspd]))
done
