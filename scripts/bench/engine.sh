#!/bin/bash
# Engine benchmark: builds the CPU-bound kernels of ../shared/bench/kernels (beside the
# clone) to wasm32-wasi with Debian's clang + wasi-libc (and natively with gcc for
# reference), then times `wasp run` on each, side by side in the same rounds with any
# other engines given with --compare. Prints per-kernel median CPU seconds (user+sys),
# each engine's ratio to wasp (or wasp's ratio to the first --compare engine) and the
# geometric mean of the ratios. Every engine's output must match the native checksum.
#
# Prebuilt modules given with --wasm (e.g. CoreMark built outside the project, see
# README.md) run in the same rounds; they are listed after the kernels, outside the
# geomean, and their output is compared with lines that report timing left out.
#
# Usage: scripts/bench/engine.sh [--rounds N] [--wasp PATH] [--compare "CMD ARGS"]...
#                                [--kernels "fib sieve ..."] [--wasm FILE.wasm]...
#                                [--no-native] [--out DIR] [--build-only]
# Example: scripts/bench/engine.sh --rounds 5 --compare "/work/ext/wasm3/build/wasm3"
# The wasm file is appended to each engine's command line. Needs: clang lld wasi-libc
# libclang-rt-14-dev-wasm32 gcc, and a Release build of wasp (default build/src/tools/wasp).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
kernels_dir=${WASP_BENCH_KERNELS:-$repo/../shared/bench/kernels}
out=$repo/build/bench
wasp=$repo/build/src/tools/wasp
rounds=5
native=1
build_only=0
# The anchor set of ../shared/bench/README.md. memops_bulk (memory.copy/fill: native
# speed on every engine) is available with --kernels but left out of the default geomean.
kernels="fib sieve matmul sha256 memops bcinterp qsortk strhash"
compare=()
extra=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --wasp) wasp=$2; shift 2 ;;
    --compare) compare+=("$2"); shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    --wasm) extra+=("$2"); shift 2 ;;
    --no-native) native=0; shift ;;
    --build-only) build_only=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "engine.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case $rounds in ''|*[!0-9]*|0) echo "engine.sh: --rounds needs a positive number" >&2; exit 2 ;; esac
[ -d "$kernels_dir" ] || { echo "engine.sh: no kernels at $kernels_dir" >&2; exit 1; }
[ "$build_only" = 1 ] || [ -x "$wasp" ] || { echo "engine.sh: no wasp binary at $wasp (cmake --build build)" >&2; exit 1; }

# ---- Build -------------------------------------------------------------------------
mkdir -p "$out/nowasmopt"
# clang runs binaryen's wasm-opt after linking when it is installed; shadow it so the
# kernels stay plain clang -O2 code whatever the machine has.
printf '#!/bin/sh\nexit 0\n' > "$out/nowasmopt/wasm-opt"
chmod +x "$out/nowasmopt/wasm-opt"
wcc=(clang --target=wasm32-wasi -O2 "-B$out/nowasmopt" -Wl,--strip-all)

build_kernel() { # name -> $out/name.wasm and $out/name.native
    local k=$1 src=$1 flags=()
    if [ "$k" = memops_bulk ]; then
        src=memops
        flags=(-DREPS_DEFAULT=200000)
    fi
    local c=$kernels_dir/$src.c
    [ -f "$c" ] || { echo "engine.sh: no kernel $c" >&2; exit 1; }
    if [ ! "$out/$k.wasm" -nt "$c" ]; then
        local bulk=()
        [ "$k" = memops_bulk ] && bulk=(-mbulk-memory)
        "${wcc[@]}" "${bulk[@]}" "${flags[@]}" "$c" -o "$out/$k.wasm"
    fi
    if [ "$native" = 1 ] && [ ! "$out/$k.native" -nt "$c" ]; then
        gcc -O2 "${flags[@]}" "$c" -o "$out/$k.native"
    fi
}
for k in $kernels; do build_kernel "$k"; done
[ "$build_only" = 1 ] && exit 0
# Prebuilt modules: name -> path (no native build, timing lines ignored in the output check).
declare -A extra_path
extras=""
for w in "${extra[@]}"; do
    [ -f "$w" ] || { echo "engine.sh: no module $w" >&2; exit 1; }
    n=$(basename "$w" .wasm)
    extra_path[$n]=$(cd "$(dirname "$w")" && pwd)/$(basename "$w")
    extras="$extras $n"
done

# ---- Run ---------------------------------------------------------------------------
# Engines: wasp, then each --compare, then native. cmd of engine i is "${cmds[i]}".
names=(wasp)
cmds=("$wasp run")
for i in "${!compare[@]}"; do
    names+=("$(basename "${compare[$i]%% *}")")
    cmds+=("${compare[$i]}")
