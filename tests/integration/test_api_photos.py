"""Work-order photos through the HTTP API, with real files on a real SQLite database:
what is stored is clean, what is refused says why, and only those who may see the order
see its photos."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import RunningApi, bearer, running_api
from photo_samples import encoded, exif_of, gps_of, jpeg_with_gps, opened, picture

from api.errors import PROBLEM_MEDIA_TYPE

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]


@dataclass
class Compound:
    api: RunningApi
    tokens: dict[str, str]
    order_id: str  # li's request at site north

    async def upload(
        self, who: str, data: bytes, name: str = "photo.jpg", order_id: str | None = None
    ) -> httpx.Response:
        return await self.api.client.post(
            f"/api/v1/work-orders/{order_id or self.order_id}/photos",
            files={"photo": (name, data, "image/jpeg")},
            data={"caption": "the light on 5F"},
            headers=bearer(self.tokens[who]),
        )

    async def get(self, who: str, path: str) -> httpx.Response:
        return await self.api.client.get(path, headers=bearer(self.tokens[who]))


@pytest.fixture
async def compound(tmp_path: Path) -> AsyncIterator[Compound]:
    async with running_api(tmp_path) as api:
        tokens = {
            "li": await api.user("li", "resident", unit="3-501"),
            "chen": await api.user("chen", "resident", unit="2-101"),
            "wang": await api.user("wang", "technician", sites=["north"]),
            "zhao": await api.user("zhao", "technician", sites=["south"]),
            "mgr": await api.user("mgr", "manager"),
            "com": await api.user("com", "committee"),
        }
        raised = await api.client.post(
            "/api/v1/requests",
            json={
                "title": "Corridor light out",
                "place": "corridor-5F",
                "category": "lighting",
                "site": "north",
            },
            headers=bearer(tokens["li"]),
        )
        assert raised.status_code == 201, raised.text
        yield Compound(api, tokens, raised.json()["id"])


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    return body


async def test_a_phone_photo_comes_back_without_its_gps(compound: Compound) -> None:
    sent = jpeg_with_gps((1200, 900))
    created = await compound.upload("li", sent)
    assert created.status_code == 201, created.text
    photo = created.json()
    assert photo["uploaded_by"] == "li"
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/jpeg", 900, 1200)
    assert photo["caption"] == "the light on 5F"

    original = await compound.get("li", photo["url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/jpeg"
    assert "private" in original.headers["cache-control"]
    assert len(original.content) == photo["size"]
    assert gps_of(original.content) == {}
    assert exif_of(original.content) == {}
    assert opened(original.content) == ("JPEG", (900, 1200))

    thumb = await compound.get("li", photo["thumbnail_url"])
    assert thumb.status_code == 200
    assert opened(thumb.content) == ("JPEG", (240, 320))

    listed = await compound.get("wang", f"/api/v1/work-orders/{compound.order_id}/photos")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [photo["id"]]
    stored = sorted(p.name for p in compound.api.services.photos.root.iterdir())
    assert stored == [f"{photo['id']}.jpg", f"{photo['id']}.thumb.jpg"]


async def test_a_text_file_renamed_jpg_is_refused_with_a_clear_message(
    compound: Compound,
) -> None:
    refused = await compound.upload("li", b"dear property office, the light is out\n", "x.jpg")
    body = problem(refused, 422)
    assert body["detail"] == "the file is not a photo: send a JPEG, PNG or WebP image"
    gif = await compound.upload("li", encoded(picture((20, 20)), "GIF"), "x.gif")
    problem(gif, 422)
    listed = await compound.get("li", f"/api/v1/work-orders/{compound.order_id}/photos")
    assert listed.json() == []


async def test_an_11_mb_upload_is_refused(compound: Compound) -> None:
    eleven = b"\xff\xd8\xff\xe0" + bytes(11 * 1024 * 1024)
    body = problem(await compound.upload("li", eleven), 413)
    assert body["detail"] == "the photo is larger than 10 MB"


async def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(
    compound: Compound,
) -> None:
    response = await compound.api.client.post(
        f"/api/v1/work-orders/{compound.order_id}/photos",
        content=b"x" * 100,
        headers={
            **bearer(compound.tokens["li"]),
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(33 * 1024 * 1024),
        },
    )
    assert "larger than" in problem(response, 413)["detail"]


async def test_another_residents_or_another_sites_photo_is_a_404(compound: Compound) -> None:
    created = await compound.upload("li", jpeg_with_gps())
    photo = created.json()
    order = compound.order_id
    for who in ("chen", "zhao"):
        for path in (
            f"/api/v1/work-orders/{order}/photos",
            photo["url"],
            photo["thumbnail_url"],
        ):
            body = problem(await compound.get(who, path), 404)
            assert "no " in body["detail"]
        problem(await compound.upload(who, jpeg_with_gps()), 404)
    # The same answer as for an order that does not exist at all.
    missing = problem(await compound.get("chen", "/api/v1/work-orders/WO-2026-999999/photos"), 404)
    hidden = problem(await compound.get("chen", f"/api/v1/work-orders/{order}/photos"), 404)
    assert missing["detail"].replace("WO-2026-999999", order) == hidden["detail"]
    # A photo id of another order is not found through this one.
    other = await compound.api.client.post(
        "/api/v1/requests",
        json={"title": "Lift slow", "place": "lift-2", "category": "elevator", "site": "north"},
        headers=bearer(compound.tokens["chen"]),
    )
    assert other.status_code == 201
    wrong = f"/api/v1/work-orders/{other.json()['id']}/photos/{photo['id']}"
    problem(await compound.get("chen", wrong), 404)
    # Staff who may see the order see the photo; the committee reads but does not upload.
    for who in ("mgr", "wang", "com"):
        assert (await compound.get(who, photo["url"])).status_code == 200
    problem(await compound.upload("com", jpeg_with_gps()), 403)
