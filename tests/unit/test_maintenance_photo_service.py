"""Adding photos to work orders (maintenance.services.add_photo) over the in-memory unit
of work, with the files in a real directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from maintenance_fakes import FakeClock, FakeUnitOfWork
from photo_samples import gps_of, jpeg_with_gps, opened

from maintenance import services
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.errors import InvalidRequest, NotFound, PhotoRejected
from maintenance.domain.photos import Photo
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import WorkOrder
from maintenance.photo_store import PhotoStore

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RESIDENT = Actor("li", "resident")
MANAGER = Actor("mgr", "manager")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def request(uow: FakeUnitOfWork, clock: FakeClock) -> WorkOrder:
    created = await services.create_order(
        uow,
        RESIDENT,
        clock,
        title="Corridor light out",
        asset="north/building/3/corridor 5F",
        site="north",
        category="lighting",
        fault_kind="lighting",
        priority="P3",
    )
    return created.order


async def test_a_photo_is_stored_clean_with_its_record(
    uow: FakeUnitOfWork, clock: FakeClock, tmp_path: Path
) -> None:
    order = await request(uow, clock)
    store = PhotoStore(tmp_path / "photos")
    commits = uow.commits

    photo = await services.add_photo(
        uow, store, order.id, jpeg_with_gps(), RESIDENT, clock, caption="  the 5F light  "
    )

    assert uow.photos.items == {photo.id: photo}
    assert uow.commits == commits + 1
    assert (photo.order_id, photo.uploaded_by, photo.at) == (order.id, "li", T0)
    assert (photo.content_type, photo.width, photo.height) == ("image/jpeg", 480, 640)
    assert photo.caption == "the 5F light"
    original = store.original(photo).read_bytes()
    assert photo.size == len(original)
    assert gps_of(original) == {}
    assert opened(store.thumbnail(photo).read_bytes())[0] == "JPEG"
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        [f"{photo.id}.jpg", f"{photo.id}.thumb.jpg"]
    )


async def test_a_refused_or_hidden_upload_leaves_nothing_behind(
    uow: FakeUnitOfWork, clock: FakeClock, tmp_path: Path
) -> None:
    order = await request(uow, clock)
    store = PhotoStore(tmp_path / "photos")
    commits = uow.commits
    with pytest.raises(PhotoRejected):
        await services.add_photo(uow, store, order.id, b"not a photo", RESIDENT, clock)
    with pytest.raises(NotFound, match=f"^no work order {order.id}$"):
        await services.add_photo(
            uow, store, order.id, jpeg_with_gps(), RESIDENT, clock, visible=lambda _: False
        )
    with pytest.raises(NotFound):
        await services.add_photo(uow, store, "WO-2026-999999", jpeg_with_gps(), MANAGER, clock)
    with pytest.raises(InvalidRequest, match="caption"):
        await services.add_photo(
            uow, store, order.id, jpeg_with_gps(), RESIDENT, clock, caption="x" * 201
        )
    assert uow.photos.items == {}
    assert uow.commits == commits
    assert not store.root.exists() or not any(store.root.iterdir())


async def test_a_closed_order_takes_no_more_photos(
    uow: FakeUnitOfWork, clock: FakeClock, tmp_path: Path
) -> None:
    order = await request(uow, clock)
    await services.perform(uow, cmd.Cancel(order.id, "duplicate"), MANAGER, clock, SlaPolicy())
    with pytest.raises(InvalidRequest, match="cancelled: it takes no more photos"):
        await services.add_photo(
            uow, PhotoStore(tmp_path), order.id, jpeg_with_gps(), RESIDENT, clock
        )


def test_the_store_makes_paths_only_from_photo_ids(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)

    def photo(photo_id: str) -> Photo:
        return Photo(photo_id, "WO-2026-000001", "li", T0, "image/png", 1, 1, 1)

    for bad in ("../../etc/passwd", "A" * 32, "abc", "0" * 31 + "/"):
        with pytest.raises(ValueError, match="not a photo id"):
            store.original(photo(bad))
    good = "0" * 32
    assert store.original(photo(good)) == tmp_path / f"{good}.png"
    assert store.thumbnail(photo(good)) == tmp_path / f"{good}.thumb.jpg"