done
[ "$native" = 1 ] && names+=(native) && cmds+=("")

# Sets last_time to the CPU seconds (user+sys) of one run; fails when the output is wrong.
time_one() { # engine-index kernel
    local i=$1 k=$2 t expect got
    local cmdline wasm=$out/$k.wasm
    [ -n "${extra_path[$k]:-}" ] && wasm=${extra_path[$k]}
    if [ "${names[$i]}" = native ] && [ -z "${cmds[$i]}" ]; then
        cmdline=("$out/$k.native")
    else
        read -r -a cmdline <<< "${cmds[$i]}"
        cmdline+=("$wasm")
    fi
    local TIMEFORMAT='%3U %3S'
    t=$( { time "${cmdline[@]}" > "$out/$k.${names[$i]}.out" 2> "$out/$k.${names[$i]}.err"; } 2>&1 ) || {
        echo "engine.sh: ${names[$i]} failed on $k: $(head -c 300 "$out/$k.${names[$i]}.err")" >&2
        return 1
    }
    if [ -n "${extra_path[$k]:-}" ]; then
        # Lines about timing differ between engines and rounds (CoreMark's score line and
        # its verdict on the run's length among them); the rest, CRCs and errors, must not.
        got=$(grep -v -i -E 'tick|time|/sec|secs|^CoreMark [0-9.]+ :|validated' \
            "$out/$k.${names[$i]}.out" || true)
    else
        got=$(cat "$out/$k.${names[$i]}.out")
    fi
    if [ -n "${expected[$k]:-}" ] && [ "$got" != "${expected[$k]}" ]; then
        echo "engine.sh: ${names[$i]} printed '$got' on $k, expected '${expected[$k]}'" >&2
        return 1
    fi
    expected[$k]=$got
    last_time=$(awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.3f", a[1] + a[2] }')
}

declare -A expected samples
echo "engine.sh: $rounds round(s), kernels: $kernels${extras:+, modules:$extras}" >&2
for ((r = 1; r <= rounds; r++)); do
    for k in $kernels $extras; do
        for i in "${!names[@]}"; do
            [ -n "${extra_path[$k]:-}" ] && [ "${names[$i]}" = native ] && [ -z "${cmds[$i]}" ] && continue
            time_one "$i" "$k"
            samples[$k,$i]="${samples[$k,$i]:-} $last_time"
        done
    done
    echo "engine.sh: round $r done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- Report ------------------------------------------------------------------------
# Ratio columns: wasp / the first --compare engine (the engine issue's target is about
# this one; lower is better) and wasp / native.
printf '%-12s' kernel
for n in "${names[@]}"; do printf ' %10s' "$n(s)"; done
[ ${#compare[@]} -gt 0 ] && printf ' %14s' "wasp/${names[1]}"
[ "$native" = 1 ] && printf ' %14s' "wasp/native"
printf '\n'
declare -A med
for k in $kernels $extras; do
    printf '%-12s' "$k"
    for i in "${!names[@]}"; do
        med[$k,$i]=
        [ -n "${samples[$k,$i]:-}" ] && med[$k,$i]=$(echo "${samples[$k,$i]}" | median)
        printf ' %10s' "${med[$k,$i]:--}"
    done
    if [ ${#compare[@]} -gt 0 ]; then
        printf ' %14s' "$(awk -v a="${med[$k,0]}" -v b="${med[$k,1]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    fi
    if [ "$native" = 1 ] && [ -z "${extra_path[$k]:-}" ]; then
        last=$((${#names[@]} - 1))
        printf ' %14s' "$(awk -v a="${med[$k,0]}" -v b="${med[$k,$last]}" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')"
    fi
    printf '\n'
done

geomean() { # engine-index-a engine-index-b: geomean over kernels of a/b
    for k in $kernels; do echo "${med[$k,$1]} ${med[$k,$2]}"; done |
        awk '$2 > 0 && $1 > 0 { s += log($1 / $2); n++ } END { if (n) printf "%.3f", exp(s / n); else print "n/a" }'
}
if [ ${#compare[@]} -gt 0 ]; then
    for i in $(seq 1 ${#compare[@]}); do
        echo "geomean wasp/${names[$i]}: $(geomean 0 "$i")  (below 1: wasp is faster)"
    done
fi
if [ "$native" = 1 ]; then
    echo "geomean wasp/native: $(geomean 0 $((${#names[@]} - 1)))"
fi
# A fixed amount of work per module, so a CPU-time ratio is a score ratio (CoreMark's
# iterations/s relative to the other engine's).
for n in $extras; do
    for i in $(seq 1 ${#compare[@]}); do
        echo "$n: ${names[$i]}/wasp CPU time: $(awk -v a="${med[$n,0]}" -v b="${med[$n,$i]}" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')  (above 1: wasp is faster)"
    done
done
