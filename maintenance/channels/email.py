"""Mail over SMTP (aiosmtplib): STARTTLS or implicit TLS, and login, as the site's
settings say (:class:`~maintenance.channels.settings.SmtpSettings`).

One connection per message: notifications are few, and a fresh connection never trips
over a relay that closed an idle one. The mail is plain text in UTF-8, with the
notification's stable id as its ``Message-ID`` (so a repeat after a restart can be
recognised) and ``Content-Language`` set to the recipient's language.

Errors: a server that cannot be reached, times out, or answers 4xx (try later) is a
retryable :class:`~maintenance.channels.base.ChannelError`; a 5xx answer (a refused
recipient or sender, failed login, no STARTTLS where it is required) is not.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from estatewatch.clock import Clock
from maintenance.channels.base import ChannelError, Outgoing
from maintenance.channels.settings import SmtpSettings

__all__ = ["SmtpChannel", "message_id"]


def message_id(notification_id: str) -> str:
    """The ``Message-ID`` of a notification's mail: the same on every attempt. Characters
    a Message-ID may not hold (``:``, spaces) become dots."""
    parts = re.split(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", notification_id)
    return f"<{'.'.join(part for part in parts if part)}@estatewatch.notify>"


class SmtpChannel:
    needs_address = True

    def __init__(self, site: str, settings: SmtpSettings, clock: Clock) -> None:
        self._name = f"email:{site}"
        self._settings, self._clock = settings, clock
        self._tls: ssl.SSLContext | None = None
        if settings.security != "none":
            self._tls = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"SmtpChannel({self._name}, {self._settings.host}:{self._settings.port})"

    def compose(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._settings.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(self._clock())
        mail["Message-ID"] = message_id(message.id) if message.id else make_msgid()
        mail.set_content(message.text, charset="utf-8")
        # After set_content, which drops the Content-* headers set before it.
        mail["Content-Language"] = message.language
        return mail

    async def send(self, message: Outgoing) -> None:
        if not message.to:
            raise ChannelError(self._name, "no address to send to", retryable=False)
        settings = self._settings
        try:
            await aiosmtplib.send(
                self.compose(message),
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                tls_context=self._tls,
                timeout=settings.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: the server asks to try later; 5xx: it will refuse this mail again.
            raise ChannelError(
                self._name, f"{exc.code} {exc.message}", retryable=400 <= exc.code < 500
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(self._name, f"recipient refused: {exc}", retryable=False) from exc
        except aiosmtplib.SMTPException as exc:  # connect, disconnect, timeout
            raise ChannelError(self._name, f"{type(exc).__name__}: {exc}", retryable=True) from exc
        except OSError as exc:  # TLS handshake, unreachable network
            raise ChannelError(self._name, f"{type(exc).__name__}: {exc}", retryable=True) from exc
