"""The read plan: which Modbus requests one poll of a device's poll group sends.

Pure: no I/O. Per poll group and per table, the group's fields, sorted by address, are
cut into runs. A run grows while the next field starts at most ``max_gap`` unused
registers (or bits) after the run's end and the whole run stays within one request's
limit (125 registers, 2000 bits); a field is never split across two requests.

Why the greedy cut is the minimum: a request that spans some fields reads every field
between them too, so any plan can be rewritten to read consecutive runs of the sorted
fields without adding requests. Any part of a valid run is itself valid (its span and its
gaps can only shrink), so taking the longest valid run each time ends the k-th request no
earlier than any other plan's k-th request ends; it never needs more requests.

Ride-along: a field of a slower group that lies inside one of a faster group's requests
costs nothing to read there, so it is decoded from that reply (and reported at the faster
rate) instead of needing a request of its own in the slower group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from estatewatch.catalogue import CodecError, Profile, RegisterField, Table, Value, decode_field

REGISTER_LIMIT = 125  # Modbus: at most 125 registers per read (function 03/04)
BIT_LIMIT = 2000  # Modbus: at most 2000 coils or discrete inputs per read (01/02)


def request_limit(table: Table) -> int:
    return BIT_LIMIT if table.is_bit else REGISTER_LIMIT


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read and the fields decoded from its reply."""

    table: Table
    address: int
    count: int
    fields: tuple[RegisterField, ...]
    # (key, field, first word, one past the last word) per field, so decoding a reply is
    # one slice per field with no address arithmetic on the hot path.
    _slots: tuple[tuple[str, RegisterField, int, int], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not 1 <= self.count <= request_limit(self.table):
            raise ValueError(f"a {self.table} request reads 1-{request_limit(self.table)}")
        slots = []
        for f in self.fields:
            if f.table is not self.table or not self.covers(f):
                raise ValueError(f"{f.key} is not inside {self}")
            slots.append((f.key, f, f.address - self.address, f.end - self.address))
        object.__setattr__(self, "_slots", tuple(slots))

    @property
    def end(self) -> int:
        return self.address + self.count

    def covers(self, f: RegisterField) -> bool:
        return f.table is self.table and self.address <= f.address and f.end <= self.end

    def decode(self, words: Sequence[int], problems: list[str] | None = None) -> dict[str, Value]:
        """Decode every field from the reply; a field that does not decode is left out
        (and described in ``problems``, if given) so one bad word costs one field."""
        if len(words) != self.count:
            raise CodecError(f"{self}: expected {self.count} values, got {len(words)}")
        values: dict[str, Value] = {}
        for key, f, lo, hi in self._slots:
            try:
                values[key] = decode_field(f, words[lo:hi])
            except CodecError as exc:
                if problems is not None:
                    problems.append(str(exc))
        return values

    def __str__(self) -> str:
        return f"{self.table} {self.address:#06x}+{self.count}"


def coalesce(fields: Iterable[RegisterField], *, max_gap: int) -> list[ReadRequest]:
    """The fewest requests that read ``fields`` (see the module docstring for why)."""
    if max_gap < 0:
        raise ValueError("max_gap must not be negative")
    by_table: dict[Table, list[RegisterField]] = {}
    for f in fields:
        by_table.setdefault(f.table, []).append(f)
    requests: list[ReadRequest] = []
    for table in Table:  # a fixed table order keeps plans stable across runs
        members = sorted(by_table.get(table, []), key=lambda f: (f.address, f.end, f.key))
        limit = request_limit(table)
        run: list[RegisterField] = []
        start = end = 0
        for f in members:
            if f.length > limit:
                raise ValueError(f"{f.key} is wider than one {table} request ({limit})")
            if run and f.address - end <= max_gap and max(end, f.end) - start <= limit:
                run.append(f)
                end = max(end, f.end)
                continue
            if run:
                requests.append(ReadRequest(table, start, end - start, tuple(run)))
            run, start, end = [f], f.address, f.end
        if run:
            requests.append(ReadRequest(table, start, end - start, tuple(run)))
    return requests


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """The requests of one poll of one group."""

    name: str
    interval: float  # seconds
    requests: tuple[ReadRequest, ...]
    riders: tuple[str, ...] = ()  # keys of this group's fields read by a faster group

    def decode(self, replies: Sequence[Sequence[int]]) -> dict[str, Value]:
        """Decode one reply per request, in order, into ``{field.key: value}``."""
        if len(replies) != len(self.requests):
            raise ValueError(f"{self.name}: {len(self.requests)} requests, {len(replies)} replies")
        values: dict[str, Value] = {}
        for request, words in zip(self.requests, replies, strict=True):
            values.update(request.decode(words))
        return values


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Every poll group of one device, fastest first."""

    device: str
    profile: str
    groups: tuple[GroupPlan, ...]

    def group(self, name: str) -> GroupPlan:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"{self.device} has no poll group {name!r}")

    @property
    def requests_per_poll(self) -> dict[str, int]:
        return {g.name: len(g.requests) for g in self.groups}

    def describe(self) -> str:
        """One log line: 'elev-01 (elevator-nice3000): fast 4 requests/poll, ...'."""
        parts = []
        for g in self.groups:
            n = len(g.requests)
            text = f"{g.name} {n} request{'' if n == 1 else 's'}/poll every {g.interval:g} s"
            if g.riders:
                text += f" (+{len(g.riders)} field{'' if len(g.riders) == 1 else 's'} ride along)"
            parts.append(text)
        return f"{self.device} ({self.profile}): {', '.join(parts)}"


def plan_device(
    device: str,
    profile: Profile,
    *,
    intervals: Mapping[str, float] | None = None,
    max_gap: int = 16,
) -> ReadPlan:
    """The read plan of one device: the profile's poll groups, with ``intervals``
    overriding the profile's default interval per group."""
    if profile.protocol != "modbus":
        raise ValueError(f"{profile.name} is not a Modbus profile")
    chosen = {**profile.poll_groups, **(intervals or {})}
    unknown = set(chosen) - set(profile.poll_groups)
    if unknown:
        raise ValueError(f"{profile.name} has no poll group(s) {sorted(unknown)}")
    order = sorted(profile.poll_groups, key=lambda g: chosen[g])  # stable: ties keep order
    faster: list[ReadRequest] = []  # the requests of the groups planned so far
    rides: dict[int, list[RegisterField]] = {}  # index in faster -> riders added to it
    planned: list[tuple[str, list[ReadRequest], list[str]]] = []
    for name in order:
        own: list[RegisterField] = []
        riders: list[str] = []
        for f in profile.fields:
            if f.poll != name:
                continue
            host = next((i for i, r in enumerate(faster) if r.covers(f)), None)
            if host is None:
                own.append(f)
            else:
                rides.setdefault(host, []).append(f)
                riders.append(f.key)
        requests = coalesce(own, max_gap=max_gap)
        planned.append((name, requests, riders))
        faster.extend(requests)
    # Rebuild the requests that carry riders, so each reply decodes them too.
    final = {id(r): _with_riders(r, rides[i]) if i in rides else r for i, r in enumerate(faster)}
    groups = tuple(
        GroupPlan(name, chosen[name], tuple(final[id(r)] for r in requests), tuple(riders))
        for name, requests, riders in planned
    )
    return ReadPlan(device, profile.name, groups)


def _with_riders(request: ReadRequest, riders: list[RegisterField]) -> ReadRequest:
    fields = tuple(sorted((*request.fields, *riders), key=lambda f: (f.address, f.key)))
    return ReadRequest(request.table, request.address, request.count, fields)
