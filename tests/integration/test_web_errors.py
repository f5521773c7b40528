"""Errors on pages answer the HTML error page in the reader's language, with the right
status; a bug is logged with its traceback and shows a calm 500 page; ``/api/v1`` keeps
its JSON problems whatever the client accepts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from api_support import bearer, running_api, web_login

from api.errors import PROBLEM_MEDIA_TYPE
from api.routes import work_orders as order_routes
from api.web.routes import board as board_routes
from maintenance.db.errors import StorageError

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("api_db")

ZH = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-GB,en;q=0.9"}
SECRET = "db-host-7 password=hunter2"


def _raises(exc: Exception) -> Any:
    async def broken(*args: object, **kwargs: object) -> None:
        raise exc

    return broken


async def test_http_errors_on_pages_are_the_error_page_in_the_readers_language(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        for headers, text in (
            (ZH, "页面不存在，或您无权查看。"),  # noqa: RUF001
            (EN, "This page does not exist, or you may not see it."),
        ):
            missing = await api.client.get("/no-such-page", headers=headers)
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("text/html")
            assert text in missing.text
        wrong_method = await api.client.delete("/login", headers=EN)
        assert wrong_method.status_code == 405
        assert "This page does not accept that request." in wrong_method.text
        await web_login(api, "qian", "manager")
        invalid = await api.client.get("/board", params={"site": "x" * 65}, headers=ZH)
        assert invalid.status_code == 422
        assert invalid.headers["content-type"].startswith("text/html")
        assert '<h1 class="status">422</h1>' in invalid.text
        # The JSON API answers problems, even to a client that would take HTML.
        api_missing = await api.client.get("/api/v1/no-such-thing", headers=ZH)
        assert api_missing.status_code == 404
        assert api_missing.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_a_bug_on_a_page_is_logged_and_shows_a_calm_500_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_api(tmp_path) as api:
        token = await api.user("ops", "manager")
        await web_login(api, "qian", "manager")
        monkeypatch.setattr(board_routes, "_panel_context", _raises(KeyError(SECRET)))
        with caplog.at_level(logging.ERROR):
            for headers, text in (
                (ZH, "服务器出了点问题，已记录在案，请稍后再试。"),  # noqa: RUF001
                (EN, "Something went wrong on our side. It has been noted; please try again."),
            ):
                broken = await api.client.get("/board", headers=headers)
                assert broken.status_code == 500
                assert broken.headers["content-type"].startswith("text/html")
                assert text in broken.text
                assert SECRET not in broken.text
                assert "Traceback" not in broken.text
        logged = [r for r in caplog.records if r.exc_info and "GET /board" in r.getMessage()]
        assert len(logged) == 2
        assert SECRET in caplog.text  # the traceback, with what failed, is in the log

        # A backing service down is the 503 page, naming no host.
        monkeypatch.setattr(board_routes, "_panel_context", _raises(StorageError(SECRET)))
        down = await api.client.get("/board", headers=EN)
        assert down.status_code == 503
        assert "A service is unavailable; try again later." in down.text
        assert SECRET not in down.text

        # The JSON API's bug is still a JSON problem, even to a client that takes HTML.
        monkeypatch.setattr(order_routes, "list_work_orders", _raises(KeyError(SECRET)))
        api_bug = await api.client.get("/api/v1/work-orders", headers=bearer(token) | EN)
        assert api_bug.status_code == 500
        assert api_bug.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert api_bug.json()["type"] == "urn:estatewatch:problem:internal"
        assert SECRET not in api_bug.text
