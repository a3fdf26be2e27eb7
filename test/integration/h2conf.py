#!/usr/bin/python3
"""h2conf.py - HTTP/2 conformance probes for waspd, driven by raw frames.

Each case sends hand-built frames (RFC 9113) and header blocks (RFC 7541, through the
Debian package python3-hpack, a dependency of python3-h2) and checks the answer the RFC
requires: a connection error is a GOAWAY with the given code followed by the end of the
connection; a stream error is a RST_STREAM with the given code on that stream while the
connection lives on; "ignored" means the connection still answers a PING afterwards.
The cases cover what h2spec checks (its 146 cases, named after RFC 9113 / RFC 7541
sections here) plus waspd's own (a broken "PRI * HTTP/2.0" preface on a cleartext port
that also serves HTTP/1.1, closed-stream rules that must not depend on timing).

  h2conf.py --port P [--tls] --path /local [--case SUBSTRING] [--list]

Prints "ok SECTION: description" or "FAIL SECTION: description: what came instead" per
case and, last, "N passed, M failed"; exits 1 if any failed.
"""

import argparse
import socket
import ssl
import struct
import sys
import time

from hpack import Encoder, Decoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIO = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)
CODE_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
              "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
              "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM"]
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE",
               "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
WAIT = 3.0  # seconds to wait for an expected answer
QUIET = 0.3  # seconds of silence that count as "nothing sent"


def code_name(c):
    return CODE_NAMES[c] if c < len(CODE_NAMES) else "0x%x" % c


def frame_name(t):
    return FRAME_NAMES[t] if t < len(FRAME_NAMES) else "type 0x%x" % t


class Failure(Exception):
    pass


class Closed(Exception):
    pass


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


