"""The audit trail's hash chain: who changed what, when, from what to what, and why.

Every entry is sealed with ``hash = SHA-256(canonical JSON of the entry and the previous
entry's hash)``; the first entry chains to :data:`GENESIS`. Altering an entry breaks its
own hash, and deleting or inserting one breaks the next entry's ``prev_hash``, so
:func:`verify_chain` names the first entry that no longer fits. Cutting entries off the
*end* leaves a shorter valid chain: to detect that, record the head hash elsewhere (the
verify report prints it).

Pure: storage adapters keep the sealed entries; this module only computes and checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from estatewatch.errors import EstatewatchError
from maintenance.domain.events import DomainEvent, JsonValue

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""

_FORMAT = 1  # bump, and keep the old canonical form for old entries, if the form changes


class AuditEntryError(EstatewatchError):
    """An audit entry cannot be sealed (naive time, or detail that is not plain JSON)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: ``actor`` did ``action`` on ``entity_type``/``entity_id`` at ``at``."""

    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    detail: Mapping[str, JsonValue] = field(default_factory=dict)

    def canonical(self, prev_hash: str) -> bytes:
        """The exact bytes hashed: sorted keys, no spaces, UTC time to the microsecond."""
        if self.at.tzinfo is None:
            raise AuditEntryError(
                f"audit entry {self.action} on {self.entity_type} {self.entity_id}:"
                " time has no time zone"
            )
        body = {
            "v": _FORMAT,
            "prev_hash": prev_hash,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "detail": self.detail,
        }
        try:
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise AuditEntryError(
                f"audit entry {self.action} on {self.entity_type} {self.entity_id}:"
                f" detail is not plain JSON: {exc}"
            ) from exc
        return text.encode("utf-8")


SYSTEM_ACTOR = "system"
"""The actor of a change no person made (a rule, the alarm policy, the SLA scheduler)."""


def entry_from_event(event: DomainEvent) -> AuditEntry:
    """The audit entry for a domain event; actors read ``role:user_id``."""
    actor = event.actor
    return AuditEntry(
        at=event.at,
        actor=SYSTEM_ACTOR if actor is None else actor.audit_name,
        action=f"{event.subject}.{event.action}",
        entity_type=event.subject,
        entity_id=event.subject_id,
        from_state=event.from_status,
        to_state=event.to_status,
        reason=event.reason,
        detail=dict(event.detail),
    )


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    """The hash sealing ``entry`` after the entry whose hash is ``prev_hash``."""
    return hashlib.sha256(entry.canonical(prev_hash)).hexdigest()


@dataclass(frozen=True, slots=True)
class SealedEntry:
    """An entry as stored: with the hash it chains to and its own."""

    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first entry that does not fit the chain.

    ``prev_hash``: the entry does not point at its predecessor (an entry before it was
    removed, inserted or re-sealed); ``hash``: the entry's content was changed.
    """

    index: int
    field: Literal["prev_hash", "hash"]
    expected: str
    found: str


class ChainVerifier:
    """Checks sealed entries one at a time, so a long trail can be streamed."""

    def __init__(self) -> None:
        self.count = 0
        self.head = GENESIS

    def feed(self, sealed: SealedEntry) -> BrokenLink | None:
        index = self.count
        self.count += 1
        if sealed.prev_hash != self.head:
            return BrokenLink(index, "prev_hash", self.head, sealed.prev_hash)
        expected = chain_hash(self.head, sealed.entry)
        if sealed.hash != expected:
            return BrokenLink(index, "hash", expected, sealed.hash)
        self.head = sealed.hash
        return None


def verify_chain(entries: Iterable[SealedEntry]) -> BrokenLink | None:
    """The first broken link (its ``index`` counts from 0), or None if the chain holds."""
    verifier = ChainVerifier()
    for sealed in entries:
        broken = verifier.feed(sealed)
        if broken is not None:
            return broken
    return None
