"""The notification settings file: each site's channels, validated with pydantic.

Example ``notify.yaml``::

    sites:
      demo:
        email:
          host: smtp.example.com
          port: 587
          security: starttls            # starttls | tls | none
          username: estatewatch@example.com
          password_env: ESTATEWATCH_SMTP_PASSWORD
          sender: 物业报修 <estatewatch@example.com>
        robots:
          - name: duty-group
            kind: dingtalk              # wecom | dingtalk | feishu | webhook
            url: https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}
            secret_env: DINGTALK_SECRET
            language: zh-CN
        people:                         # fallback: user id -> address, for users
                                        # with no address of their own
          wang.tech: wang@example.com
        on_call:                        # who is on duty when (site time)
          - {user: wang.tech, hours: "08:00-20:00"}
          - {user: li.tech, hours: "20:00-08:00"}
        routes:                         # the committee's and residents' notices
          vote_decided: [committee, manager]
          digest: [committee]           # [] turns a notice off
        digest_at: "08:00"              # the daily digest, site time

Secrets never stand in the file: a password or signing secret is named by an ``*_env``
field (the variable holding it), and a token inside a URL is written ``${VARIABLE}``.
Both are read when the file is loaded; a variable that is unset or empty is an error
naming the file and the field, as is any other mistake. A robot URL whose query carries
a literal value (e.g. ``access_token=abc``) is refused for the same reason.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from estatewatch.validation import load_yaml_model
from maintenance.domain.notices import Language, Shift
from maintenance.domain.preferences import EMAIL_ADDRESS
from maintenance.domain.routes import DEFAULT_ROUTES, Audience

__all__ = [
    "NotifySettings",
    "OnCall",
    "RobotSettings",
    "Routes",
    "SiteNotifySettings",
    "SmtpSettings",
]

RobotKind = Literal["wecom", "dingtalk", "feishu", "webhook"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def from_environment(variable: str) -> str:
    """The value of ``variable``; a ValueError naming it when unset or empty."""
    value = os.environ.get(variable, "")
    if not value.strip():
        raise ValueError(f"environment variable {variable} is not set")
    return value


def _expand(text: str) -> str:
    return _REFERENCE.sub(lambda match: from_environment(match.group(1)), text)


class SmtpSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "tls", "none"] = "starttls"
    """``starttls`` (port 587): upgrade after connecting, and refuse a server that cannot;
    ``tls`` (port 465): TLS from the start; ``none``: plain, for a relay on loopback."""
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(min_length=3)
    """The ``From`` header, e.g. ``物业报修 <repairs@example.com>``."""
    ca_file: Path | None = None
    """A CA bundle to trust instead of the system's (a private relay)."""
    timeout_s: float = Field(default=10.0, gt=0)

    _password: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _credentials(self) -> SmtpSettings:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("username and password_env go together (login needs both)")
        if self.password_env is not None:
            if self.security == "none":
                raise ValueError(
                    "a login needs security starttls or tls: never send a password in clear"
                )
            try:
                self._password = from_environment(self.password_env)
            except ValueError as exc:
                raise ValueError(f"password_env: {exc}") from exc
        return self

    @property
    def password(self) -> str | None:
        return self._password


