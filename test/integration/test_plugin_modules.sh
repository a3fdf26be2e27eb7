#!/usr/bin/env bash
# Plugin modules are decoded, validated and translated once, and cached by the file's
# SHA-256: a reload that names the same bytes (even under another path) reuses the
# module; new bytes are loaded again. And waspd -t starts every plugin once (the
# canary) and refuses one whose start fails, naming FILE:LINE and the plugin.
source "$(dirname "$0")/lib.sh"
: "${EXAMPLE_PLUGINS:?}"

port=$(free_port)
cp "$EXAMPLE_PLUGINS/add_header.wasm" "$T/a.wasm"
# conf FILE CONFIGURATION
conf() {
    cat >"$T/w.ini" <<INI
[daemon]
workers = 2
log_level = info
error_log = $T/waspd.err
access_log = off
[listener:web]
address = 127.0.0.1:$port
respond = 200 "ok"
plugins = p
[plugin:p]
file = $1
configuration = $2
INI
}
conf "$T/a.wasm" "x-v: 1"
start_waspd "$T/w.ini" "$port"
wait_log 10 "plugin module $T/a.wasm: [0-9]+ bytes \(sha256 [0-9a-f]+\.\.\.\) decoded, validated and translated" ||
    fail "no load line: $(cat "$T/waspd.err")"
http -D "$T/h1" -o /dev/null "http://127.0.0.1:$port/"
grep -qi '^x-v: 1' "$T/h1" || fail "the plugin's header is missing"

# Same bytes under another path, new configuration: reused, and the new configuration
# is live.
cp "$T/a.wasm" "$T/b.wasm"
conf "$T/b.wasm" "x-v: 2"
kill -HUP "$WASPD_PID"
wait_log 10 "plugin module $T/b.wasm: unchanged \(sha256 [0-9a-f]+\.\.\.\), reused" ||
    fail "the unchanged module was not reused: $(cat "$T/waspd.err")"
wait_until 10 sh -c "curl -s -D - -o /dev/null http://127.0.0.1:$port/ | grep -qi '^x-v: 2'" ||
    fail "the new configuration is not live"
pass "a reload naming the same bytes reuses the module"

# New bytes: loaded again.
cp "$EXAMPLE_PLUGINS/body_rewrite.wasm" "$T/b.wasm"
conf "$T/b.wasm" "World=wasp"
kill -HUP "$WASPD_PID"
wait_until 10 sh -c "grep -c 'plugin module $T/b.wasm: [0-9]* bytes' '$T/waspd.err' | grep -qx 1" ||
    fail "the changed module was not loaded again: $(cat "$T/waspd.err")"
pass "changed bytes are loaded again"

# waspd -t runs the canary: a configuration the plugin refuses fails the check.
conf "$T/a.wasm" "no colon"
out=$("$WASPD" -t -c "$T/w.ini" 2>&1) && fail "waspd -t accepted a configuration the plugin refuses"
grep -qE "^$T/w.ini:[0-9]+: \[plugin:p\]: plugin p: proxy_on_configure returned false" <<<"$out" ||
    fail "waspd -t: $out"
grep -q 'configuration must be' <<<"$out" || fail "waspd -t does not show the plugin's log line"
pass "waspd -t starts the plugin and shows why it refused"
