"""A person's own notification settings, in and out (``/me/notifications``), and a staff
member's address as an admin or manager sets it (``/users/{name}/email``).

The JSON API and the account page validate with these models, so the rules (and the
constraints OpenAPI shows) are one: an email address, the channels ``email`` and
``chat`` (chat needs a handle), quiet hours ``HH:MM`` to a different ``HH:MM`` in the
site's time, the language of the messages.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from maintenance.domain.preferences import (
    CHANNELS,
    CHAT_HANDLE,
    EMAIL_ADDRESS,
    NotifyChannel,
    Preferences,
    QuietHours,
)

__all__ = ["NotifySettingsIn", "QuietHoursIn", "StaffEmail"]

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=f"^{EMAIL_ADDRESS}$"),
]
Handle = Annotated[str, StringConstraints(strip_whitespace=True, pattern=f"^{CHAT_HANDLE}$")]
ClockTime = Annotated[
    str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$"), Field(examples=["22:00"])
]
MessageLanguage = Literal["zh-CN", "en"]
_LOCALE: dict[MessageLanguage, str] = {"zh-CN": "zh_CN", "en": "en"}


class QuietHoursIn(BaseModel):
    """From ``start`` to ``end``, ``HH:MM`` in the site's time; an ``end`` before
    ``start`` runs past midnight (``22:00`` to ``07:00``)."""

    model_config = ConfigDict(extra="forbid")

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _differ(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours must end at a different time than they start")
        return self

    @property
    def rule(self) -> QuietHours:
        return QuietHours(time.fromisoformat(self.start), time.fromisoformat(self.end))


class NotifySettingsIn(BaseModel):
    """Where and when notices reach me. P1 and rescue notices ignore quiet hours."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(
        default=None,
        description="my address; none: the address the site's notification settings give me",
    )
    channels: list[NotifyChannel] = Field(
        min_length=1,
        max_length=2,
        description="email, and/or chat: the site's chat robot @mentions my chat_handle",
    )
    chat_handle: Handle | None = Field(
        default=None,
        validate_default=True,
        description="my id in the site's chat (userid, phone number, open_id)",
    )
    quiet_hours: QuietHoursIn | None = Field(
        default=None,
        description="non-P1 notices in these hours wait until they end, then go as one",
    )
    language: MessageLanguage | None = Field(
        default=None, description="the messages' (and the web app's) language; none: Chinese"
    )

    @field_validator("channels")
    @classmethod
    def _once_each(cls, channels: list[NotifyChannel]) -> list[NotifyChannel]:
        if len(set(channels)) != len(channels):
            raise ValueError(f"each channel once, got {channels}")
        return channels

    @field_validator("chat_handle")
    @classmethod
    def _chat_needs_a_handle(cls, handle: str | None, info: ValidationInfo) -> str | None:
        if handle is None and "chat" in info.data.get("channels", ()):
            raise ValueError("the chat channel needs your chat handle")
        return handle

    @property
    def preferences(self) -> Preferences:
        return Preferences(
            self.email,
            frozenset(self.channels),
            self.chat_handle,
            self.quiet_hours.rule if self.quiet_hours is not None else None,
            _LOCALE[self.language] if self.language is not None else None,
        )

    @classmethod
    def of(cls, preferences: Preferences) -> NotifySettingsIn:
        quiet = preferences.quiet
        locale = preferences.locale
        return cls.model_construct(
            email=preferences.email,
            channels=[each for each in CHANNELS if each in preferences.channels],
            chat_handle=preferences.chat_handle,
            quiet_hours=None
            if quiet is None
            else QuietHoursIn(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M")),
            language=None if locale is None else ("en" if locale.startswith("en") else "zh-CN"),
        )


class StaffEmail(BaseModel):
    """A staff member's address, as their admin or manager sets it."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None
