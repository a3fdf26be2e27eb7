#!/usr/bin/python3
"""ws_peer.py - WebSocket and raw-upgrade peers for test_upgrade.sh (Debian's
python3-websockets and python3-h2, no network beyond 127.0.0.1).

  ws_peer.py ws-server PORT          WebSocket echo server (websockets): echoes every
                                     message; "close:CODE" makes it close with CODE.
  ws_peer.py ws-client URL N         connects, sends N messages (text and binary, 1 B to
                                     64 KiB), checks each echo, then closes: prints
                                     "echo N", "closed CODE" ("status S" if the handshake
                                     got another answer; wss:// does not verify).
  ws_peer.py ws-server-close URL     asks the server to close (4001): prints "closed CODE".
  ws_peer.py count-server PORT       HTTP/1.1 server for "Upgrade: x-count": answers 101,
                                     reads until the client half-closes, then sends
                                     "count N" (bytes read) and closes. Paths with /pause:
                                     reads nothing for 1 s first, and after "count N"
                                     sends 16 MiB more. Paths with /first: sends "bye",
                                     half-closes, reads to EOF and prints "received N"
                                     on its stdout.
  ws_peer.py count-client PORT PATH N [pause]  upgrades to x-count, sends N bytes,
                                     half-closes, prints the status line, the first line
                                     that came back, "bytes M" (all of it) and "eof"
                                     (pause: reads nothing for 1 s after its half-close).
  ws_peer.py count-after PORT PATH N  upgrades to x-count, reads until EOF (prints the
                                     status line and what came), then sends N bytes.
  ws_peer.py count-idle PORT PATH    upgrades to x-count, sends nothing: prints the
                                     status line and "eof after MS".
  ws_peer.py linger-pair PORT PATH UPPORT  runs an x-count upstream on UPPORT that answers
                                     101 and "bye", half-closes and then reads nothing;
                                     upgrades through PORT, reads to EOF, then sends until
                                     waspd holds 128 KiB or more of it unsent (what went in
                                     less what the sockets' queues hold, as `ss` shows
                                     them) and closes: prints "held N" (bytes) and keeps
                                     the upstream's socket open until it is killed.
  ws_peer.py h2-ws-client PORT PATH N [tls]  WebSocket over HTTP/2 (RFC 8441 extended
                                     CONNECT; tls: over TLS with ALPN h2, not verified):
                                     sends N binary messages one at a time, checks each
                                     echo, closes; prints "settings connect-protocol=V",
                                     "status S", "echo N", "closed CODE", "stream ended".
"""
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import websockets


def sizes(n):
    return [1 + (i * 7919) % 65536 for i in range(n)]


def message(i, size):
    if i % 2 == 0:
        return ("%d:" % i + "x" * size)[:size].ljust(size, "y")
    return bytes((i + j) % 256 for j in range(size))


async def ws_server(port):
    async def echo(ws, path=None):
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("close:"):
                await ws.close(int(msg[6:]), "asked")
                return
            await ws.send(msg)

    async with websockets.serve(echo, "127.0.0.1", port, max_size=None):
        await asyncio.Future()


def tls_context(url):
    if not url.startswith("wss:"):
        return None
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def ws_client(url, n):
    try:
        ws = await websockets.connect(url, max_size=None, ssl=tls_context(url))
    except websockets.InvalidStatusCode as e:
        print("status %d" % e.status_code)
        return 0
    for i, size in enumerate(sizes(n)):
        msg = message(i, size)
        await ws.send(msg)
        got = await asyncio.wait_for(ws.recv(), 10)
        if got != msg:
            print("mismatch at %d" % i)
            return 1
    print("echo %d" % n)
    await ws.close(1000, "done")
    print("closed %s" % ws.close_code)
    return 0


async def ws_server_close(url):
    async with websockets.connect(url) as ws:
        await ws.send("close:4001")
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
        print("closed %s" % ws.close_code)
    return 0


