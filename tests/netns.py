""" "Another machine" for tests: a network namespace joined to this one by a veth pair.

A process inside reaches this host only at the pair's host address, never through its
loopback, like a laptop on the LAN reaching a GPU box. ``shape`` puts a queueing discipline on
both ends of the pair (``tc qdisc`` arguments, e.g. ``["netem", "delay", "15ms", "rate",
"20mbit"]``) to emulate a remote link. Needs root with iproute2; what is missing is reported
with what to do, never skipped.

The interop fixtures import it; browser tests (tests/e2e/netns.mjs) use its command line:

    python tests/netns.py create [--shape "netem delay 15ms rate 20mbit"]   # prints JSON
    python tests/netns.py remove NAME
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass


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
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", ns.host_if)
        _run("ip", "link", "set", ns.host_if, "up")
        _run(*ns.command("ip", "addr", "add", f"{peer_ip}/30", "dev", ns.peer_if))
        _run(*ns.command("ip", "link", "set", ns.peer_if, "up"))
        _run(*ns.command("ip", "link", "set", "lo", "up"))
        if shape:
            ns.shape(shape)
    except NamespaceError:
        remove(ns.name)
        raise
    return ns


def remove(name: str) -> None:
    """Deletes the namespace ``name`` and its pair; nothing left is not an error."""
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


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create_command = commands.add_parser("create", help="create one; prints it as JSON")
    create_command.add_argument("--shape", help='tc qdisc arguments, e.g. "netem delay 15ms"')
    remove_command = commands.add_parser("remove", help="remove one")
    remove_command.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "remove":
        remove(args.name)
        return 0
    try:
        ns = create(args.shape.split() if args.shape else None)
    except NamespaceError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write(json.dumps(asdict(ns)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
