"""A TCP forwarder that holds every byte for a fixed time in each direction.

It gives an emulated remote link its round-trip time on a kernel without netem: run inside a
network namespace (tests/netns.py starts it), it listens there and forwards to this host over
the rate-limited veth pair. A chunk that arrives at t leaves at t + delay, in order, and the
chunks behind it are not held up by its wait, so the delay adds latency without cutting
throughput. A new connection also waits one round trip before its first byte leaves, as TCP's
handshake would make it.

    python tests/delay_line.py --delay-ms 15 LISTEN_IP:PORT=TARGET_IP:PORT ...

Prints one JSON line, ``{"listening": ["ip:port", ...]}`` once every listener is bound (or
``{"error": "..."}`` and exits), then closes its standard output and forwards until it is
terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence

CHUNK = 64 * 1024
# Bytes held per direction before reading pauses: the sender feels the link's back-pressure
# instead of filling this process's memory. Far above 20 Mbit/s x 15 ms (37.5 kB), so the
# hold itself never limits throughput.
HELD_LIMIT = 512 * 1024


async def together(*coroutines: Coroutine[object, object, None]) -> None:
    """Runs ``coroutines`` to their end; the first to fail cancels the others."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def carry(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, not_before: float
) -> None:
    """Copies ``reader`` to ``writer``: each chunk leaves ``delay`` after it arrived (and
    after ``not_before``); the end of the stream is passed on the same way."""
    loop = asyncio.get_running_loop()
    line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    room = asyncio.Condition()
    held = 0

    async def receive() -> None:
        nonlocal held
        while True:
            chunk = await reader.read(CHUNK)
            await line.put((max(loop.time(), not_before) + delay, chunk))
            if not chunk:
                return
            async with room:
                held += len(chunk)
                while held >= HELD_LIMIT:
                    await room.wait()

    async def send() -> None:
        nonlocal held
        while True:
            due, chunk = await line.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()
            async with room:
                held -= len(chunk)
                room.notify_all()

    await together(receive(), send())


async def connection(
    target: tuple[str, int],
    delay: float,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
) -> None:
    accepted = asyncio.get_running_loop().time()
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await together(
            carry(client_reader, upstream_writer, delay, accepted + 2 * delay),
            carry(upstream_reader, client_writer, delay, accepted),
        )
    except OSError:
        # A reset on either side ends the connection on both, as it would on a real link.
        pass
    finally:
        client_writer.close()
        upstream_writer.close()


def endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def report(message: dict[str, object]) -> None:
    """The one line the starting process waits for; nothing is written after it."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.close()


async def serve(routes: Sequence[str], delay: float) -> int:
    servers = []
    for route in routes:
        listen, _, target = route.partition("=")
        host, port = endpoint(listen)

        async def handle(
            reader: asyncio.StreamReader,
            writer: asyncio.StreamWriter,
            target: tuple[str, int] = endpoint(target),
        ) -> None:
            await connection(target, delay, reader, writer)

        try:
            servers.append(await asyncio.start_server(handle, host, port))
        except OSError as error:
            report({"error": f"cannot listen on {listen}: {error}"})
            return 1
    listening = [
        "{}:{}".format(*socket.getsockname()[:2]) for server in servers for socket in server.sockets
    ]
    report({"listening": listening})
    await asyncio.gather(*(server.serve_forever() for server in servers))
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    parser.add_argument("routes", nargs="+", help="LISTEN_IP:PORT=TARGET_IP:PORT")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.routes, args.delay_ms / 1000))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