class Conn:
    """One client connection; frames are (type, flags, stream, payload)."""

    def __init__(self, args):
        self.args = args
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=WAIT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
            if self.sock.selected_alpn_protocol() != "h2":
                raise Failure("ALPN did not select h2")
        else:
            self.sock = raw
        self.buf = b""
        self.enc = Encoder()
        self.dec = Decoder()
        self.closed = False
        self.server_settings = {}
        self.log = []

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_frame(self, ftype, flags, sid, payload=b""):
        self.send(frame(ftype, flags, sid, payload))

    def read_frame(self, timeout=WAIT):
        """The next frame, or None after timeout seconds of silence; Closed at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[0:3], "big")
                if len(self.buf) >= 9 + n:
                    f = (self.buf[3], self.buf[4],
                         int.from_bytes(self.buf[5:9], "big") & 0x7fffffff,
                         self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    self.log.append("%s(s%d,f0x%x,%d)" % (frame_name(f[0]), f[2], f[1], len(f[3])))
                    if f[0] == SETTINGS and not f[1] & ACK:
                        # Settings are acknowledged as a real client would.
                        for i in range(0, len(f[3]) - 5, 6):
                            k, v = struct.unpack(">HI", f[3][i:i + 6])
                            self.server_settings[k] = v
                        self.send_frame(SETTINGS, ACK, 0)
                    return f
            if self.closed:
                raise Closed()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, ssl.SSLError, OSError):
                d = b""
            if not d:
                self.closed = True
                if len(self.buf) < 9:
                    raise Closed()
            self.buf += d

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- building requests ----

    def request_fields(self, method="GET", path=None, extra=()):
        scheme = "https" if self.args.tls else "http"
        return [(":method", method), (":scheme", scheme), (":path", self.args.path if path is None else path),
                (":authority", "127.0.0.1:%d" % self.args.port)] + list(extra)

    def block(self, fields, huffman=True):
        return self.enc.encode(fields, huffman=huffman)

    def headers(self, sid, fields=None, end_stream=True, flags=None, **kw):
        f = (END_HEADERS | (END_STREAM if end_stream else 0)) if flags is None else flags
        self.send_frame(HEADERS, f, sid, self.block(fields or self.request_fields(**kw)))

    def handshake(self, settings=b""):
        """Preface and SETTINGS; waits for the server's SETTINGS and its ACK of ours."""
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))
        got_settings = got_ack = False
        first = True
        while not (got_settings and got_ack):
            f = self.read_frame()
            if f is None:
                raise Failure("no SETTINGS exchange (got %s)" % " ".join(self.log))
            if first and not (f[0] == SETTINGS and not f[1] & ACK):
                raise Failure("the server's first frame is %s, not SETTINGS" % frame_name(f[0]))
            first = False
            if f[0] == SETTINGS:
                if f[1] & ACK:
                    got_ack = True
                else:
                    got_settings = True

    # ---- expectations ----

    def expect_conn_error(self, *codes):
        """GOAWAY with one of codes, then the connection ends."""
        while True:
            try:
                f = self.read_frame()
            except Closed:
                raise Failure("connection closed without GOAWAY (%s)" % " ".join(self.log))
            if f is None:
                raise Failure("no GOAWAY %s (got %s)" % (
                    "/".join(code_name(c) for c in codes), " ".join(self.log) or "nothing"))
            if f[0] == GOAWAY:
                code = struct.unpack(">I", f[3][4:8])[0]
                if code not in codes:
                    raise Failure("GOAWAY %s, want %s" % (
                        code_name(code), "/".join(code_name(c) for c in codes)))
                self.expect_closed()
                return
            if f[0] == RST_STREAM:
                raise Failure("RST_STREAM %s on stream %d, want a connection error %s" % (
                    code_name(struct.unpack(">I", f[3])[0]), f[2],
                    "/".join(code_name(c) for c in codes)))

    def expect_closed(self):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                f = self.read_frame(deadline - time.monotonic())
            except Closed:
                return
            if f is None:
                break
        raise Failure("connection not closed after GOAWAY")

    def expect_stream_error(self, sid, *codes, conn_ok=False):
        """RST_STREAM with one of codes on sid; the connection goes on (PING answered).
        conn_ok: a connection error with one of codes passes too (RFC 9113 §5.4.1: "an
        endpoint MAY choose to treat a stream error as a connection error"); used where
        nghttp2 itself escalates, never where waspd decides."""
        while True:
            try:
                f = self.read_frame()
            except Closed:
                raise Failure("connection closed, want RST_STREAM %s on stream %d (%s)" % (
                    "/".join(code_name(c) for c in codes), sid, " ".join(self.log)))
            if f is None:
                raise Failure("no RST_STREAM %s on stream %d (got %s)" % (
                    "/".join(code_name(c) for c in codes), sid, " ".join(self.log) or "nothing"))
            if f[0] == RST_STREAM and f[2] == sid:
                code = struct.unpack(">I", f[3])[0]
                if code not in codes:
                    raise Failure("RST_STREAM %s on stream %d, want %s" % (
                        code_name(code), sid, "/".join(code_name(c) for c in codes)))
                self.expect_alive()
                return
            if f[0] == GOAWAY:
                code = struct.unpack(">I", f[3][4:8])[0]
                if conn_ok and code in codes:
                    self.expect_closed()
                    return
                raise Failure("connection error GOAWAY %s, want stream error %s on stream %d" % (
                    code_name(code), "/".join(code_name(c) for c in codes), sid))

    def expect_alive(self, payload=b"h2conf!!"):
        """The connection answers a PING (frames before its ACK are skipped)."""
        self.send_frame(PING, 0, 0, payload)
        while True:
            try:
                f = self.read_frame()
            except Closed:
                raise Failure("connection closed (%s)" % " ".join(self.log))
            if f is None:
                raise Failure("PING not answered (got %s)" % " ".join(self.log))
            if f[0] == GOAWAY:
                raise Failure("GOAWAY %s" % code_name(struct.unpack(">I", f[3][4:8])[0]))
            if f[0] == PING and f[1] & ACK and f[3] == payload:
                return

    def expect_response(self, sid, want_body=True):
        """Reads the response on sid up to END_STREAM. @return (status, fields, body)."""
        status, fields, body = None, [], b""
        while True:
            try:
                f = self.read_frame()
            except Closed:
                raise Failure("connection closed before the response (%s)" % " ".join(self.log))
            if f is None:
                raise Failure("no complete response on stream %d (got %s)" % (
                    sid, " ".join(self.log) or "nothing"))
            t, flags, s, p = f
            if t == GOAWAY:
                raise Failure("GOAWAY %s instead of a response" %
                              code_name(struct.unpack(">I", p[4:8])[0]))
            if s != sid:
                continue
            if t == RST_STREAM:
                raise Failure("RST_STREAM %s instead of a response" %
                              code_name(struct.unpack(">I", p)[0]))
            if t in (HEADERS, CONTINUATION):
                if t == HEADERS:
                    p = strip_padding(flags, p)
                    if flags & PRIO:
                        p = p[5:]
                for k, v in self.dec.decode(p):
                    if k == ":status" and status is None:
                        status = int(v)
                    fields.append((k, v))
            elif t == DATA:
                p = strip_padding(flags, p)
                body += p
                if p:
                    self.send_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(p)))
                    self.send_frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", len(p)))
            if flags & END_STREAM and t in (HEADERS, DATA):
                return status, fields, body

    def expect_frame(self, ftype, sid=None, timeout=WAIT):
        while True:
            try:
                f = self.read_frame(timeout)
            except Closed:
                raise Failure("connection closed, want %s (%s)" % (
                    frame_name(ftype), " ".join(self.log)))
            if f is None:
                raise Failure("no %s (got %s)" % (frame_name(ftype), " ".join(self.log)))
            if f[0] == GOAWAY and ftype != GOAWAY:
                raise Failure("GOAWAY %s, want %s" % (
                    code_name(struct.unpack(">I", f[3][4:8])[0]), frame_name(ftype)))
            if f[0] == ftype and (sid is None or f[2] == sid):
                return f


def strip_padding(flags, p):
    if flags & PADDED:
        pad = p[0]
        return p[1:len(p) - pad]
    return p


def settings(*pairs):
    return b"".join(struct.pack(">HI", k, v) for k, v in pairs)


def u32(v):
    return struct.pack(">I", v)


def prio(dep, weight=16, exclusive=False):
    return struct.pack(">IB", dep | (0x80000000 if exclusive else 0), weight - 1)


# ---- the cases -------------------------------------------------------------------------

CASES = []


def case(section, desc):
    def reg(fn):
        CASES.append((section, desc, fn))
        return fn
    return reg


# RFC 9113 §3.4 HTTP/2 connection preface

@case("3.4", "a client preface is answered with the server's SETTINGS first")
def _(c):
    c.handshake()


@case("3.4", "an invalid preface ends the connection (GOAWAY PROTOCOL_ERROR on h2 over TLS)")
def _(c):
    c.send(b"INVALID CONNECTION PREFACE\r\n\r\n")
    if c.args.tls:
        c.expect_conn_error(PROTOCOL_ERROR)
    else:
        # Cleartext: not HTTP/2 at all, so HTTP/1.1 answers (400) and closes.
        c.expect_closed()


@case("3.4", "a broken 'PRI * HTTP/2.0' preface gets GOAWAY PROTOCOL_ERROR, not HTTP/1.1 400")
def _(c):
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    c.expect_conn_error(PROTOCOL_ERROR)


