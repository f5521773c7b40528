"""The interface every notification channel implements, and its one error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from estatewatch.errors import ServiceError

__all__ = ["Channel", "ChannelError", "Outgoing"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send.

    ``id`` is the notification's stable id: the same on every retry and after a restart,
    so a receiver that keeps it (the mail's ``Message-ID``, the webhook's ``id``) can drop
    a repeat. ``to`` is the address for channels that need one (email); group robots
    post to their group and ignore it.
    """

    id: str
    to: str
    subject: str
    text: str
    language: str
    mention: str | None = None
    """A person's chat handle a group robot @mentions (None: for the whole group)."""


class ChannelError(ServiceError):
    """A message was not delivered; ``retryable`` when sending it again may succeed."""

    def __init__(self, channel: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel, self.reason, self.retryable = channel, reason, retryable


class Channel(Protocol):
    """Sends one message: returns when delivered, raises :class:`ChannelError` if not."""

    @property
    def name(self) -> str:
        """How logs, counters and the delivery record name the channel."""
        ...

    @property
    def needs_address(self) -> bool:
        """Whether the channel sends to a person's address (else to a group)."""
        ...

    async def send(self, message: Outgoing) -> None: ...
