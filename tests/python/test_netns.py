"""The emulated remote link of tests/netns.py is one: a process in the namespace pays the round
trip on every exchange and gets no more than the link's rate. Only lower bounds are asserted:
they hold whatever else runs on the machine."""

from __future__ import annotations

import json
import os
import select
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import netns  # noqa: E402

RATE_BITS = 20_000_000
RTT = 0.030
BULK = 2_500_000  # 1 s at 20 Mbit/s, before any header is counted

# Runs inside the namespace: times exchanges with the server through the link, prints JSON.
CLIENT = """
import json, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
address = (host, int(port))

def receive(sock, size):
    got = 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 16))
        if not chunk:
            raise SystemExit(f"the link closed after {got} of {size} bytes")
        got += len(chunk)

start = time.monotonic()
with socket.create_connection(address) as sock:
    sock.sendall(b"echo\\n")
    sock.sendall(b"x")
    receive(sock, 1)
    first = time.monotonic() - start
    rtts = []
    for _ in range(5):
        sent = time.monotonic()
        sock.sendall(b"x")
        receive(sock, 1)
        rtts.append(time.monotonic() - sent)
size = int(sys.argv[2])
with socket.create_connection(address) as sock:
    sent = time.monotonic()
    sock.sendall(b"get %d\\n" % size)
    receive(sock, size)
    download = time.monotonic() - sent
with socket.create_connection(address) as sock:
    sent = time.monotonic()
    sock.sendall(b"put %d\\n" % size + bytes(size))
    receive(sock, 3)
    upload = time.monotonic() - sent
print(json.dumps({"first": first, "rtts": rtts, "download": download, "upload": upload}))
"""


class Exchange(socketserver.StreamRequestHandler):
    """``echo``: sends back what it gets; ``get N``: sends N bytes; ``put N``: answers ``ok``
    once N bytes arrived."""

    def handle(self) -> None:
        command, _, size = self.rfile.readline().decode().strip().partition(" ")
        if command == "echo":
            while byte := self.rfile.read(1):
                self.wfile.write(byte)
                self.wfile.flush()
        elif command == "get":
            self.wfile.write(bytes(int(size)))
        elif command == "put":
            remaining = int(size)
            while remaining:
                remaining -= len(self.rfile.read(min(remaining, 1 << 16)))
            self.wfile.write(b"ok\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def link() -> Iterator[netns.EmulatedLink]:
    try:
        with netns.emulated_link(rate="20mbit", rtt_ms=RTT * 1000) as link:
            yield link
    except netns.NamespaceError as error:
        pytest.fail(f"the emulated link needs a network namespace: {error}")


@pytest.fixture(scope="module")
def server(link: netns.EmulatedLink) -> Iterator[int]:
    with Server((link.ns.host_ip, 0), Exchange) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[1]
        server.shutdown()


def test_the_link_has_its_round_trip_time_and_rate(link: netns.EmulatedLink, server: int) -> None:
    address = link.forward(server)
    assert address == f"{link.ns.peer_ip}:{server}"
    result = subprocess.run(
        link.ns.command(sys.executable, "-c", CLIENT, address, str(BULK)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    timings = json.loads(result.stdout)
    # A new connection pays TCP's handshake round trip before its first one.
    assert timings["first"] >= 2 * RTT, timings
    assert min(timings["rtts"]) >= RTT, timings
    assert timings["download"] >= BULK * 8 / RATE_BITS, timings
    assert timings["upload"] >= BULK * 8 / RATE_BITS, timings


def test_the_command_line_link_is_removed_with_its_delay_line() -> None:
    helper = [sys.executable, str(TESTS / "netns.py")]
    result = subprocess.run(
        [*helper, "create", "--emulate", "20mbit,30ms", "--forward", "8188"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    try:
        assert created["link"] == {"rate": "20mbit", "rtt_ms": 30.0}
        assert created["forwarded"] == {"8188": f"{created['peer_ip']}:8188"}
        pids = subprocess.run(
            ["ip", "netns", "pids", created["name"]], capture_output=True, text=True, check=True
        ).stdout.split()
        assert len(pids) == 1, pids
        delay_line = os.pidfd_open(int(pids[0]))
    finally:
        subprocess.run([*helper, "remove", created["name"]], check=True, timeout=30)
    try:
        # A process's pidfd becomes readable when it ends.
        ended, _, _ = select.select([delay_line], [], [], 10)
        assert ended, "the delay line outlived its namespace"
    finally:
        os.close(delay_line)


def test_a_bad_link_is_refused_with_what_to_write() -> None:
    with pytest.raises(netns.NamespaceError, match="RATE,RTTms"):
        netns.Link.parse("20mbit")