@case("3.4", "the preface followed by a frame other than SETTINGS: PROTOCOL_ERROR")
def _(c):
    c.send(PREFACE + frame(PING, 0, 0, b"12345678"))
    c.expect_conn_error(PROTOCOL_ERROR)


# §4.1 Frame format

@case("4.1", "a frame of unknown type is ignored")
def _(c):
    c.handshake()
    c.send_frame(0x16, 0, 0, b"unknown")
    c.expect_alive()


@case("4.1", "undefined flags are ignored")
def _(c):
    c.handshake()
    c.send_frame(PING, 0x16, 0, b"flags!!!")
    f = c.expect_frame(PING)
    if not f[1] & ACK or f[3] != b"flags!!!":
        raise Failure("PING answer flags 0x%x payload %r" % (f[1], f[3]))


@case("4.1", "the reserved bit of the stream identifier is ignored")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 0x80000001, c.block(c.request_fields()))
    st, _, _ = c.expect_response(1)
    if st is None:
        raise Failure("no :status")


# §4.2 Frame size

@case("4.2", "a DATA frame of 2^14 octets is accepted")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("content-length", "16384")])
    c.send_frame(DATA, END_STREAM, 1, b"x" * 16384)
    c.expect_response(1)


@case("4.2", "a DATA frame over SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, END_STREAM, 1, b"x" * 16385)
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("4.2", "a HEADERS frame over SETTINGS_MAX_FRAME_SIZE: connection error FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    fields = c.request_fields(extra=[("x-big%d" % i, "v" * 1000) for i in range(17)])
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, c.block(fields, huffman=False))
    c.expect_conn_error(FRAME_SIZE_ERROR)


# §4.3 Field section compression and decompression

@case("4.3", "an undecodable field block: COMPRESSION_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\xff\xff\xff\xff\xff\xff\x7f")
    c.expect_conn_error(COMPRESSION_ERROR)


@case("4.3", "PRIORITY in the middle of a field block: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM, 1, c.block(c.request_fields()))
    c.send_frame(PRIORITY, 0, 1, prio(0))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("4.3", "HEADERS of another stream in the middle of a field block: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM, 1, c.block(c.request_fields()))
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 3, c.block(c.request_fields()))
    c.expect_conn_error(PROTOCOL_ERROR)


# §5.1 Stream states

@case("5.1", "idle: DATA is a connection error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1", "idle: RST_STREAM is a connection error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1", "idle: WINDOW_UPDATE is a connection error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(100))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1", "idle: CONTINUATION is a connection error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block(c.request_fields()))
    c.expect_conn_error(PROTOCOL_ERROR)


def half_closed(c):
    """Stream 1 half-closed (remote) for as long as the case needs: the server may not send
    DATA (initial window 0), so its response cannot complete."""
    c.handshake(settings((4, 0)))
    c.headers(1)


@case("5.1", "half-closed (remote): DATA is a stream error STREAM_CLOSED")
def _(c):
    half_closed(c)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_stream_error(1, STREAM_CLOSED, conn_ok=True)


@case("5.1", "half-closed (remote): HEADERS is a stream error STREAM_CLOSED")
def _(c):
    half_closed(c)
    c.headers(1)
    c.expect_stream_error(1, STREAM_CLOSED, conn_ok=True)


@case("5.1", "half-closed (remote): CONTINUATION is a connection error PROTOCOL_ERROR (§6.10)")
def _(c):
    half_closed(c)
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block(c.request_fields()))
    c.expect_conn_error(PROTOCOL_ERROR)


def client_reset(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))


@case("5.1", "closed by the client's RST_STREAM: DATA is a stream error STREAM_CLOSED")
def _(c):
    client_reset(c)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_stream_error(1, STREAM_CLOSED)


@case("5.1", "closed by the client's RST_STREAM: HEADERS is a stream error STREAM_CLOSED")
def _(c):
    client_reset(c)
    c.headers(1)
    c.expect_stream_error(1, STREAM_CLOSED)


@case("5.1", "closed by the client's RST_STREAM: CONTINUATION is a connection error PROTOCOL_ERROR")
def _(c):
    client_reset(c)
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block([("x-dummy", "1")]))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1", "closed by the client's RST_STREAM, later: DATA is still a stream error STREAM_CLOSED")
def _(c):
    client_reset(c)
    c.expect_alive()
    time.sleep(0.2)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_stream_error(1, STREAM_CLOSED)


def closed_stream(c):
    c.handshake()
    c.headers(1)
    c.expect_response(1)


@case("5.1", "closed (both sides ended): DATA is a connection error STREAM_CLOSED")
def _(c):
    closed_stream(c)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_conn_error(STREAM_CLOSED)


@case("5.1", "closed (both sides ended): HEADERS is a connection error STREAM_CLOSED")
def _(c):
    closed_stream(c)
    c.headers(1)
    c.expect_conn_error(STREAM_CLOSED)


@case("5.1", "closed (both sides ended): CONTINUATION is a connection error PROTOCOL_ERROR")
def _(c):
    closed_stream(c)
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block([("x-dummy", "1")]))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1", "closed (both sides ended), later, with other streams served: DATA is STREAM_CLOSED")
def _(c):
    closed_stream(c)
    for sid in (3, 5, 7):
        c.headers(sid)
        c.expect_response(sid)
    time.sleep(0.2)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_conn_error(STREAM_CLOSED)


@case("5.1", "closed (both sides ended): WINDOW_UPDATE and RST_STREAM are ignored")
def _(c):
    closed_stream(c)
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(100))
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))
    c.expect_alive()


