#!/bin/sh
# Runs one libFuzzer campaign: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#
# TARGET is a fuzz target of test/fuzz/ without the fuzz_ prefix: h1_request, h1_response,
# h1_chunked, h2, config, replay, hostcalls, module, exec. It is built (clang, ASan+UBSan,
# -DWASP_FUZZ=ON) in build/fuzz and run for SECONDS on the seed corpus kept in git,
# test/fuzz/corpus/TARGET/, plus a working corpus in build/fuzz/corpus/TARGET/ that
# grows across runs (new inputs go there, never into the source tree). A crash, a leak, a
# sanitizer report or a timeout leaves its input in build/fuzz/findings/TARGET/ and makes
# the script exit non-zero; each finding becomes a regression input in the seed corpus
# (test/fuzz/corpus/TARGET/) and a unit or integration test. Last line: the summary
#   fuzz TARGET: SECONDS s, N executions, K findings
# Run it under `nice -n 19` on a shared machine.
set -eu
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
secs=$2
shift 2
bin=build/fuzz/test/fuzz/fuzz_$target
seeds=test/fuzz/corpus/$target
work=build/fuzz/corpus/$target
findings=build/fuzz/findings/$target
log=build/fuzz/fuzz_$target.log

if [ ! -f build/fuzz/CMakeCache.txt ]; then
    CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DWASP_FUZZ=ON \
        -DCMAKE_C_FLAGS="-O1 -g" >/dev/null
fi
# One build at a time in build/fuzz: two campaigns may start together.
flock build/fuzz/.build.lock cmake --build build/fuzz -j2 --target "fuzz_$target" >/dev/null
mkdir -p "$seeds" "$work" "$findings"

case $target in
h1_*) maxlen=4096 ;;
h2) maxlen=16384 ;;
*) maxlen=16384 ;;
esac

# Findings of this run only: the inputs written after this mark.
mark=build/fuzz/.start_$target
touch "$mark"
# libFuzzer's own exit status is non-zero on a finding; the summary is printed anyway.
rc=0
"$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len="$maxlen" \
    -print_final_stats=1 -artifact_prefix="$findings/" "$@" "$work" "$seeds" >"$log" 2>&1 ||
    rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
found=$(find "$findings" -type f -newer "$mark" | wc -l)
tail -n 5 "$log"
echo "fuzz $target: $secs s, ${execs:-0} executions, $found findings (log: $log)"
[ "$rc" -eq 0 ] && [ "$found" -eq 0 ]
