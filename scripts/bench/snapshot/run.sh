#!/bin/sh
# Plugin VMs with and without images (issue 11 §1): builds snapshot_bench (Release, in
# build-bench/ with the plugins) and runs it on the C example plugins, the AssemblyScript
# plugins and hc_trap (whose VM traps on its second request: a real trap before each
# replacement). Prints the medians, the memory per VM and the targets. Not a test.
# Usage: scripts/bench/snapshot/run.sh [--iterations N] [--clones N]
set -eu
cd "$(dirname "$0")/../../.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j2 --target snapshot_bench plugin_add_header plugin_authz \
    plugin_body_rewrite plugin_queue plugin_ratelimit plugin_hc_trap >/dev/null
# The AssemblyScript plugins need npm's packages; without them the bench skips them.
cmake --build build-bench -j2 --target as_plugins >/dev/null 2>&1 || true
as=build-bench/plugins/as
ex=build-bench/plugins/examples
set -- "$@" \
    --config "x-bench: 1" "$ex/add_header.wasm" \
    --config "" "$ex/authz.wasm" \
    --config "World=wasp" "$ex/body_rewrite.wasm" \
    --root-id producer "$ex/queue.wasm" \
    --root-id "" --config "100" "$ex/ratelimit.wasm" \
    --config "" build-bench/plugins/test/hc_trap.wasm
[ -f "$as/guard.wasm" ] && set -- "$@" --root-id guard --config /deny "$as/guard.wasm"
[ -f "$as/add_header.wasm" ] && set -- "$@" --root-id add_header --config v1 "$as/add_header.wasm"
exec build-bench/hostcalls/snapshot_bench "$@"
