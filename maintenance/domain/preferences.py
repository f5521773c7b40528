"""A person's own notification settings, and the quiet-hours rule (pure, no I/O).

Each user says where notices reach them (:class:`Preferences`): by ``email`` (to their
own address; without one, to the address the site's settings file gives them) and/or by
``chat`` (the site's chat robot posts in its group and @mentions their ``chat_handle``),
in their language, and when they do not want to be woken: quiet hours, in the site's
time (``22:00-07:00`` runs past midnight).

Quiet hours hold only what can wait (:func:`urgent`): a notice about a P1 or a rescue
order, or one that opens such an order, always goes at once. Anything else planned in
the recipient's quiet hours waits until they end (:func:`released_at`), and what comes
meanwhile with the same fold key folds into it, so the morning brings one message with
a count rather than a stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final, Literal

from maintenance.domain.site_time import covers_daily, to_site_time

__all__ = [
    "CHANNELS",
    "CHAT_HANDLE",
    "EMAIL_ADDRESS",
    "NotifyChannel",
    "Preferences",
    "QuietHours",
    "released_at",
    "urgent",
]

NotifyChannel = Literal["email", "chat"]
CHANNELS: Final[tuple[NotifyChannel, ...]] = ("email", "chat")

EMAIL_ADDRESS: Final = r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+"
"""What passes for an email address: one ``@``, a dot after it, no spaces or brackets
(the mail server is the judge of the rest)."""
CHAT_HANDLE: Final = r"[A-Za-z0-9._@+-]{1,64}"
"""A chat handle (a WeCom or DingTalk userid, a phone number, a Feishu open_id): plain
characters only, so it can stand in a robot's markup unescaped."""

_URGENT_KINDS: Final = frozenset({"p1_opened", "rescue_opened"})


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` to ``end`` in the site's time (an ``end`` before ``start`` runs past
    midnight); the two differ."""

    start: time
    end: time

    def covers(self, at: time) -> bool:
        return covers_daily(self.start, self.end, at)


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's notification settings as stored (``email``: their own address, if any)."""

    email: str | None = None
    channels: frozenset[NotifyChannel] = frozenset({"email"})
    chat_handle: str | None = None
    quiet: QuietHours | None = None
    locale: str | None = None


def urgent(kind: str, priority: str | None, category: str | None) -> bool:
    """Whether a notice goes even in quiet hours: a new P1 or rescue order, or anything
    about a P1 or rescue order (its assignment, its warning, its breach)."""
    return kind in _URGENT_KINDS or priority == "P1" or category == "rescue"


def released_at(quiet: QuietHours | None, now: datetime, zone: str) -> datetime:
    """When a notice that can wait may go: ``now``, or the end of the quiet hours ``now``
    falls in (site time ``zone``), in UTC."""
    if quiet is None:
        return now
    local = to_site_time(now, zone)
    if not quiet.covers(local.time()):
        return now
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:  # 22:00-07:00 at 23:00: tomorrow's 07:00
        end += timedelta(days=1)
    return end.astimezone(UTC)
