"""Loopback port helpers: free ports for private servers, simulators and tests.

A port picked here is only a good guess: another process may take it before the service
binds it, so callers retry the start with a fresh pick when the service reports "address
already in use". Picks come from outside the kernel's ephemeral range, the range it hands
out for the local end of every outgoing connection: a port from that range (what binding
to port 0 gives) can be taken by any client connecting anywhere while the service is still
starting, which is how a test's API, five seconds into its start, once found its port
held by somebody's connection.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Below this, ports are privileged or conventional homes of well-known services.
_LOWEST = 10_000
_HIGHEST = 65_535
# Linux's default, for hosts that do not say.
_EPHEMERAL_DEFAULT = (32_768, 60_999)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range(text: str | None = None) -> tuple[int, int]:
    """The kernel's ephemeral port range (``text`` as in ip_local_port_range, else read)."""
    if text is None:
        try:
            text = _EPHEMERAL_RANGE.read_text()
        except OSError:
            return _EPHEMERAL_DEFAULT
    low, high = (int(part) for part in text.split())
    return low, high


def candidate_ranges(ephemeral: tuple[int, int]) -> list[range]:
    """The port ranges to pick from: above _LOWEST, outside ``ephemeral``."""
    low, high = ephemeral
    ranges = [range(_LOWEST, low), range(high + 1, _HIGHEST + 1)]
    return [r for r in ranges if len(r) > 0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback ports that were free a moment ago."""
    ranges = candidate_ranges(ephemeral_range())
    weights = [len(r) for r in ranges]
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count * 100):
            if len(ports) == count:
                break
            # A host whose ephemeral range covers every port leaves only the kernel's pick.
            port = random.choice(random.choices(ranges, weights)[0]) if ranges else 0
            # Holding every picked socket open until all are picked keeps the same port
            # from being picked twice.
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            ports.append(sock.getsockname()[1])
        if len(ports) < count:
            raise OSError(f"found only {len(ports)} of {count} free loopback ports")
        return ports


def port_is_free(port: int) -> bool:
    """Whether a server could bind ``127.0.0.1:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port held only by TIME_WAIT leftovers counts as
        # free for them and must count as free here too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True
