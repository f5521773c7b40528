"""A person's quiet hours and what they hold (maintenance.domain.preferences), under a
fake clock: plain datetimes stepped by hand."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from maintenance.db.user_tables import UserRow
from maintenance.domain.preferences import Preferences, QuietHours, released_at, urgent

NIGHT = QuietHours(time(22, 0), time(7, 0))
SHANGHAI = "Asia/Shanghai"  # UTC+8 all year


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A December 2026 wall-clock time in Shanghai, in UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (shanghai(7, 21, 59), shanghai(7, 21, 59)),  # before: at once
        (shanghai(7, 22, 0), shanghai(8, 7, 0)),  # from the first minute: tomorrow 07:00
        (shanghai(7, 23, 30), shanghai(8, 7, 0)),
        (shanghai(8, 0, 0), shanghai(8, 7, 0)),  # after midnight: this morning
        (shanghai(8, 6, 59), shanghai(8, 7, 0)),
        (shanghai(8, 7, 0), shanghai(8, 7, 0)),  # the end is out: at once
        (shanghai(8, 12, 0), shanghai(8, 12, 0)),
    ],
)
def test_quiet_hours_past_midnight_hold_until_they_end(now: datetime, expected: datetime) -> None:
    assert released_at(NIGHT, now, SHANGHAI) == expected


def test_quiet_hours_within_a_day_and_none() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert released_at(lunch, shanghai(7, 12, 10), SHANGHAI) == shanghai(7, 13, 30)
    assert released_at(lunch, shanghai(7, 11, 59), SHANGHAI) == shanghai(7, 11, 59)
    assert released_at(None, shanghai(7, 23, 0), SHANGHAI) == shanghai(7, 23, 0)


def test_quiet_hours_are_the_sites_wall_clock_across_a_time_change() -> None:
    # Berlin leaves summer time on 2026-10-25 at 03:00: the night is 10 hours long, and
    # 07:00 local is 06:00 UTC the morning after.
    at = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 summer time
    assert released_at(NIGHT, at, "Europe/Berlin") == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "priority", "category", "expected"),
    [
        ("p1_opened", "P1", "elevator", True),
        ("rescue_opened", "P2", "rescue", True),
        ("assigned", "P1", "elevator", True),  # about a P1 order
        ("due_soon", "P2", "rescue", True),  # about a rescue order
        ("assigned", "P3", "elevator", False),
        ("due_soon", "P2", "charger", False),
        ("breached", "P4", "smoke", False),
    ],
)
def test_only_what_is_not_about_a_p1_or_a_rescue_can_wait(
    kind: str, priority: str, category: str, expected: bool
) -> None:
    assert urgent(kind, priority, category) is expected


def test_a_users_row_gives_their_preferences() -> None:
    row = UserRow(
        username="li.tech",
        email="li@example.com",
        chat_handle="lisi",
        notify_email=False,
        notify_chat=True,
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
        locale="en",
    )
    assert row.preferences == Preferences(
        "li@example.com", frozenset({"chat"}), "lisi", NIGHT, "en"
    )
    half = UserRow(username="x", notify_email=True, notify_chat=False, quiet_start=time(1, 0))
    assert half.preferences == Preferences()  # quiet hours need both ends
