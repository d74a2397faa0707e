""" "Another machine" for tests: a network namespace joined to this one by a veth pair.

A process inside reaches this host only at the pair's host address, never through its
loopback, like a laptop on the LAN reaching a GPU box. ``shape`` puts a queueing discipline on
both ends of the pair (``tc qdisc`` arguments, e.g. ``["netem", "delay", "15ms", "rate",
"20mbit"]``) where the kernel has netem. Needs root with iproute2; what is missing is reported
with what to do, never skipped.

``emulated_link`` needs no netem: ``tbf`` limits the rate on both ends of the pair, and the
round trip comes from a forwarder inside the namespace (tests/delay_line.py) that holds each
byte rtt/2 in each direction on its way to this host. A process in the namespace reaches a
server on ``host_ip:PORT`` through the link at the address ``forward(PORT)`` returns (the
peer's address, same port); TCP only, which carries HTTP and WebSocket.

The interop fixtures import it; browser tests (tests/e2e/netns.mjs) use its command line:

    python tests/netns.py create [--shape "netem delay 15ms rate 20mbit"]   # prints JSON
    python tests/netns.py create --emulate 20mbit,30ms [--forward 8188 ...]
    python tests/netns.py forward NAME --rtt-ms 30 PORT [PORT ...]          # prints JSON
    python tests/netns.py remove NAME
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

DELAY_LINE = Path(__file__).resolve().parent / "delay_line.py"
# A home link's token bucket: about ten full packets of burst, and a queue that holds 25 ms at
# the link's rate before it drops (a modest router buffer).
TBF_BURST = "15kb"
TBF_QUEUE = "25ms"


class NamespaceError(RuntimeError):
    """The namespace, the pair or the shaping could not be set up; the message says why."""


def _run(*args: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise NamespaceError(f"{args[0]} is not installed (iproute2)") from error
    if result.returncode != 0:
        raise NamespaceError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Namespace:
    name: str
    host_if: str
    peer_if: str
    host_ip: str
    peer_ip: str

    def command(self, *args: str) -> list[str]:
        """``args`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def shape(self, qdisc: Sequence[str]) -> None:
        """Shapes both directions of the link (``tc qdisc`` arguments)."""
        try:
            _run("tc", "qdisc", "replace", "dev", self.host_if, "root", *qdisc)
            _run(*self.command("tc", "qdisc", "replace", "dev", self.peer_if, "root", *qdisc))
        except NamespaceError as error:
            raise NamespaceError(
                f"cannot shape the link with `tc qdisc ... {' '.join(qdisc)}`: {error} (netem "
                "needs a kernel with CONFIG_NET_SCH_NETEM; tbf and htb limit only the rate)"
            ) from error

    def forward(
        self, ports: Iterable[int], rtt_ms: float, *, detach: bool = False
    ) -> tuple[subprocess.Popen[str], dict[int, str]]:
        """Starts a delay line inside the namespace from ``peer_ip:PORT`` to ``host_ip:PORT``
        for each port; returns it and the address a process in the namespace uses per port.
        A detached one outlives this process (``remove`` ends it)."""
        ports = list(ports)
        routes = [f"{self.peer_ip}:{port}={self.host_ip}:{port}" for port in ports]
        process = subprocess.Popen(
            self.command(sys.executable, str(DELAY_LINE), "--delay-ms", str(rtt_ms / 2), *routes),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # A detached one must not hold the caller's pipes open (Node's execFileSync waits
            # for them) and nobody reads them after the caller exits.
            stderr=subprocess.DEVNULL if detach else None,
            start_new_session=detach,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        process.stdout.close()
        ready = json.loads(line) if line.startswith("{") else {}
        if "listening" not in ready:
            process.kill()
            process.wait()
            raise NamespaceError(
                "the delay line did not start: "
                + ready.get("error", f"exited with status {process.returncode}")
            )
        return process, dict(zip(ports, ready["listening"], strict=True))


@dataclass(frozen=True)
class Link:
    """An emulated link: ``rate`` as tc spells it (``20mbit``) and the round-trip time."""

    rate: str
    rtt_ms: float

    @classmethod
    def parse(cls, text: str) -> Link:
        """``"20mbit,30ms"``."""
        rate, _, rtt = text.partition(",")
        if not rate or not rtt.endswith("ms"):
            raise NamespaceError(f"an emulated link is RATE,RTTms (e.g. 20mbit,30ms), not {text!r}")
        try:
            return cls(rate, float(rtt.removesuffix("ms")))
        except ValueError as error:
            raise NamespaceError(f"the round-trip time in {text!r} is not a number") from error

    def qdisc(self) -> list[str]:
        return ["tbf", "rate", self.rate, "burst", TBF_BURST, "latency", TBF_QUEUE]


@dataclass
class EmulatedLink:
    """A namespace behind an emulated link, with its delay lines."""

    ns: Namespace
    link: Link
    addresses: dict[int, str] = field(default_factory=dict)
    _lines: list[subprocess.Popen[str]] = field(default_factory=list)

    def forward(self, port: int) -> str:
        """The address a process in the namespace uses to reach ``host_ip:port`` over the
        link."""
        if port not in self.addresses:
            process, addresses = self.ns.forward([port], self.link.rtt_ms)
            self._lines.append(process)
            self.addresses.update(addresses)
        return self.addresses[port]

    def close(self) -> None:
        for process in self._lines:
            process.terminate()
            process.wait()
        self._lines.clear()


def free_subnet() -> tuple[str, str]:
    """A /30 in 10.200.0.0/13 that no interface on this machine uses yet."""
    used = _run("ip", "-4", "-o", "addr")
    for _ in range(100):
        prefix = f"10.{random.randint(200, 207)}.{random.randint(0, 255)}"
        last = random.randrange(0, 256, 4)
        host, peer = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
        if f" {host}/" not in used and f" {peer}/" not in used:
            return host, peer
    raise NamespaceError("no free 10.200.0.0/13 subnet for the veth pair")


def create(shape: Sequence[str] | None = None) -> Namespace:
    """A new namespace and pair with unique names; undone again if any step fails."""
    if os.geteuid() != 0:
        raise NamespaceError(
            "a test creates a network namespace (a browser or peer on another machine) and "
            "must run as root"
        )
    tag = f"{os.getpid() % 100000}{random.randint(0, 999):03d}"
    host_ip, peer_ip = free_subnet()
    ns = Namespace(f"rtcm{tag}", f"rtcm{tag}h", f"rtcm{tag}p", host_ip, peer_ip)
    _run("ip", "netns", "add", ns.name)
    try:
        _run("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.peer_if)
        _run("ip", "link", "set", ns.peer_if, "netns", ns.name)
        # IPv4 only: an IPv6 link-local address finishes duplicate detection a second or two
        # after the link comes up, and Chromium takes that address change for a new network
        # and fails every request in flight (net::ERR_NETWORK_CHANGED), a page's imports too.
        _run("sysctl", "-qw", f"net.ipv6.conf.{ns.host_if}.disable_ipv6=1")
        for conf in ("all", "default"):
            _run(*ns.command("sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_ipv6=1"))
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", ns.host_if)
        _run("ip", "link", "set", ns.host_if, "up")
        _run(*ns.command("ip", "addr", "add", f"{peer_ip}/30", "dev", ns.peer_if))
        _run(*ns.command("ip", "link", "set", ns.peer_if, "up"))
        _run(*ns.command("ip", "link", "set", "lo", "up"))
        _wait_until_up(ns)
        if shape:
            ns.shape(shape)
    except NamespaceError:
        remove(ns.name)
        raise
    return ns


def _wait_until_up(ns: Namespace, timeout_s: float = 10.0) -> None:
    """Returns once both ends report carrier, so no link change reaches a browser started
    after this."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = [
            _run("ip", "-o", "link", "show", "dev", ns.host_if),
            _run("ip", "-n", ns.name, "-o", "link", "show", "dev", ns.peer_if),
        ]
        if all("state UP" in state for state in states):
            return
        if time.monotonic() > deadline:
            raise NamespaceError(f"the pair {ns.host_if}/{ns.peer_if} did not come up: {states}")
        time.sleep(0.05)


def remove(name: str) -> None:
    """Ends what still runs in the namespace ``name`` (detached delay lines), deletes it and
    its pair; nothing left is not an error."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in pids.stdout.split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
    # Deleting the host end deletes the pair.
    subprocess.run(["ip", "link", "del", f"{name}h"], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@contextmanager
def namespace(shape: Sequence[str] | None = None) -> Iterator[Namespace]:
    ns = create(shape)
    try:
        yield ns
    finally:
        remove(ns.name)


@contextmanager
def emulated_link(
    rate: str = "20mbit", rtt_ms: float = 30, forward: Iterable[int] = ()
) -> Iterator[EmulatedLink]:
    """A namespace whose link to this host has ``rate`` and ``rtt_ms`` (see the module's
    docstring); ``forward`` ports are forwarded from the start, others with ``forward(port)``."""
    link = Link(rate, rtt_ms)
    with namespace(link.qdisc()) as ns:
        emulated = EmulatedLink(ns, link)
        try:
            for port in forward:
                emulated.forward(port)
            yield emulated
        finally:
            emulated.close()


def find(name: str) -> Namespace:
    """The namespace ``name`` made by ``create`` (in another process)."""

    def address(*show: str) -> str:
        fields = _run(*show).split()
        return fields[fields.index("inet") + 1].partition("/")[0]

    host_if, peer_if = f"{name}h", f"{name}p"
    host_ip = address("ip", "-4", "-o", "addr", "show", "dev", host_if)
    peer_ip = address("ip", "-n", name, "-4", "-o", "addr", "show", "dev", peer_if)
    return Namespace(name, host_if, peer_if, host_ip, peer_ip)


def _create_command(args: argparse.Namespace) -> dict[str, object]:
    if args.shape and args.emulate:
        raise NamespaceError("--shape and --emulate both set the link's qdisc: give one")
    if args.forward and not args.emulate:
        raise NamespaceError("--forward needs --emulate (its round-trip time)")
    link = Link.parse(args.emulate) if args.emulate else None
    ns = create(link.qdisc() if link else args.shape.split() if args.shape else None)
    created: dict[str, object] = asdict(ns)
    if link:
        created["link"] = asdict(link)
        try:
            ports = args.forward or []
            created["forwarded"] = ns.forward(ports, link.rtt_ms, detach=True)[1] if ports else {}
        except NamespaceError:
            remove(ns.name)
            raise
    return created


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create_command = commands.add_parser("create", help="create one; prints it as JSON")
    create_command.add_argument("--shape", help='tc qdisc arguments, e.g. "netem delay 15ms"')
    create_command.add_argument("--emulate", help="RATE,RTTms: an emulated link, e.g. 20mbit,30ms")
    create_command.add_argument(
        "--forward", type=int, action="append", help="a host port to reach over the link"
    )
    forward_command = commands.add_parser(
        "forward", help="forward host ports over an emulated link; prints the addresses as JSON"
    )
    forward_command.add_argument("name")
    forward_command.add_argument("--rtt-ms", type=float, required=True)
    forward_command.add_argument("ports", type=int, nargs="+")
    remove_command = commands.add_parser("remove", help="remove one")
    remove_command.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "remove":
        remove(args.name)
        return 0
    try:
        if args.command == "forward":
            output: object = find(args.name).forward(args.ports, args.rtt_ms, detach=True)[1]
        else:
            output = _create_command(args)
    except NamespaceError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write(json.dumps(output) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
