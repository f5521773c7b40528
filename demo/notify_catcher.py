"""The demo's stand-ins for a mail server and a chat group: what the platform notifies
lands in files under the work directory instead of reaching anyone.

:func:`running_catchers` starts, on loopback, an SMTP server (aiosmtpd) that appends
each mail to ``mail.jsonl`` (``to``, ``subject``, ``body``) and a WeCom-style robot
endpoint that appends each post to ``robot.jsonl`` and answers as WeCom does; it writes
the notification settings file pointing the demo site at them (its technician on
call; the demo's users carry their own addresses, ``demo-ROLE@estate.demo``, given when
they are added). Real servers are the same file with their
addresses (README, "Notifications").
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from infra.local import free_ports

__all__ = ["KEY_VARIABLE", "received", "running_catchers"]

KEY_VARIABLE = "ESTATEWATCH_DEMO_ROBOT_KEY"
"""The robot's key, as a real one would come: from the environment, not the file."""


def _append(path: Path, record: dict[str, Any], lock: threading.Lock) -> None:
    with lock, path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def received(envelope: Envelope) -> dict[str, str]:
    """A mail as an SMTP server received it: ``to``, ``subject`` and the text ``body``."""
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body()
    text = body.get_content() if body is not None else ""
    return {"to": str(mail["To"]), "subject": str(mail["Subject"]), "body": text}


class _Mailbox:
    def __init__(self, path: Path) -> None:
        self.path, self.lock = path, threading.Lock()

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        _append(self.path, received(envelope), self.lock)
        return "250 OK"


def _robot_handler(path: Path) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Robot(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            _append(path, json.loads(body), lock)
            answer = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the posts are in the file."""

    return Robot


@contextmanager
def running_catchers(directory: Path, site: str) -> Iterator[Path]:
    """The catchers running; yields the notification settings file for ``site``."""
    directory.mkdir(parents=True, exist_ok=True)
    smtp_port, http_port = free_ports(2)
    mail = Controller(_Mailbox(directory / "mail.jsonl"), hostname="127.0.0.1", port=smtp_port)
    robot = ThreadingHTTPServer(("127.0.0.1", http_port), _robot_handler(directory / "robot.jsonl"))
    os.environ.setdefault(KEY_VARIABLE, "demo-robot-key")  # the maintenance worker inherits it
    settings = directory / "notify.yaml"
    document = {
        "sites": {
            site: {
                "email": {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",  # loopback only; a real server: starttls and login
                    "sender": "estatewatch demo <notify@estate.demo>",
                },
                "robots": [
                    {
                        "name": "duty",
                        "kind": "wecom",
                        "url": f"http://127.0.0.1:{http_port}/cgi-bin/webhook/send"
                        f"?key=${{{KEY_VARIABLE}}}",
                    }
                ],
                "on_call": [{"user": "demo-technician"}],
            }
        }
    }
    settings.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    # aiosmtpd logs every connection at INFO (six lines a mail) on the demo's screen; the
    # mails are in the file, as the robot's posts are.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    mail.start()
    serving = threading.Thread(target=robot.serve_forever, name="demo-robot", daemon=True)
    serving.start()
    try:
        yield settings
    finally:
        robot.shutdown()
        robot.server_close()
        mail.stop()