async def count_server(port):
    async def conn(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        if b"upgrade: x-count" not in head.lower():
            writer.write(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                     b"Upgrade: x-count\r\n\r\n")
        await writer.drain()
        line = head.split(b"\r\n")[0]
        if b"/first" in line:
            # The upstream ends its side first; what the client sends after is still read.
            writer.write(b"bye\n")
            writer.write_eof()
            total = 0
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                total += len(chunk)
            print("received %d" % total, flush=True)
            writer.close()
            return
        pause = b"/pause" in line
        if pause:
            await asyncio.sleep(1)
        total = 0
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            total += len(chunk)
        writer.write(b"count %d\n" % total)
        if pause:
            block = b"z" * 65536
            for _ in range(256):
                writer.write(block)
                await writer.drain()
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(conn, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def count_upgrade(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x-count\r\n\r\n"
              % path.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    print(head.split(b"\r\n")[0].decode(), flush=True)
    return s, rest


def count_client(port, path, n, pause):
    s, rest = count_upgrade(port, path)
    rest = bytearray(rest)
    data = os.urandom(n)
    for i in range(0, n, 65536):
        s.sendall(data[i:i + 65536])
    s.shutdown(socket.SHUT_WR)
    if pause:
        time.sleep(1)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    print(rest.split(b"\n")[0].decode(errors="replace"))
    print("bytes %d" % len(rest))
    print("eof")
    return 0


def count_after(port, path, n):
    s, rest = count_upgrade(port, path)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    print(rest.decode(errors="replace"), end="")
    s.sendall(os.urandom(n))
    s.close()
    print("sent %d" % n)
    return 0


def count_idle(port, path):
    s, rest = count_upgrade(port, path)
    start = time.monotonic()
    while s.recv(65536):
        pass
    print("eof after %d" % ((time.monotonic() - start) * 1000))
    return 0


def socket_queues(ports):
    """Bytes in the kernel queues (Recv-Q + Send-Q) of the TCP connections with one end
    on 127.0.0.1 at one of ports, in any state (half-closed ones too)."""
    flt = " or ".join("sport = :%d or dport = :%d" % (p, p) for p in ports)
    out = subprocess.run(["ss", "-Htn", "( %s )" % flt], capture_output=True, text=True,
                         check=True).stdout
    total = 0
    for line in out.splitlines():
        f = line.split()  # state, Recv-Q, Send-Q, ...
        total += int(f[1]) + int(f[2])
    return total


def linger_pair(port, path, upport):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", upport))
    ls.listen(1)
    upstream = []

    def serve():
        u, _ = ls.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += u.recv(1)  # one byte at a time: nothing past the head is read
        u.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                  b"Upgrade: x-count\r\n\r\nbye\n")
        u.shutdown(socket.SHUT_WR)
        upstream.append(u)  # never read again, open until the process ends

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    s, rest = count_upgrade(port, path)
    while s.recv(65536):
        pass
    t.join(15)
    s.setblocking(False)
    sent = 0
    held = 0
    # Some 128 KiB that stay in waspd for half a second are not on their way; sending no
    # more than 16 KiB past that keeps waspd below its 256 KiB high-water mark, so that
    # it goes on reading the client and sees the close.
    while sent < 64 * 1024 * 1024:
        try:
            sent += s.send(b"q" * (65536 if held < 65536 else 16384))
        except BlockingIOError:
            pass
        time.sleep(0.02)
        held = sent - socket_queues([port, upport])
        while held >= 131072:
            time.sleep(0.5)
            settled = sent - socket_queues([port, upport])
            if settled == held:
                break
            held = settled
        if held >= 131072:
            break
    s.close()
    print("held %d" % held, flush=True)
    time.sleep(120)
    return 0


def h2_ws_client(port, path, n, tls):
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    from websockets.connection import Connection, Side

    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(s)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    ws = Connection(Side.CLIENT, max_size=None)
    want = sizes(n)
    sid = None
    sent = echoes = 0
    closed = None
    ended = False
    pending = bytearray()

    def flush():
        # WebSocket bytes go out as DATA as far as frame size and flow control allow.
        pending.extend(b"".join(ws.data_to_send()))
        while pending and sid is not None:
            room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            if room <= 0:
                break
            conn.send_data(sid, bytes(pending[:room]))
            del pending[:room]
        data = conn.data_to_send()
        if data:
            s.sendall(data)

    flush()
    while closed is None:
        data = s.recv(65536)
        if not data:
            print("eof")
            return 1
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged) and sid is None:
                v = conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0)
                print("settings connect-protocol=%d" % v)
                if not v:
                    return 1
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [
                    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                    (":path", path), (":authority", "127.0.0.1:%d" % port),
                    ("sec-websocket-version", "13")])
            elif isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status", b"?").decode()
                print("status %s" % status)
                if status != "200":
                    return 1
                ws.send_binary(message(1, want[0]))
                sent = 1
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                ws.receive_data(ev.data)
                for frame in ws.events_received():
                    if frame.opcode.name == "BINARY":
                        if frame.data != message(1, want[echoes]):
                            print("mismatch at %d" % echoes)
                            return 1
                        echoes += 1
                        if sent < n:
                            ws.send_binary(message(1, want[sent]))
                            sent += 1
                        else:
                            print("echo %d" % echoes)
                            ws.send_close(1000, "done")
                    elif frame.opcode.name == "CLOSE":
                        closed = int.from_bytes(frame.data[:2], "big")
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                print("reset")
                return 1
        flush()
    print("closed %s" % closed)
    # The server closed the WebSocket (and its TCP side): the stream ends both ways.
    conn.end_stream(sid)
    flush()
    while not ended:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.StreamReset):
                print("reset")
                return 1
        flush()
    print("stream ended" if ended else "eof")
    return 0


def main(argv):
    mode = argv[1]
    if mode == "ws-server":
        asyncio.run(ws_server(int(argv[2])))
    elif mode == "ws-client":
        return asyncio.run(ws_client(argv[2], int(argv[3])))
    elif mode == "ws-server-close":
        return asyncio.run(ws_server_close(argv[2]))
    elif mode == "count-server":
        asyncio.run(count_server(int(argv[2])))
    elif mode == "count-client":
        return count_client(int(argv[2]), argv[3], int(argv[4]), argv[5:] == ["pause"])
    elif mode == "count-after":
        return count_after(int(argv[2]), argv[3], int(argv[4]))
    elif mode == "count-idle":
        return count_idle(int(argv[2]), argv[3])
    elif mode == "linger-pair":
        return linger_pair(int(argv[2]), argv[3], int(argv[4]))
    elif mode == "h2-ws-client":
        return h2_ws_client(int(argv[2]), argv[3], int(argv[4]), argv[5:] == ["tls"])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