class RobotSettings(BaseModel):
    """A group robot (or a signed webhook receiver) and the language its group reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kind: RobotKind
    url: str
    secret_env: str | None = None
    language: Language = "zh-CN"

    _secret: str | None = PrivateAttr(default=None)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        url = _expand(raw)
        if not re.match(r"https?://[^/?#]+", url):
            raise ValueError(f"must be an http(s) URL, got {_REFERENCE.sub('***', raw)!r}")
        return url

    @model_validator(mode="before")
    @classmethod
    def _token_from_environment(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") in ("wecom", "dingtalk", "feishu"):
            url = data.get("url")
            if isinstance(url, str) and not _REFERENCE.search(url):
                # Whoever holds a robot's address can post to its group: the token is a secret.
                raise ValueError(
                    "url: a robot's address carries its token (access_token=, key=, /hook/...);"
                    " write the token as ${VARIABLE} and set the variable"
                )
        return data

    @model_validator(mode="after")
    def _signing_secret(self) -> RobotSettings:
        if self.kind == "webhook" and self.secret_env is None:
            raise ValueError("secret_env: a webhook is always signed; name the variable")
        if self.kind == "wecom" and self.secret_env is not None:
            raise ValueError(
                "secret_env: a WeCom robot has no signing secret (its key is in the URL)"
            )
        if self.secret_env is not None:
            try:
                self._secret = from_environment(self.secret_env)
            except ValueError as exc:
                raise ValueError(f"secret_env: {exc}") from exc
        return self

    @property
    def secret(self) -> str | None:
        return self._secret


class OnCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(min_length=1)
    hours: str | None = None
    """``HH:MM-HH:MM`` in the site's time (past midnight if the end is earlier); None:
    always on call."""

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: str | None) -> str | None:
        if hours is not None:
            match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)", hours)
            if match is None or hours[:5] == hours[6:]:
                raise ValueError(f"must be HH:MM-HH:MM with two different times, got {hours!r}")
        return hours

    @property
    def shift(self) -> Shift:
        if self.hours is None:
            return Shift(self.user)
        start, end = self.hours.split("-")
        return Shift(self.user, time.fromisoformat(start), time.fromisoformat(end))


class Routes(BaseModel):
    """Who hears each of the committee's and residents' notices
    (:mod:`maintenance.domain.routes`): roles, ``requester``, ``groups``; [] turns one off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_needed: tuple[Audience, ...] = DEFAULT_ROUTES["approval_needed"]
    proposal_opened: tuple[Audience, ...] = DEFAULT_ROUTES["proposal_opened"]
    vote_opened: tuple[Audience, ...] = DEFAULT_ROUTES["vote_opened"]
    vote_decided: tuple[Audience, ...] = DEFAULT_ROUTES["vote_decided"]
    request_update: tuple[Audience, ...] = DEFAULT_ROUTES["request_update"]
    digest: tuple[Audience, ...] = DEFAULT_ROUTES["digest"]

    @field_validator("approval_needed", "proposal_opened", "vote_opened", "vote_decided", "digest")
    @classmethod
    def _no_requester(cls, audience: tuple[Audience, ...]) -> tuple[Audience, ...]:
        if "requester" in audience:
            raise ValueError("requester: only a resident's request (request_update) has one")
        return audience


class SiteNotifySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: SmtpSettings | None = None
    robots: tuple[RobotSettings, ...] = ()
    people: dict[str, str] = {}
    """User id -> email address: a fallback for a user with no address of their own
    (``api_user.email``, set through the API or the account page), which wins."""
    on_call: tuple[OnCall, ...] = ()
    routes: Routes = Routes()
    digest_at: time = time(8, 0)
    """When the daily digest goes, in the site's time (``HH:MM``)."""

    @field_validator("digest_at", mode="before")
    @classmethod
    def _clock_time(cls, raw: Any) -> Any:
        # YAML reads 08:00 unquoted as a number of minutes (sexagesimal): ask for text.
        if not isinstance(raw, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw):
            raise ValueError(f'must be "HH:MM" (quoted), got {raw!r}')
        return time.fromisoformat(raw)

    @field_validator("people")
    @classmethod
    def _addresses(cls, people: dict[str, str]) -> dict[str, str]:
        for user, address in people.items():
            if not re.fullmatch(EMAIL_ADDRESS, address):
                raise ValueError(f"{user}: {address!r} is not an email address")
        return people

    @model_validator(mode="after")
    def _unique_names(self) -> SiteNotifySettings:
        names = [robot.name for robot in self.robots]
        if len(names) != len(set(names)):
            raise ValueError(f"robots: names must be unique, got {names}")
        return self


class NotifySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: dict[str, SiteNotifySettings] = {}
    warn_before_s: float = Field(default=300.0, ge=0)
    """A pre-breach warning goes this long before an order's SLA clock is due."""
    fold_window_s: float = Field(default=600.0, ge=0)
    """Repeats of a notice to one recipient within this many seconds go out as one."""
    max_attempts: int = Field(default=8, ge=1, le=30)
    backoff_initial_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    """For each robot post (mail has its own)."""
    proxy: str | None = None
    """Outbound HTTP proxy for the robots; environment proxy variables are not used."""

    @classmethod
    def load(cls, path: Path) -> NotifySettings:
        return load_yaml_model(cls, path)