@case("5.1", "closed: PRIORITY is accepted")
def _(c):
    closed_stream(c)
    c.send_frame(PRIORITY, 0, 1, prio(0))
    c.expect_alive()


# §5.1.1 Stream identifiers

@case("5.1.1", "an even stream identifier: connection error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(2)
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1.1", "a new stream identifier smaller than a previous one: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(5)
    c.headers(3)
    c.expect_conn_error(PROTOCOL_ERROR)


@case("5.1.1", "a smaller new stream identifier after the larger stream ended: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(5)
    c.expect_response(5)
    time.sleep(0.1)
    c.headers(3)
    c.expect_conn_error(PROTOCOL_ERROR)


# §5.1.2 Stream concurrency

@case("5.1.2", "more streams than SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM")
def _(c):
    c.handshake()
    limit = c.server_settings.get(3)
    if limit is None or limit > 256:
        raise Failure("no usable SETTINGS_MAX_CONCURRENT_STREAMS (%r)" % limit)
    for i in range(limit + 1):
        c.headers(1 + 2 * i, method="POST", end_stream=False)
    c.expect_stream_error(1 + 2 * limit, REFUSED_STREAM, PROTOCOL_ERROR, conn_ok=True)


# §5.3.1 Stream dependencies

@case("5.3.1", "HEADERS depending on its own stream: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS | PRIO, 1,
                 prio(1) + c.block(c.request_fields()))
    c.expect_stream_error(1, PROTOCOL_ERROR, conn_ok=True)


@case("5.3.1", "PRIORITY making an open stream depend on itself: stream error PROTOCOL_ERROR")
def _(c):
    half_closed(c)
    c.send_frame(PRIORITY, 0, 1, prio(1))
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("5.3.1", "PRIORITY making an idle stream depend on itself: PROTOCOL_ERROR (no RST_STREAM "
      "may go to an idle stream)")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 1, prio(1))
    c.expect_conn_error(PROTOCOL_ERROR)


# §5.4.1 Connection error handling

@case("5.4.1", "a connection error (bad PING) ends the TCP connection")
def _(c):
    c.handshake()
    c.send_frame(PING, 0, 0, b"123456")
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("5.4.1", "a connection error sends GOAWAY first, with the last stream processed")
def _(c):
    c.handshake()
    c.headers(1)
    c.expect_response(1)
    c.send_frame(PING, 0, 3, b"12345678")
    while True:
        f = c.expect_frame(GOAWAY)
        last, code = struct.unpack(">II", f[3][:8])
        if code != PROTOCOL_ERROR or last != 1:
            raise Failure("GOAWAY last stream %d code %s, want 1 PROTOCOL_ERROR" % (
                last, code_name(code)))
        return


# §5.5 Extending HTTP/2

@case("5.5", "an unknown extension frame is ignored")
def _(c):
    c.handshake()
    c.send_frame(0xff, 0, 0, b"extension")
    c.expect_alive()


@case("5.5", "an unknown extension frame inside a field block: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM, 1, c.block(c.request_fields()))
    c.send_frame(0xff, 0, 0, b"extension")
    c.expect_conn_error(PROTOCOL_ERROR)


# §6.1 DATA

@case("6.1", "DATA on stream 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(DATA, END_STREAM, 0, b"test")
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.1", "DATA on a stream not open or half-closed (local): STREAM_CLOSED")
def _(c):
    half_closed(c)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_stream_error(1, STREAM_CLOSED, conn_ok=True)


@case("6.1", "DATA with a pad length not less than the payload: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, END_STREAM | PADDED, 1, b"\x06test")
    c.expect_conn_error(PROTOCOL_ERROR)


# §6.2 HEADERS

@case("6.2", "HEADERS without END_HEADERS followed by PRIORITY: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM, 1, c.block(c.request_fields()))
    c.send_frame(PRIORITY, 0, 3, prio(0))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2", "HEADERS for another stream during a field block: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM, 1, c.block(c.request_fields()))
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 3, c.block(c.request_fields()))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2", "HEADERS on stream 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(0)
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.2", "HEADERS with a pad length not less than the payload: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([len(b) + 1]) + b)
    c.expect_conn_error(PROTOCOL_ERROR)


# §6.3 PRIORITY

@case("6.3", "PRIORITY on stream 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 0, prio(1))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.3", "PRIORITY with a length other than 5: stream error FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 1, prio(0) + b"\0")
    c.expect_stream_error(1, FRAME_SIZE_ERROR, conn_ok=True)


# §6.4 RST_STREAM

@case("6.4", "RST_STREAM on stream 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(RST_STREAM, 0, 0, u32(CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.4", "RST_STREAM on an idle stream: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.4", "RST_STREAM with a length other than 4: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL) + b"\0")
    c.expect_conn_error(FRAME_SIZE_ERROR)


# §6.5 SETTINGS

@case("6.5", "SETTINGS with ACK and a payload: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, ACK, 0, settings((4, 100)))
    c.expect_conn_error(FRAME_SIZE_ERROR)


@case("6.5", "SETTINGS on a stream other than 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 1, settings((4, 100)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5", "SETTINGS whose length is not a multiple of 6: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((4, 100))[:5])
    c.expect_conn_error(FRAME_SIZE_ERROR)


# §6.5.2 Defined settings

@case("6.5.2", "SETTINGS_ENABLE_PUSH other than 0 or 1: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((2, 2)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2", "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1: FLOW_CONTROL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((4, 2 ** 31)))
    c.expect_conn_error(FLOW_CONTROL_ERROR)


@case("6.5.2", "SETTINGS_MAX_FRAME_SIZE below 16384: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((5, 16383)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2", "SETTINGS_MAX_FRAME_SIZE above 2^24-1: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((5, 2 ** 24)))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.5.2", "an unknown setting is ignored (and acknowledged)")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((0xff, 1)))
    f = c.expect_frame(SETTINGS)
    if not f[1] & ACK:
        raise Failure("SETTINGS without ACK")
    c.expect_alive()


@case("6.5.2", "SETTINGS_ENABLE_CONNECT_PROTOCOL other than 0 or 1: PROTOCOL_ERROR (RFC 8441)")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((8, 2)))
    c.expect_conn_error(PROTOCOL_ERROR)


# §6.5.3 Settings synchronization

@case("6.5.3", "several SETTINGS_INITIAL_WINDOW_SIZE values apply in order (the last wins)")
def _(c):
    c.handshake(settings((4, 100), (4, 1)))
    c.headers(1)
    f = c.expect_frame(DATA, 1)
    if len(strip_padding(f[1], f[3])) != 1:
        raise Failure("DATA of %d bytes with a window of 1" % len(f[3]))


@case("6.5.3", "SETTINGS without ACK is acknowledged at once")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((4, 65535)))
    f = c.expect_frame(SETTINGS)
    if not f[1] & ACK or f[3]:
        raise Failure("want an empty SETTINGS ACK")


# §6.7 PING

@case("6.7", "PING is answered with ACK and the same payload")
def _(c):
    c.handshake()
    c.send_frame(PING, 0, 0, b"h2spec\0\1")
    f = c.expect_frame(PING)
    if not f[1] & ACK or f[3] != b"h2spec\0\1":
        raise Failure("PING answer flags 0x%x payload %r" % (f[1], f[3]))


@case("6.7", "a PING with ACK is not answered")
def _(c):
    c.handshake()
    c.send_frame(PING, ACK, 0, b"unsolici")
    c.send_frame(PING, 0, 0, b"expected")
    f = c.expect_frame(PING)
    if f[3] != b"expected":
        raise Failure("answered the PING ACK (%r)" % f[3])


@case("6.7", "PING on a stream other than 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(PING, 0, 1, b"12345678")
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.7", "PING with a length other than 8: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.send_frame(PING, 0, 0, b"123456")
    c.expect_conn_error(FRAME_SIZE_ERROR)


# §6.8 GOAWAY

@case("6.8", "GOAWAY on a stream other than 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(GOAWAY, 0, 1, u32(0) + u32(NO_ERROR))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.8", "after the client's GOAWAY, its open stream is still answered")
def _(c):
    c.handshake()
    c.headers(1)
    c.send_frame(GOAWAY, 0, 0, u32(0) + u32(NO_ERROR))
    c.expect_response(1)


# §6.9 WINDOW_UPDATE

@case("6.9", "WINDOW_UPDATE of 0 on the connection: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(WINDOW_UPDATE, 0, 0, u32(0))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.9", "WINDOW_UPDATE of 0 on a stream: stream error PROTOCOL_ERROR")
def _(c):
    half_closed(c)
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(0))
    c.expect_stream_error(1, PROTOCOL_ERROR, conn_ok=True)


@case("6.9", "WINDOW_UPDATE with a length other than 4: FRAME_SIZE_ERROR")
def _(c):
    c.handshake()
    c.send_frame(WINDOW_UPDATE, 0, 0, u32(100) + b"\0")
    c.expect_conn_error(FRAME_SIZE_ERROR)


# §6.9.1 The flow-control window

@case("6.9.1", "with an initial window of 1, DATA frames carry 1 octet")
def _(c):
    c.handshake(settings((4, 1)))
    c.headers(1)
    f = c.expect_frame(DATA, 1)
    if len(strip_padding(f[1], f[3])) != 1:
        raise Failure("DATA of %d bytes with a window of 1" % len(f[3]))


@case("6.9.1", "the connection window pushed over 2^31-1: FLOW_CONTROL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1))
    c.send_frame(WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1))
    c.expect_conn_error(FLOW_CONTROL_ERROR)


@case("6.9.1", "a stream window pushed over 2^31-1: stream error FLOW_CONTROL_ERROR")
def _(c):
    half_closed(c)
    # One write: the first update alone lets the whole response out and end the stream.
    c.send(frame(WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1)) * 2)
    c.expect_stream_error(1, FLOW_CONTROL_ERROR)


# §6.9.2 Initial flow-control window size

@case("6.9.2", "a new SETTINGS_INITIAL_WINDOW_SIZE applies to open streams")
def _(c):
    half_closed(c)
    c.send_frame(SETTINGS, 0, 0, settings((4, 1)))
    f = c.expect_frame(DATA, 1)
    if len(strip_padding(f[1], f[3])) != 1:
        raise Failure("DATA of %d bytes with a window of 1" % len(f[3]))


@case("6.9.2", "a SETTINGS change can make a stream window negative")
def _(c):
    c.handshake(settings((4, 5)))
    c.headers(1)
    got = 0
    while got < 5:
        f = c.expect_frame(DATA, 1)
        got += len(strip_padding(f[1], f[3]))
    c.send_frame(SETTINGS, 0, 0, settings((4, 3)))  # window 3 - 5 = -2
    c.expect_frame(SETTINGS)
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(3))  # -2 + 3 = 1
    f = c.expect_frame(DATA, 1)
    if len(strip_padding(f[1], f[3])) != 1:
        raise Failure("DATA of %d bytes with a window of 1" % len(f[3]))


@case("6.9.2", "SETTINGS_INITIAL_WINDOW_SIZE of 2^31: FLOW_CONTROL_ERROR")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((4, 2 ** 31)))
    c.expect_conn_error(FLOW_CONTROL_ERROR)


# §6.10 CONTINUATION

@case("6.10", "several CONTINUATION frames after HEADERS are accepted")
def _(c):
    c.handshake()
    b = c.block(c.request_fields(extra=[("x-dummy%d" % i, "v" * 20) for i in range(5)]))
    n = len(b) // 3
    c.send_frame(HEADERS, END_STREAM, 1, b[:n])
    c.send_frame(CONTINUATION, 0, 1, b[n:2 * n])
    c.send_frame(CONTINUATION, END_HEADERS, 1, b[2 * n:])
    c.expect_response(1)


@case("6.10", "a CONTINUATION followed by a frame other than CONTINUATION: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM, 1, b[:4])
    c.send_frame(CONTINUATION, 0, 1, b[4:])
    c.send_frame(DATA, 0, 1, b"x")
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10", "CONTINUATION on stream 0: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM, 1, b[:4])
    c.send_frame(CONTINUATION, END_HEADERS, 0, b[4:])
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10", "CONTINUATION after HEADERS with END_HEADERS: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1)
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block([("x-dummy", "1")]))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10", "CONTINUATION after CONTINUATION with END_HEADERS: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM, 1, b[:4])
    c.send_frame(CONTINUATION, END_HEADERS, 1, b[4:])
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block([("x-dummy", "1")]))
    c.expect_conn_error(PROTOCOL_ERROR)


