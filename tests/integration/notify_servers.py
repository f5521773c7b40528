"""Stand-ins for the servers notifications go to, on loopback, for the notify tests.

:class:`MailServer`: aiosmtpd with STARTTLS required before login (a trustme
certificate) and one account, keeping every message it accepts. :class:`RobotServer`:
one HTTP/1.1 server that plays WeCom, DingTalk, Feishu and an estatewatch webhook
receiver by path, checking each request's key or signature the way that vendor
documents it (computed here from the formula, not with the code under test) and
answering as that vendor does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from estatewatch.ports import free_ports
from maintenance.webhooks import verify_signature

MAIL_USER, MAIL_PASSWORD = "notify@estate.test", "mail-password-for-tests"
WECOM_KEY = "wecom-key-for-tests"
DINGTALK_TOKEN, DINGTALK_SECRET = "ding-token-for-tests", "SECding-secret-for-tests"
FEISHU_HOOK, FEISHU_SECRET = "feishu-hook-for-tests", "feishu-secret-for-tests"
WEBHOOK_SECRET = "webhook-secret-for-tests"


@dataclass
class MailServer:
    """aiosmtpd on a free port; ``ca_file`` is what clients must trust."""

    ca_file: Path
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    """Addresses answered with 550."""

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append(mail)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (MAIL_USER, MAIL_PASSWORD)
    return AuthResult(success=ok, handled=False)


@asynccontextmanager
async def mail_server(directory: Path) -> AsyncIterator[MailServer]:
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    handler = MailServer(ca_file, port=free_ports(1)[0])
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=handler.port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    await asyncio.to_thread(controller.start)
    try:
        yield handler
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass
class Post:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    document: dict[str, Any]
    accepted: bool


@dataclass
class RobotServer:
    port: int = 0
    posts: list[Post] = field(default_factory=list)
    script: dict[str, list[int | dict[str, Any]]] = field(default_factory=dict)
    """Per path: answers to give first (an HTTP status, or a JSON answer), then the normal one."""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Post]:
        return [post for post in self.posts if post.path == path]

    def _judge(
        self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[bool, dict[str, Any]]:
        """Whether the vendor would accept the request, and its answer."""
        document = json.loads(body)
        now = datetime.now(UTC).timestamp()
        if path == "/cgi-bin/webhook/send":  # WeCom: the key is the credential
            ok = query.get("key") == WECOM_KEY and document["msgtype"] == "text"
            return ok, {"errcode": 0 if ok else 93000, "errmsg": "ok" if ok else "invalid key"}
        if path == "/robot/send":  # DingTalk: HMAC(secret, "ts\nsecret"), in the query
            timestamp = query.get("timestamp", "0")
            expected = base64.b64encode(
                hmac.new(
                    DINGTALK_SECRET.encode(),
                    f"{timestamp}\n{DINGTALK_SECRET}".encode(),
                    hashlib.sha256,
                ).digest()
            ).decode()
            ok = (
                query.get("access_token") == DINGTALK_TOKEN
                and abs(int(timestamp) / 1000 - now) < 3600
                and hmac.compare_digest(query.get("sign", ""), expected)
            )
            return ok, {"errcode": 0 if ok else 310000, "errmsg": "ok" if ok else "sign not match"}
        if path == f"/open-apis/bot/v2/hook/{FEISHU_HOOK}":  # Feishu: "ts\nsecret" is the key
            timestamp = str(document.get("timestamp", "0"))
            expected = base64.b64encode(
                hmac.new(f"{timestamp}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            ok = abs(int(timestamp) - now) < 3600 and hmac.compare_digest(
                str(document.get("sign", "")), expected
            )
            return ok, {"code": 0 if ok else 19021, "msg": "success" if ok else "sign match fail"}
        ok = verify_signature(
            WEBHOOK_SECRET,
            headers.get("x-estatewatch-timestamp", ""),
            body,
            headers.get("x-estatewatch-signature", ""),
            now=datetime.now(UTC),
        )
        return ok, {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                _, target, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, value = line.decode().split(":", 1)
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                # parse_qs decodes once, as the vendors' servers do with the sign.
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                ok, answer = self._judge(parts.path, query, headers, body)
                self.posts.append(Post(parts.path, query, headers, json.loads(body), ok))
                status = 200 if ok or answer else 401
                pending = self.script.get(parts.path)
                if pending:
                    scripted = pending.pop(0)
                    if isinstance(scripted, int):
                        status, answer = scripted, {}
                    else:
                        answer = scripted
                content = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(content)}\r\n\r\n".encode()
                    + content
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def robot_server() -> AsyncIterator[RobotServer]:
    robots = RobotServer()
    server = await asyncio.start_server(robots.handle, "127.0.0.1", 0)
    robots.port = server.sockets[0].getsockname()[1]
    async with server:
        yield robots
