"""The demo's mail catcher keeps each mail in its file and says nothing on the screen."""

from __future__ import annotations

import json
import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from demo.notify_catcher import running_catchers

pytestmark = pytest.mark.integration


def test_a_mail_lands_in_the_file_and_not_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_catchers(tmp_path, "demo") as settings:
        email = yaml.safe_load(settings.read_text())["sites"]["demo"]["email"]
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "a@estate.demo", "b@estate.demo", "【P1】"
        mail.set_content("smoke-001")
        with smtplib.SMTP(email["host"], email["port"], timeout=10) as smtp:
            smtp.send_message(mail)
    (caught,) = [json.loads(line) for line in (tmp_path / "mail.jsonl").read_text().splitlines()]
    assert caught["subject"] == "【P1】"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("mail.")] == []