@case("6.10", "CONTINUATION after DATA: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, 0, 1, b"x")
    c.send_frame(CONTINUATION, END_HEADERS, 1, c.block([("x-dummy", "1")]))
    c.expect_conn_error(PROTOCOL_ERROR)


# §7 Error codes

@case("7", "GOAWAY with an unknown error code: nothing special (PING still answered)")
def _(c):
    c.handshake()
    c.send_frame(GOAWAY, 0, 0, u32(0) + u32(0xff))
    c.send_frame(PING, 0, 0, b"afteraway")
    try:
        f = c.expect_frame(PING)
    except Failure:
        c.expect_closed()  # a graceful close once no stream is left is fine too
        return
    if f[3] != b"afteraway"[:8] and f[3] != b"afterawa":
        raise Failure("PING payload %r" % f[3])


@case("7", "RST_STREAM with an unknown error code: nothing special")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(RST_STREAM, 0, 1, u32(0xff))
    c.expect_alive()


# §8.1 HTTP message framing

@case("8.1", "a second HEADERS without END_STREAM (not trailers): stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(HEADERS, END_HEADERS, 1, c.block([("x-trailer", "1")]))
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.1.1 Malformed messages

@case("8.1.1", "content-length larger than the DATA: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("content-length", "1")])
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.1.1", "content-length different from the sum of DATA frames: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("content-length", "8")])
    c.send_frame(DATA, 0, 1, b"test")
    c.send_frame(DATA, END_STREAM, 1, b"x")
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.2.1 Field validity

@case("8.2.1", "an upper-case field name: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("X-TEST", "ok")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.2.1", "a field value with a leading space: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("x-test", " ok")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.2.1", "a field value with CR LF: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("x-test", "a\r\nx-injected: 1")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.2.2 Connection-specific fields

@case("8.2.2", "a connection-specific field: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("connection", "keep-alive")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.2.2", "TE other than 'trailers': stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("te", "trailers, deflate")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.3 HTTP control data

@case("8.3", "an unknown pseudo-header: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[(":test", "ok")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.3", "a response pseudo-header in a request: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[(":status", "200")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.3", "a pseudo-header in trailers: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, 0, 1, b"test")
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, c.block([(":method", "GET")]))
    c.expect_stream_error(1, PROTOCOL_ERROR)


@case("8.3", "a pseudo-header after a regular field: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    f = c.request_fields()
    c.headers(1, fields=f[:3] + [("x-test", "ok")] + f[3:])
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.3.1 Request pseudo-header fields

@case("8.3.1", "an empty :path: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, path="")
    c.expect_stream_error(1, PROTOCOL_ERROR)


for _name in (":method", ":scheme", ":path"):
    def _omit(c, name=_name):
        c.handshake()
        c.headers(1, fields=[f for f in c.request_fields() if f[0] != name])
        c.expect_stream_error(1, PROTOCOL_ERROR)
    case("8.3.1", "no %s: stream error PROTOCOL_ERROR" % _name)(_omit)

    def _dup(c, name=_name):
        c.handshake()
        f = c.request_fields()
        c.headers(1, fields=f[:3] + [x for x in f if x[0] == name] + f[3:])
        c.expect_stream_error(1, PROTOCOL_ERROR)
    case("8.3.1", "a duplicated %s: stream error PROTOCOL_ERROR" % _name)(_dup)


@case("8.3.1", ":authority and Host that differ: stream error PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1, extra=[("host", "other.example")])
    c.expect_stream_error(1, PROTOCOL_ERROR)


# §8.4 Server push

@case("8.4", "PUSH_PROMISE from a client: PROTOCOL_ERROR")
def _(c):
    c.handshake()
    c.headers(1)
    c.send_frame(PUSH_PROMISE, END_HEADERS, 1, u32(2) + c.block(c.request_fields()))
    c.expect_conn_error(PROTOCOL_ERROR)


# RFC 7541 (HPACK) decoding errors: connection error COMPRESSION_ERROR (RFC 9113 §4.3)

def hpack_error(c, block):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    c.expect_conn_error(COMPRESSION_ERROR)


def static_request_prefix(c):
    # :method GET, :scheme http(s), :path / and :authority from the static table
    return bytes([0x82, 0x87 if c.args.tls else 0x86, 0x84, 0x41, 9]) + b"localhost"


@case("RFC 7541 2.3.3", "an indexed field with an index beyond both tables: COMPRESSION_ERROR")
def _(c):
    hpack_error(c, static_request_prefix(c) + integer(62 + 10, 7, 0x80))


@case("RFC 7541 2.3.3", "a literal field whose name index is beyond both tables: COMPRESSION_ERROR")
def _(c):
    hpack_error(c, static_request_prefix(c) + integer(62 + 10, 6, 0x40) + string_literal("a", False))


@case("RFC 7541 4.2", "a dynamic table size update at the end of a field block: COMPRESSION_ERROR")
def _(c):
    hpack_error(c, static_request_prefix(c) + integer(1, 5, 0x20))


@case("RFC 7541 5.2", "Huffman padding longer than 7 bits: COMPRESSION_ERROR")
def _(c):
    bits = huffman_bits(b"h2conf")
    hpack_error(c, static_request_prefix(c) + bad_huffman_field(bits + "1" * (-len(bits) % 8 + 8)))


@case("RFC 7541 5.2", "Huffman padding that is not the EOS prefix (zeros): COMPRESSION_ERROR")
def _(c):
    bits = huffman_bits(b"h2conf")
    assert len(bits) % 8
    hpack_error(c, static_request_prefix(c) + bad_huffman_field(bits + "0" * (-len(bits) % 8)))


@case("RFC 7541 5.2", "a Huffman string containing EOS: COMPRESSION_ERROR")
def _(c):
    bits = huffman_bits(b"a") + "1" * 30 + huffman_bits(b"b")
    hpack_error(c, static_request_prefix(c) + bad_huffman_field(bits + "1" * (-len(bits) % 8)))


@case("RFC 7541 6.1", "an indexed field with index 0: COMPRESSION_ERROR")
def _(c):
    hpack_error(c, static_request_prefix(c) + b"\x80")


@case("RFC 7541 6.3", "a table size update above SETTINGS_HEADER_TABLE_SIZE: COMPRESSION_ERROR")
def _(c):
    table = c.server_settings.get(1, 4096)
    hpack_error(c, integer(table + 1, 5, 0x20) + static_request_prefix(c))


# What h2spec calls "generic": ordinary frames that must simply work.

@case("5.1", "PRIORITY on an idle stream is accepted")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 1, prio(0))
    c.expect_alive()
    c.headers(1)
    c.expect_response(1)


@case("5.1", "WINDOW_UPDATE on a half-closed (remote) stream is accepted")
def _(c):
    half_closed(c)
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(1000))
    c.expect_response(1)


@case("5.1", "PRIORITY on a half-closed (remote) stream is accepted")
def _(c):
    half_closed(c)
    c.send_frame(PRIORITY, 0, 1, prio(0))
    c.expect_alive()


@case("5.1", "RST_STREAM on a half-closed (remote) stream is accepted")
def _(c):
    half_closed(c)
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))
    c.expect_alive()


@case("6.10", "one CONTINUATION frame completes a field block")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM, 1, b[:5])
    c.send_frame(CONTINUATION, END_HEADERS, 1, b[5:])
    c.expect_response(1)


@case("6.1", "a request with one DATA frame")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, END_STREAM, 1, b"test")
    c.expect_response(1)


