"""The audit trail's hash chain, without a database."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from maintenance.domain.audit import (
    GENESIS,
    AuditEntry,
    AuditEntryError,
    SealedEntry,
    chain_hash,
    verify_chain,
)

T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=n),
        actor="dispatcher:li",
        action="work_order.assigned",
        entity_type="work_order",
        entity_id=f"WO-2026-{n:06d}",
        from_state="open",
        to_state="assigned",
        reason="nearest technician",
        detail={"technician": "wang", "eta_min": 12},
    )


def seal(entries: list[AuditEntry]) -> list[SealedEntry]:
    sealed, prev = [], GENESIS
    for item in entries:
        digest = chain_hash(prev, item)
        sealed.append(SealedEntry(item, prev, digest))
        prev = digest
    return sealed


def test_the_canonical_form_is_pinned() -> None:
    # Written out by hand: changing the form would orphan every stored chain.
    expected = (
        '{"action":"work_order.assigned","actor":"dispatcher:li",'
        '"at":"2026-11-24T08:31:00.000000+00:00",'
        '"detail":{"eta_min":12,"technician":"wang"},'
        '"entity_id":"WO-2026-000001","entity_type":"work_order",'
        '"from_state":"open","prev_hash":"' + GENESIS + '",'
        '"reason":"nearest technician","to_state":"assigned","v":1}'
    )
    assert entry(1).canonical(GENESIS).decode() == expected
    assert chain_hash(GENESIS, entry(1)) == hashlib.sha256(expected.encode()).hexdigest()


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    beijing = timezone(timedelta(hours=8))
    local = dataclasses.replace(entry(1), at=entry(1).at.astimezone(beijing))
    assert chain_hash(GENESIS, local) == chain_hash(GENESIS, entry(1))


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(seal([entry(n) for n in range(5)])) is None
    assert verify_chain([]) is None


def test_an_altered_entry_is_the_first_broken_link() -> None:
    sealed = seal([entry(n) for n in range(5)])
    forged = dataclasses.replace(sealed[2].entry, to_state="closed")
    sealed[2] = dataclasses.replace(sealed[2], entry=forged)
    broken = verify_chain(sealed)
    assert broken is not None
    assert (broken.index, broken.field) == (2, "hash")
    assert broken.found == sealed[2].hash
    assert broken.expected == chain_hash(sealed[1].hash, forged)


def test_a_removed_entry_breaks_the_next_link() -> None:
    sealed = seal([entry(n) for n in range(5)])
    del sealed[1]
    broken = verify_chain(sealed)
    assert broken is not None
    assert (broken.index, broken.field) == (1, "prev_hash")
    assert (broken.expected, broken.found) == (sealed[0].hash, seal([entry(0), entry(1)])[1].hash)


def test_a_resealed_forgery_still_breaks_at_the_following_entry() -> None:
    # A forger who recomputes the altered entry's own hash breaks the next entry's link.
    sealed = seal([entry(n) for n in range(4)])
    forged = dataclasses.replace(sealed[1].entry, reason="nothing to see")
    sealed[1] = SealedEntry(forged, sealed[0].hash, chain_hash(sealed[0].hash, forged))
    broken = verify_chain(sealed)
    assert broken is not None
    assert (broken.index, broken.field) == (2, "prev_hash")


def test_entries_that_cannot_be_sealed_say_why() -> None:
    with pytest.raises(AuditEntryError, match="time zone"):
        chain_hash(GENESIS, dataclasses.replace(entry(1), at=datetime(2026, 11, 24, 8, 30)))
    with pytest.raises(AuditEntryError, match="not plain JSON"):
        chain_hash(GENESIS, dataclasses.replace(entry(1), detail={"load": float("nan")}))
