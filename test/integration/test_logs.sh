#!/usr/bin/env bash
# Logs an operator can act on: each closed connection or reset stream that ends in error
# leaves exactly one error-log line, at the level its cause deserves, saying why (a
# malformed HTTP/2 request with its reason, a framing error, a flood, a timeout; the same
# for HTTP/1.1 bodies), never nghttp2's "The user callback function failed" echo; normal
# traffic leaves none at the default level (info).
source "$(dirname "$0")/lib.sh"
: "${H2_CLIENT:?H2_CLIENT must point to the h2_client test tool}"
PY=/usr/bin/python3 # Debian's, with python3-h2 (scripts/install-deps.sh)
H2CONF="$SRC_DIR/test/integration/h2conf.py"

wp=$(free_port)
up=$(free_port)
start_test_upstream "$up"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
log_level = info
[listener:web]
address = 127.0.0.1:$wp
body_timeout = 1s
respond = 200 "hello"
[route:up]
path_prefix = /up
cluster = up
[cluster:up]
endpoints = 127.0.0.1:$up
INI
start_waspd "$T/w.ini" "$wp"
log="$T/waspd.err"
wait_until 10 grep -q "configuration generation 1" "$log" || fail "no start line"

# expect_line LEVEL REGEX CMD...: runs CMD; the error log must gain exactly one line, at
# LEVEL, matching REGEX (extended), within a few seconds and no second one after it.
expect_line() {
    local level=$1 re=$2
    shift 2
    local before
    before=$(wc -l <"$log")
    "$@" >"$T/cmd.out" 2>&1 || true
    wait_until 10 sh -c "[ \$(wc -l <'$log') -gt $before ]" ||
        fail "no log line for: $* ($(tail -3 "$T/cmd.out" | tr '\n' ' '))"
    sleep 0.5 # a second line for the same event would come now
    local new
    new=$(tail -n +$((before + 1)) "$log")
    [ "$(grep -c . <<<"$new")" = 1 ] || fail "more than one line for: $*: $new"
    grep -qE "\[$level\] (\[worker [0-9]+\] )?127\.0\.0\.1:[0-9]+: $re" <<<"$new" || fail "want [$level] $re, got: $new"
    pass "one [$level] line: ${new#*] }"
}

h2conf() { # h2conf CASE-SUBSTRING: one h2conf.py case on the h2c port
    "$PY" "$H2CONF" --port "$wp" --path / --case "$1"
}

# HTTP/2: malformed requests, with the reason (nghttp2's checks and waspd's).
expect_line info 'h2: stream 1 reset \(PROTOCOL_ERROR\): malformed request: invalid header field name: \[X-TEST\]' \
    h2conf "an upper-case field name"
expect_line info 'h2: stream 1 reset \(PROTOCOL_ERROR\): malformed request: :authority and Host differ' \
    h2conf ":authority and Host that differ"
expect_line info 'h2: stream 1 reset \(PROTOCOL_ERROR\): malformed request: a connection-specific field|h2: stream 1 reset \(PROTOCOL_ERROR\): malformed request: invalid header field name: \[connection\]' \
    h2conf "a connection-specific field"
expect_line info 'h2: stream 1 reset \(PROTOCOL_ERROR\): malformed request: body length differs from content-length 1 ' \
    h2conf "content-length larger than the DATA"
expect_line info 'h2: stream 1 reset \(STREAM_CLOSED\): DATA after the client.s RST_STREAM' \
    h2conf "closed by the client's RST_STREAM: DATA"

# HTTP/2 framing errors: one line when the connection closes, with nghttp2's reason or
# the frame it choked on.
expect_line info 'h2: connection closed: connection error FRAME_SIZE_ERROR: bad length of a PING frame on stream 0 \(6 bytes\)' \
    h2conf "PING with a length other than 8"
expect_line info 'h2: connection closed: connection error PROTOCOL_ERROR: SETTINGS: stream_id != 0' \
    h2conf "SETTINGS on a stream other than 0"
expect_line info 'h2: connection closed: connection error COMPRESSION_ERROR: undecodable field block in a HEADERS frame on stream 1' \
    h2conf "an indexed field with index 0"
expect_line info 'h2: connection closed: connection error STREAM_CLOSED: stream 1: DATA on a closed stream' \
    h2conf "closed (both sides ended): DATA is"
expect_line info 'h2: connection closed: connection error PROTOCOL_ERROR: bad connection preface' \
    h2conf "a broken 'PRI * HTTP/2.0' preface"

# A flood: a warning, once.
expect_line warn 'h2: connection closed: PING flood \(GOAWAY ENHANCE_YOUR_CALM\)' \
    timeout 30 "$H2_CLIENT" flood "$wp" ping 20000

# A stream that makes no progress for body_timeout (1 s): the connection goes, once.
expect_line info 'h2: connection closed: timeout: 1 stream\(s\) made no progress for 1000 ms' \
    "$PY" "$H2CONF" --port "$wp" --stall 10
grep -q "^closed$" "$T/cmd.out" || fail "the stalled h2 connection was not closed"

# HTTP/1.1: a bad chunked body, a body that stops coming, a body cut short (to a proxied
# route: a local one answers without reading the body).
h1() { # h1 BYTES [HOLD_SECONDS]: sends BYTES, keeps the socket open HOLD s, then closes
    "$PY" - "$wp" "$1" "${2:-0}" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
time.sleep(float(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
PY
}
expect_line info '400 bad request body: ' \
    h1 'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
expect_line info 'request body timeout: no byte for 1000 ms \(408\)' \
    h1 'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab' 3
expect_line info 'the client closed the connection mid-body \(2 bytes of it came\): request reset' \
    h1 'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab'

# Normal traffic, idle closes and client cancels: nothing at info level.
before=$(wc -l <"$log")
http --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$wp/"
http -o /dev/null "http://127.0.0.1:$wp/"
h2conf "RST_STREAM on an open stream" >/dev/null
h2conf "a GET request" >/dev/null
sleep 0.5
[ "$(wc -l <"$log")" = "$before" ] || fail "normal traffic logged: $(tail -n +$((before + 1)) "$log")"
pass "normal traffic, client cancels: no line at info"

grep -qi "callback function failed" "$log" && fail "nghttp2's callback-failure echo in the log"
pass "no 'The user callback function failed' echo"
