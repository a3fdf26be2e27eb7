#!/bin/sh
# test_wasp_cli.sh - end-to-end tests of the `wasp` tool (src/tools/): run and validate.
# Usage: test_wasp_cli.sh WASP DIR (DIR holds hello.wasm, trap.wasm, spin.wasm, grow.wasm,
# invalid.wasm built by CMake).
set -u
wasp=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # description, condition result
    if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
run() { # args...: runs wasp with stdin "line\n", sets rc, out, err
    printf 'line\n' | "$wasp" "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

run run --env A=1 --env B=two "$dir/hello.wasm" 7 "x y"
check "run: exit code is the guest's" $([ $rc -eq 7 ]; echo $?)
check "run: argv reaches the guest" $(echo "$out" | grep -qx 'argc=3 \[7\] \[x y\]'; echo $?)
check "run: only --env variables" $([ "$(echo "$out" | grep -c '^env ')" -eq 2 ] &&
    echo "$out" | grep -qx 'env A=1' && echo "$out" | grep -qx 'env B=two'; echo $?)
check "run: stdin is readable" $(echo "$out" | grep -qx 'stdin line'; echo $?)
check "run: clock works" $(! echo "$out" | grep -q 'no clock'; echo $?)
check "run: stderr goes to stderr" $([ "$err" = "to stderr" ]; echo $?)

run run "$dir/hello.wasm"
check "run: _start returning exits 0" $([ $rc -eq 0 ]; echo $?)

run run "$dir/trap.wasm"
check "run: a trap exits 134" $([ $rc -eq 134 ]; echo $?)
check "run: the trap reason is printed" $(echo "$err" | grep -q 'trap: unreachable'; echo $?)

run run --fuel 100000 "$dir/spin.wasm"
check "run: fuel stops a runaway guest" $([ $rc -eq 134 ] && echo "$err" | grep -q 'fuel'; echo $?)

run run "$dir/grow.wasm"
check "run: memory grows without a limit" $([ $rc -eq 0 ]; echo $?)
run run --max-pages 4 "$dir/grow.wasm"
check "run: --max-pages caps memory.grow" $([ $rc -eq 1 ]; echo $?)

run run --stats "$dir/hello.wasm"
check "run: --stats prints timings" $(echo "$err" | grep -q 'instantiate .* ms'; echo $?)

run run "$dir/invalid.wasm"
check "run: an invalid module is refused" $([ $rc -eq 1 ] && echo "$err" | grep -q 'invalid'; echo $?)
run run "$dir/missing.wasm"
check "run: a missing file is an error" $([ $rc -eq 1 ]; echo $?)
run run --fuel abc "$dir/hello.wasm"
check "run: a bad option is a usage error" $([ $rc -eq 2 ]; echo $?)

run validate "$dir/hello.wasm"
check "validate: a valid module" $([ $rc -eq 0 ] && echo "$out" | grep -q 'valid'; echo $?)
run validate "$dir/invalid.wasm" "$dir/hello.wasm"
check "validate: says why a module is invalid" $([ $rc -eq 1 ] &&
    echo "$out" | grep -q 'invalid.wasm: invalid: '; echo $?)
printf 'garbage' > "$tmp/bad.wasm"
run validate "$tmp/bad.wasm"
check "validate: says a module is malformed" $([ $rc -eq 1 ] &&
    echo "$out" | grep -q 'bad.wasm: malformed: '; echo $?)

run nosuchcommand
check "unknown command is a usage error" $([ $rc -eq 2 ]; echo $?)

[ $fails -eq 0 ] && echo "all wasp CLI tests passed"
exit $fails
