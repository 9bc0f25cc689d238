"""weft's WebSocket against Python's websockets (Debian's 10.4), both ways.

As a client, websockets talks to weft-httpbin's /ws/echo: text, binary,
empty and fragmented messages, a 2 MiB one, ping, close codes, many
clients at once; a raw socket then sends what websockets never would (an
unmasked frame, text that is not UTF-8) and reads the close code it earns.
As a server, websockets answers examples/ws_client: echo, a fragmented
message, its close code and reason, a ping, a subprotocol, and a message
over the client's limit (1009).

usage: ws_python.py BUILD_DIR     (run with Debian's /usr/bin/python3)
"""
import asyncio
import base64
import os
import socket
import struct
import subprocess
import sys

import websockets

BUILD = sys.argv[1]
failures = []


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + (f": {detail}" if detail and not cond else ""))
    if not cond:
        failures.append(what)


# ------------------------------------------------ websockets -> weft-httpbin

async def client_cases(url):
    async with websockets.connect(url, max_size=None) as ws:
        for msg in ["héllo", b"\x00\xff" * 10, "", b""]:
            await ws.send(msg)
            got = await ws.recv()
            check(f"echo {type(msg).__name__} {len(msg)}", got == msg, repr(got)[:60])
        await ws.send(["frag", "ment", "ed"])
        check("fragmented text joined", await ws.recv() == "fragmented")
        await ws.send([b"a" * 70000, b"b" * 3])
        got = await ws.recv()
        check("fragmented binary joined", got == b"a" * 70000 + b"b" * 3)
        big = os.urandom(2 * 1024 * 1024)
        await ws.send(big)
        check("2 MiB message", await ws.recv() == big)
        pong = await ws.ping(b"data")
        await asyncio.wait_for(pong, 5)
        check("ping answered", True)
        await ws.close(4000, "done here")
        check("close code echoed", ws.close_code == 4000, str(ws.close_code))

    async def one(i):
        async with websockets.connect(url) as ws:
            for j in range(20):
                await ws.send(f"{i}-{j}")
                if await ws.recv() != f"{i}-{j}":
                    return False
        return True
    results = await asyncio.gather(*(one(i) for i in range(50)))
    check("50 clients at once", all(results))


def raw_close_code(port, frame):
    """Sends a handshake and `frame`; returns the close code that comes back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    s.sendall(frame)
    while True:
        while len(buf) < 2:
            chunk = s.recv(4096)
            if not chunk:
                return None
            buf += chunk
        n = buf[1] & 0x7f
        while len(buf) < 2 + n:
            buf += s.recv(4096)
        if buf[0] & 0x0f == 8:
            s.close()
            return struct.unpack("!H", buf[2:4])[0] if n >= 2 else 1005
        buf = buf[2 + n:]


def masked(b0, payload):
    key = os.urandom(4)
    return bytes([b0, 0x80 | len(payload)]) + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def raw_cases(port):
    check("unmasked frame -> 1002", raw_close_code(port, bytes([0x81, 1]) + b"x") == 1002)
    check("invalid UTF-8 -> 1007", raw_close_code(port, masked(0x81, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")) == 1007)
    check("RSV2 -> 1002", raw_close_code(port, masked(0xa1, b"x")) == 1002)
    check("ping 126 bytes -> 1002", raw_close_code(port, bytes([0x89, 0xfe, 0, 126]) + b"\0" * 130) == 1002)
    check("close 1000 echoed", raw_close_code(port, masked(0x88, b"\x03\xe8")) == 1000)


# ------------------------------------------------ ws_client -> websockets

seen = {}


async def handler(ws, path=None):
    path = ws.path
    if path == "/echo":
        async for m in ws:
            await ws.send(m)
    elif path == "/frag":
        await ws.send(["ab", "cd", "ef"])
        await ws.wait_closed()
    elif path == "/close":
        await ws.recv()
        await ws.close(4001, "bye")
    elif path == "/ping":
        await asyncio.wait_for(await ws.ping(b"p"), 5)
        await ws.send("pong ok")
        await ws.wait_closed()
    elif path == "/big":
        try:
            await ws.send(b"x" * (2 * 1024 * 1024))
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
    seen[path] = ws.close_code


async def handled(path):
    """The handler's close code for path, once its handler has ended: the
    client may exit before the server's side of the closing handshake has
    run (its close frame sent, the handler not yet resumed)."""
    for _ in range(500):
        if path in seen:
            return seen.pop(path)
        await asyncio.sleep(0.01)
    return None


async def run_client(*args):
    p = await asyncio.create_subprocess_exec(f"{BUILD}/examples/ws_client", *args,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(p.communicate(), 15)
    return p.returncode, out.decode()


async def server_cases():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat"],
                                max_size=None) as srv:
        base = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        rc, out = await run_client(f"{base}/echo", "one", "twö", "")
        check("client echo", rc == 0 and out == "text 3: one\ntext 4: twö\ntext 0: \nclosed\n", out)
        code = await handled("/echo")
        check("client close seen as 1000", code == 1000, str(code))
        rc, out = await run_client("-n", "1", f"{base}/frag")
        check("client joins fragments", rc == 0 and out == "text 6: abcdef\nclosed\n", out)
        rc, out = await run_client("-n", "0", f"{base}/close", "x")
        check("client sees close 4001 bye", out == "close 4001 bye\n", out)
        rc, out = await run_client("-n", "1", f"{base}/ping")
        check("client answers ping", rc == 0 and out == "text 7: pong ok\nclosed\n", out)
        rc, out = await run_client("-p", "chat", f"{base}/echo", "x")
        check("client subprotocol", rc == 0 and out.startswith("protocol chat\n"), out)
        rc, out = await run_client("-n", "1", f"{base}/big")
        code = await handled("/big")
        check("client refuses 2 MiB with 1009", rc == 1 and code == 1009, f"{out} {code}")


async def main():
    hb = await asyncio.create_subprocess_exec(f"{BUILD}/apps/weft-httpbin/weft-httpbin", "--port", "0",
                                              stdout=subprocess.PIPE)
    line = (await asyncio.wait_for(hb.stdout.readline(), 10)).decode()
    port = int(line.rsplit(":", 1)[1])
    try:
        await client_cases(f"ws://127.0.0.1:{port}/ws/echo")
        await asyncio.get_running_loop().run_in_executor(None, raw_cases, port)
    finally:
        if hb.returncode is None:
            hb.terminate()
        rc = await hb.wait()
    check("weft-httpbin ran to the end and shut down cleanly", rc == 0, str(rc))
    await server_cases()


asyncio.run(main())
if failures:
    sys.exit(f"{len(failures)} failed: {', '.join(failures)}")
