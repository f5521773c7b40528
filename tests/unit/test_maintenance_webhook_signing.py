"""Webhook signing, verification for receivers, and the configuration file."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from estatewatch.errors import ConfigError
from maintenance.webhooks import (
    WebhookError,
    WebhookSender,
    WebhookSettings,
    sign,
    verify_signature,
)

BODY = b'{"id":"e1","type":"vote.needed","created_at":"2026-11-24T22:00:00+00:00","data":{}}'
STAMP = 1_795_000_000
AT = datetime.fromtimestamp(STAMP, UTC)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"k3y", b"1795000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("k3y", STAMP, BODY) == "sha256=" + expected


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "at", "valid"),
    [
        ("k3y", str(STAMP), BODY, AT, True),
        ("k3y", str(STAMP), BODY, AT + timedelta(minutes=5), True),  # edge of the window
        ("k3y", str(STAMP), BODY, AT + timedelta(minutes=5, seconds=1), False),  # replay
        ("k3y", str(STAMP), BODY, AT - timedelta(minutes=5, seconds=1), False),  # future
        ("k3y", str(STAMP + 1), BODY, AT, False),  # timestamp altered
        ("k3y", str(STAMP), BODY.replace(b"vote", b"vite"), AT, False),  # body altered
        ("other", str(STAMP), BODY, AT, False),
        ("k3y", "yesterday", BODY, AT, False),
    ],
)
def test_verify_signature(
    secret: str, timestamp: str, body: bytes, at: datetime, valid: bool
) -> None:
    signature = sign("k3y", STAMP, BODY)
    assert verify_signature(secret, timestamp, body, signature, now=at) is valid


def test_config_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - url: https://committee.example/hooks\n"
        "    secret: abc\n"
        "    events: [vote.needed, approval.needed]\n"
        "max_attempts: 3\n"
    )
    settings = WebhookSettings.load(path)
    (subscription,) = settings.subscriptions
    assert subscription.events == {"vote.needed", "approval.needed"}
    assert settings.max_attempts == 3
    assert "abc" not in repr(settings)  # the secret is not printed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{url: https://a.example/, secret: '  ', events: [sla.breached]}", "secret: Value error"),
        ("{url: ftp://a.example/, secret: x, events: [sla.breached]}", "url: Value error"),
        ("{url: https://a.example/, secret: x, events: [sla.brached]}", "events[0]"),
        ("{url: https://a.example/, secret: x, events: []}", "events"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "webhooks.yaml"
    path.write_text(f"subscriptions:\n  - {entry}\n")
    with pytest.raises(ConfigError, match="subscriptions") as caught:
        WebhookSettings.load(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_publish_outside_async_with_is_refused() -> None:
    sender = WebhookSender(WebhookSettings(), lambda: AT)
    with pytest.raises(WebhookError, match="not running"):
        sender.publish("vote.needed", {})


async def test_unknown_event_type_is_refused() -> None:
    async with WebhookSender(WebhookSettings(), lambda: AT) as sender:
        with pytest.raises(WebhookError, match=r"unknown webhook event type 'vote\.neded'"):
            sender.publish("vote.neded", {})  # type: ignore[arg-type]
