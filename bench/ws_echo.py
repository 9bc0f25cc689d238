"""Python websockets' echo server, the WebSocket benchmark's peer
(scripts/ws_bench.sh): every message sent back as it came. Prints
`listening on ws://127.0.0.1:PORT`. Run with Debian's /usr/bin/python3."""
import asyncio

import websockets


async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)


async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None) as srv:
        print(f"listening on ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()

asyncio.run(main())