@case("6.1", "a request with several DATA frames")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(DATA, 0, 1, b"te")
    c.send_frame(DATA, 0, 1, b"")
    c.send_frame(DATA, END_STREAM, 1, b"st")
    c.expect_response(1)


@case("6.1", "a padded DATA frame")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("content-length", "4")])
    c.send_frame(DATA, END_STREAM | PADDED, 1, b"\x08test" + b"\0" * 8)
    c.expect_response(1)


@case("6.2", "a HEADERS frame")
def _(c):
    c.handshake()
    c.headers(1)
    st, _, _ = c.expect_response(1)
    if st != 200:
        raise Failure("status %s" % st)


@case("6.2", "a padded HEADERS frame")
def _(c):
    c.handshake()
    b = c.block(c.request_fields())
    c.send_frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, b"\x05" + b + b"\0" * 5)
    c.expect_response(1)


@case("6.2", "a HEADERS frame with priority")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS | PRIO, 1,
                 prio(0, 200, True) + c.block(c.request_fields()))
    c.expect_response(1)


@case("6.3", "PRIORITY with weight 1")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 1, prio(0, 1))
    c.expect_alive()


@case("6.3", "PRIORITY with weight 256")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 1, prio(0, 256))
    c.expect_alive()


@case("6.3", "PRIORITY with a dependency")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 3, prio(1))
    c.expect_alive()


