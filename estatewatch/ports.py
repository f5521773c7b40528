"""Loopback port helpers: free ports for private servers, simulators and tests.

A port picked by binding to port 0 is only a good guess: another process may take it
before the service binds it, so callers retry the start with a fresh pick when the service
reports "address already in use".
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback ports that were free a moment ago."""
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            # Holding every socket open until all are picked keeps the kernel from handing
            # out the same port twice.
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
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
