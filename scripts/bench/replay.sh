#!/bin/bash
# Proxy-wasm layer benchmark: generates N recorded requests (each with a response and a
# 12-byte body), runs `wasp replay` (text output) on them with the test plugins of
# plugins/test, and prints the CPU time (user+sys) per request for each plugin chain
# (median of the rounds; CPU time, not wall time, because the machine may be shared). Every request goes through context creation, request/response header and
# body callbacks with hostcalls, on_done/on_log/on_delete. Then the cost of single
# hostcalls: hc_bench makes --calls calls in one callback; the loop alone is subtracted.
#
# Usage: scripts/bench/replay.sh [--requests N] [--calls N] [--rounds R] [--wasp PATH]
#                                [--plugins DIR]
# Needs a Release build (default build/src/tools/wasp, build/plugins/test).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
wasp=$repo/build/src/tools/wasp
plugins=$repo/build/plugins/test
requests=2000
calls=1000000
rounds=3

while [ $# -gt 0 ]; do
    case $1 in
    --requests) requests=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --wasp) wasp=$2; shift 2 ;;
    --plugins) plugins=$2; shift 2 ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
traffic=$tmp/traffic.json
awk -v n="$requests" 'BEGIN {
    print "[";
    for (i = 0; i < n; i++) {
        port = 10000 + i;
        printf "{\"sip\": \"10.0.0.2\", \"sp\": \"%d\", \"dip\": \"10.0.0.1\", \"dp\": \"443\", \"scheme\": \"https\", \"uri_path\": \"/item/%d\", \"method\": \"GET\", \"headers\": {\"user-agent\": \"bench\", \"h2\": \"x\"}, \"forward_direction\": true, \"delta_ms\": 1},\n", port, i;
        printf "{\"sip\": \"10.0.0.1\", \"sp\": \"443\", \"dip\": \"10.0.0.2\", \"dp\": \"%d\", \"headers\": {\"content-type\": \"text/plain\"}, \"body\": \"Hello World!\", \"forward_direction\": false, \"delta_ms\": 1}%s\n", port, (i + 1 < n ? "," : "");
    }
    print "]";
}' > "$traffic"

cpu_us() { # median CPU microseconds of `wasp replay ARGS...` over the rounds
    local times=() cpu
    for _ in $(seq "$rounds"); do
        # user and sys seconds of the child, from bash's time keyword
        cpu=$( { TIMEFORMAT='%3U %3S'; time "$wasp" replay "$@" > "$tmp/out.txt"; } 2>&1 |
               awk '{ printf "%d", ($1 + $2) * 1000000 }')
        times+=("$cpu")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p"
}

run() { # label, plugin args...
    local label=$1 median
    shift
    median=$(cpu_us "$@" --traffic "$traffic")
    printf '%-28s %8d requests  %9.1f ms CPU  %7.1f us/request\n' "$label" "$requests" \
        "$(echo "$median / 1000" | bc -l)" "$(echo "$median / $requests" | bc -l)"
}

run "hc_body" --plugin "$plugins/hc_body.wasm"
run "hc_headers" --plugin "$plugins/hc_headers.wasm"
run "hc_headers+hc_body" --plugin "$plugins/hc_headers.wasm" --plugin "$plugins/hc_body.wasm"

echo '[{"sip": "10.0.0.2", "sp": "1", "dip": "10.0.0.1", "dp": "80", "uri_path": "/item/1",
  "forward_direction": true}]' > "$tmp/one.json"
base=$(cpu_us --log-level info --plugin "$plugins/hc_bench.wasm" --config "none $calls" \
       --traffic "$tmp/one.json")
for hc in get_header add_header log; do
    t=$(cpu_us --log-level info --plugin "$plugins/hc_bench.wasm" --config "$hc $calls" \
        --traffic "$tmp/one.json")
    printf '%-28s %8d calls     %9.1f ns/call\n' "hostcall $hc" "$calls" \
        "$(echo "($t - $base) * 1000 / $calls" | bc -l)"
done
