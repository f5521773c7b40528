"""Choosing the page language, where ``next=`` may send a browser after login, and each
role's home page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.web.errors import safe_next
from api.web.i18n import negotiate
from api.web.nav import home_of, nav_for
from api.web.templating import localtime
from maintenance.domain.actors import Role


@pytest.mark.parametrize(
    ("user", "cookie", "header", "expected"),
    [
        (None, None, None, "zh_CN"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "fr-FR, en;q=0.5, zh;q=0.8", "zh_CN"),  # by quality, not order
        (None, None, "zh-TW", "zh_CN"),
        (None, None, "de, *;q=0.1", "zh_CN"),
        (None, None, "en;q=0", "zh_CN"),  # q=0: not acceptable
        (None, "en", "zh-CN", "en"),  # the switch's cookie beats the browser
        ("zh_CN", "en", "en", "zh_CN"),  # the user's setting beats both
        (None, "xx", "en", "en"),  # an unknown cookie is ignored
    ],
)
def test_negotiate(user: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    cookies = {} if cookie is None else {"ew_lang": cookie}
    assert negotiate(user, cookies, header) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/tech?status=open", "/tech?status=open"),
        ("/", "/"),
        ("", "/"),
        (None, "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("tech", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_times_are_shown_in_the_given_zone_and_locale() -> None:
    at = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    assert localtime(at, "Asia/Shanghai", "zh_CN", "HH:mm") == "10:30"
    assert localtime(at, "Europe/London", "en", "HH:mm") == "02:30"
    assert localtime(None, "Asia/Shanghai", "en") == ""
    with pytest.raises(ValueError, match="naive"):
        localtime(datetime(2026, 12, 7), "Asia/Shanghai", "en")


def test_the_default_format_reads_the_same_in_both_languages() -> None:
    at = datetime(2027, 1, 6, 2, 37, tzinfo=UTC)
    assert localtime(at, "Asia/Shanghai", "zh_CN") == "2027-01-06 10:37"
    assert localtime(at, "Asia/Shanghai", "en") == "2027-01-06 10:37"


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("admin", "/admin/users"),
        ("manager", "/board"),
        ("technician", "/tech"),
        ("committee", "/committee"),
        ("supervisor", "/supervise"),
        ("resident", "/report"),
    ],
)
def test_each_role_starts_its_day_on_its_own_page(role: Role, home: str) -> None:
    assert home_of(role) == home
    assert any(item.path == home for item in nav_for(role))  # and it is in their menu
