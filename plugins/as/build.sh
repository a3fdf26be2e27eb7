#!/bin/sh
# Builds the AssemblyScript plugins with the pinned SDK and compiler (package-lock.json).
# Usage: plugins/as/build.sh OUTDIR
# npm ci runs only when node_modules is missing or older than the lock file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
fi
for src in assembly/*.ts; do
    name=$(basename "$src" .ts)
    npx --no-install asc "$src" -b "$out/$name.wasm" --use abort=abort_proc_exit -O3 \
        2>"$out/$name.log" || { cat "$out/$name.log" >&2; exit 1; }
done
