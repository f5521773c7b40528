"""Free ports are picked outside the kernel's ephemeral range, where outgoing connections
take their local ports, so a service's port cannot be taken by a client while it starts."""

from __future__ import annotations

import socket

from estatewatch.ports import LOOPBACK, candidate_ranges, ephemeral_range, free_ports


def test_picks_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports:
        assert not low <= port <= high
        with socket.socket() as sock:
            sock.bind((LOOPBACK, port))


def test_ranges_leave_out_the_ephemeral_range_and_low_ports() -> None:
    assert ephemeral_range("32768\t60999\n") == (32768, 60999)
    assert candidate_ranges((32768, 60999)) == [range(10_000, 32768), range(61000, 65536)]
    # A host that lends every high port to clients leaves nothing to pick from.
    assert candidate_ranges((1024, 65535)) == []