@case("6.3", "PRIORITY with the exclusive flag")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 3, prio(1, 16, True))
    c.expect_alive()


@case("6.3", "PRIORITY for an idle stream, then HEADERS for a lower stream id")
def _(c):
    c.handshake()
    c.send_frame(PRIORITY, 0, 5, prio(0))
    c.headers(3)
    c.expect_response(3)


@case("6.4", "RST_STREAM on an open stream")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(RST_STREAM, 0, 1, u32(CANCEL))
    c.expect_alive()


@case("6.5", "SETTINGS with values")
def _(c):
    c.handshake()
    c.send_frame(SETTINGS, 0, 0, settings((1, 4096), (3, 100), (4, 65535), (5, 16384), (6, 8192)))
    f = c.expect_frame(SETTINGS)
    if not f[1] & ACK:
        raise Failure("no SETTINGS ACK")


@case("6.8", "a GOAWAY frame from the client")
def _(c):
    c.handshake()
    c.send_frame(GOAWAY, 0, 0, u32(0) + u32(NO_ERROR))
    try:
        c.expect_alive()
    except Failure:
        c.expect_closed()


@case("6.9", "WINDOW_UPDATE on the connection")
def _(c):
    c.handshake()
    c.send_frame(WINDOW_UPDATE, 0, 0, u32(1))
    c.expect_alive()


