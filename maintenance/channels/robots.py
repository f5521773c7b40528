"""Group robots of enterprise chat, and estatewatch's own signed webhook, as channels.

Each posts a short text to one group over HTTPS; the robot's address (with its token)
and its signing secret come from the settings file and the environment
(:mod:`maintenance.channels.settings`). Signing rules, as the vendors publish them:

WeCom (企业微信 group robot)
    ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with
    ``{"msgtype": "text", "text": {"content": ...}}``. No signature: the ``key`` is the
    secret. Answer ``{"errcode": 0, "errmsg": "ok"}``; 45009 means too many messages
    (20 a minute per robot), retried later.
DingTalk (钉钉 custom robot, "加签")
    ``timestamp`` in milliseconds; ``sign = base64(HMAC-SHA256(key=secret,
    msg=f"{timestamp}\\n{secret}"))``, URL-encoded, both appended to the query:
    ``...robot/send?access_token=T&timestamp=...&sign=...``. The server refuses a
    timestamp more than an hour off. Body as WeCom's; answer ``{"errcode": 0}``; 130101
    (sending too fast) is retried later.
Feishu / Lark (飞书 custom bot, "签名校验")
    ``timestamp`` in seconds; ``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
    msg=b""))``: the string is the *key* of an empty message. Both go in the body:
    ``{"timestamp": "...", "sign": "...", "msg_type": "text", "content": {"text": ...}}``.
    Answer ``{"code": 0, "msg": "success"}``.
estatewatch webhook
    The envelope and headers of :mod:`maintenance.webhooks` (``X-Estatewatch-Signature``
    over ``f"{timestamp}.{body}"``), type ``notification``, ``data`` holding the
    ``subject``, ``text`` and ``language``; ``id`` is the notification's id.

A message with a ``mention`` is for one person in the group: the robot @mentions that chat
handle the vendor's way (WeCom ``text.mentioned_list``, the member's userid; DingTalk
``at.atUserIds``, or ``at.atMobiles`` for a phone number, with ``@handle`` in the text
as DingTalk requires; Feishu ``<at user_id="handle"></at>`` in the text; the webhook
``data.mention``).

Errors: a network failure, a timeout, HTTP 429 or 5xx, or a robot's rate-limit code is
a retryable :class:`~maintenance.channels.base.ChannelError`; any other refusal (4xx, a
non-zero code such as a bad signature or key) is not, since the same post would be
refused again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx

from estatewatch.clock import Clock
from maintenance.channels.base import ChannelError, Outgoing
from maintenance.webhooks import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from maintenance.webhooks import sign as sign_webhook

__all__ = [
    "DingTalkRobot",
    "FeishuRobot",
    "SignedWebhook",
    "WeComRobot",
    "dingtalk_sign",
    "feishu_sign",
]

# Codes a robot answers when it is sent too much: the message itself is fine.
_RATE_LIMITED: Final = frozenset({45009, 130101})


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` (not yet URL-encoded) for ``timestamp_ms``."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign`` for ``timestamp_s``: the signed string is the HMAC's key."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _text(message: Outgoing) -> str:
    return f"{message.subject}\n{message.text}"


def _wecom_text(message: Outgoing) -> dict[str, Any]:
    text: dict[str, Any] = {"content": _text(message)}
    if message.mention:
        text["mentioned_list"] = [message.mention]
    return {"msgtype": "text", "text": text}


def _dingtalk_text(message: Outgoing) -> dict[str, Any]:
    if not message.mention:
        return {"msgtype": "text", "text": {"content": _text(message)}}
    # DingTalk shows the mention only when the text names it too.
    who = "atMobiles" if message.mention.lstrip("+").isdigit() else "atUserIds"
    return {
        "msgtype": "text",
        "text": {"content": f"{_text(message)}\n@{message.mention}"},
        "at": {who: [message.mention]},
    }


def _loggable(url: str) -> str:
    """The URL without its query or path tail, which carry the robot's token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rsplit("/", 1)[0] + "/…", "", ""))


class _Robot:
    """One HTTP POST per message through a shared client; answers classified once."""

    kind: str = ""
    needs_address = False

    def __init__(
        self, name: str, url: str, secret: str | None, client: httpx.AsyncClient, clock: Clock
    ) -> None:
        self._name = f"{self.kind}:{name}"
        self._url, self._secret, self._client, self._clock = url, secret, client, clock

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name}, {_loggable(self._url)})"

    async def send(self, message: Outgoing) -> None:
        url, body, headers = self._request(message)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, DNS, timeouts
            raise ChannelError(self._name, _describe(exc), retryable=True) from exc
        except httpx.RequestError as exc:
            raise ChannelError(self._name, _describe(exc), retryable=False) from exc
        status = response.status_code
        if not 200 <= status < 300:
            reason = f"HTTP {status} {response.reason_phrase}".rstrip()
            raise ChannelError(self._name, reason, retryable=status == 429 or status >= 500)
        self._check_answer(response)

    def _request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        raise NotImplementedError

    def _check_answer(self, response: httpx.Response) -> None:
        """A chat robot answers 200 with its own code: 0 is delivered."""
        try:
            answer = response.json()
        except ValueError as exc:
            raise ChannelError(self._name, "the answer is not JSON", retryable=False) from exc
        code = answer.get("errcode", answer.get("code")) if isinstance(answer, dict) else None
        if code == 0:
            return
        detail = answer.get("errmsg", answer.get("msg")) if isinstance(answer, dict) else answer
        raise ChannelError(
            self._name, f"refused with code {code}: {detail}", retryable=code in _RATE_LIMITED
        )


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


_JSON: Final = {"Content-Type": "application/json; charset=utf-8"}


class WeComRobot(_Robot):
    kind = "wecom"

    def _request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        return self._url, _json(_wecom_text(message)), _JSON


class DingTalkRobot(_Robot):
    kind = "dingtalk"

    def _request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        url = self._url
        if self._secret is not None:
            timestamp = int(self._clock().timestamp() * 1000)
            signature = quote_plus(dingtalk_sign(self._secret, timestamp))
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={signature}"
        return url, _json(_dingtalk_text(message)), _JSON


class FeishuRobot(_Robot):
    kind = "feishu"

    def _request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        text = _text(message)
        if message.mention:  # the handle is checked on the way in: no quote can break the tag
            text = f'<at user_id="{message.mention}"></at> {text}'
        document: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
        if self._secret is not None:
            timestamp = int(self._clock().timestamp())
            document |= {"timestamp": str(timestamp), "sign": feishu_sign(self._secret, timestamp)}
        return self._url, _json(document), _JSON


class SignedWebhook(_Robot):
    kind = "webhook"

    def _request(self, message: Outgoing) -> tuple[str, bytes, dict[str, str]]:
        assert self._secret is not None  # the settings require one for webhooks
        now = self._clock()
        body = _json(
            {
                "id": message.id,
                "type": "notification",
                "created_at": now.isoformat(),
                "data": {
                    "subject": message.subject,
                    "text": message.text,
                    "language": message.language,
                    **({"mention": message.mention} if message.mention else {}),
                },
            }
        )
        timestamp = int(now.timestamp())
        headers = _JSON | {
            EVENT_HEADER: "notification",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign_webhook(self._secret, timestamp, body),
        }
        return self._url, body, headers

    def _check_answer(self, response: httpx.Response) -> None:
        """Any 2xx is delivered: a webhook receiver owes no answer body."""


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