@case("6.9", "WINDOW_UPDATE on an open stream")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False)
    c.send_frame(WINDOW_UPDATE, 0, 1, u32(1))
    c.expect_alive()


@case("8.1", "a GET request")
def _(c):
    c.handshake()
    c.headers(1)
    st, _, body = c.expect_response(1)
    if st != 200 or not body:
        raise Failure("status %s, %d body bytes" % (st, len(body)))


@case("8.1", "a HEAD request: headers only")
def _(c):
    c.handshake()
    c.headers(1, method="HEAD")
    st, _, body = c.expect_response(1)
    if st != 200 or body:
        raise Failure("status %s, %d body bytes" % (st, len(body)))


@case("8.1", "a POST request")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("content-length", "4")])
    c.send_frame(DATA, END_STREAM, 1, b"test")
    st, _, _ = c.expect_response(1)
    if st != 200:
        raise Failure("status %s" % st)


@case("8.1", "a POST request with trailers")
def _(c):
    c.handshake()
    c.headers(1, method="POST", end_stream=False, extra=[("te", "trailers")])
    c.send_frame(DATA, 0, 1, b"test")
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, c.block([("x-trailer", "yes")]))
    st, _, _ = c.expect_response(1)
    if st != 200:
        raise Failure("status %s" % st)


def hpack_ok(c, tail):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, static_request_prefix(c) + tail)
    st, _, _ = c.expect_response(1)
    if st is None:
        raise Failure("no status")


def huffman_bits(text):
    """The Huffman code of text (RFC 7541 Appendix B) as a string of '0' and '1'."""
    return "".join(format(REQUEST_CODES[b], "0%db" % REQUEST_CODES_LENGTH[b]) for b in text)


def bits_to_bytes(bits):
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def string_literal(text, huffman):
    """An RFC 7541 §5.2 string literal (lengths below 127)."""
    b = text.encode()
    if huffman:
        bits = huffman_bits(b)
        bits += "1" * (-len(bits) % 8)
        b = bits_to_bytes(bits)
        return bytes([0x80 | len(b)]) + b
    return bytes([len(b)]) + b


def bad_huffman_field(bits):
    """A literal field (new name x-test, not indexed) whose value is the given bits."""
    value = bits_to_bytes(bits)
    return b"\x00" + string_literal("x-test", False) + bytes([0x80 | len(value)]) + value


def integer(value, prefix_bits, first):
    """An RFC 7541 §5.1 integer with the given prefix, or-ed into first."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append(0x80 | (value & 0x7f))
        value >>= 7
    return bytes(out + [value])


_REPR = [("with incremental indexing", 0x40, 6), ("without indexing", 0x00, 4),
         ("never indexed", 0x10, 4)]


def _prefix_of(bits):
    return 6 if bits == 0x40 else 4


for _title, _bits, _prefix in _REPR:
    for _huff in (False, True):
        def _indexed_name(c, bits=_bits, huff=_huff):
            # name: static index 58 (user-agent)
            hpack_ok(c, integer(58, _prefix_of(bits), bits) + string_literal("h2conf", huff))
        case("RFC 7541 6.2", "a literal field %s, indexed name%s" % (
            _title, " (Huffman)" if _huff else ""))(_indexed_name)

        def _new_name(c, bits=_bits, huff=_huff):
            hpack_ok(c, bytes([bits]) + string_literal("x-h2conf", huff) +
                     string_literal("value", huff))
        case("RFC 7541 6.2", "a literal field %s, new name%s" % (
            _title, " (Huffman)" if _huff else ""))(_new_name)


@case("RFC 7541 6.1", "an indexed field (static table)")
def _(c):
    hpack_ok(c, b"\x90")  # accept-encoding: gzip, deflate


@case("RFC 7541 6.3", "a dynamic table size update")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, integer(2048, 5, 0x20) + static_request_prefix(c))
    c.expect_response(1)


@case("RFC 7541 6.3", "several dynamic table size updates")
def _(c):
    c.handshake()
    c.send_frame(HEADERS, END_STREAM | END_HEADERS, 1,
                 integer(0, 5, 0x20) + integer(4096, 5, 0x20) + static_request_prefix(c))
    c.expect_response(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--path", default="/")
    ap.add_argument("--case", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--stall", type=float, default=0,
                    help="no case: open a stream whose answer cannot flow (window 0) and "
                    "wait up to STALL seconds for the server to close; prints closed/open")
    args = ap.parse_args()
    if args.stall:
        c = Conn(args)
        half_closed(c)
        deadline = time.monotonic() + args.stall
        try:
            while time.monotonic() < deadline:
                c.read_frame(deadline - time.monotonic())
            print("open")
        except Closed:
            print("closed")
        return 0
    passed = failed = 0
    for section, desc, fn in CASES:
        name = "%s%s: %s" % ("" if section.startswith("RFC") else "RFC 9113 ", section, desc)
        if args.case not in name:
            continue
        if args.list:
            print(name)
            continue
        c = None
        try:
            c = Conn(args)
            fn(c)
            print("ok %s" % name)
            passed += 1
        except (Failure, Closed, OSError) as e:
            why = str(e) or type(e).__name__
            print("FAIL %s: %s" % (name, why))
            failed += 1
        finally:
            if c is not None:
                c.close()
        sys.stdout.flush()
    if not args.list:
        print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
