"""Smoke-alarm payloads to readings or dead letters, and heartbeat liveness (no servers)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from estatewatch.catalogue import Profile, builtin_catalogue
from estatewatch.errors import ConfigError
from estatewatch.wire import DeadLetter, EventKind, FieldValue
from gateway.config import MqttSourceConfig, TlsConfig
from gateway.metrics import DeviceState, GatewayMetrics
from gateway.mqtt_source import DeadLetterLog, MqttSource, client_id
from gateway.sink import DeviceInfo
from gateway.smoke_normalise import (
    DEAD_LETTER_PAYLOAD_BYTES,
    Normalised,
    OfflineTracker,
    PayloadNormaliser,
    RecentPayloads,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TS = int((NOW - timedelta(seconds=5)).timestamp())
TOPIC = "vendor/smoke/smk-0042/up"
VALID: dict[str, Any] = {
    "devId": "smk-0042",
    "msgType": "heartbeat",
    "battery": 87,
    "smoke": 0.12,
    "temp": 21.5,
    "ts": TS,
    "seq": 311,
    "fw": "2.3.0",
}
HOUR = 3600.0


class NullSink:
    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        pass

    def event(
        self, device: DeviceInfo, ts: datetime, kind: EventKind, detail: Mapping[str, FieldValue]
    ) -> None:
        pass

    def when_stored(self, callback: Callable[[], None]) -> None:
        callback()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def profile() -> Profile:
    return builtin_catalogue()["smoke-alarm"]


@pytest.fixture
def source() -> MqttSourceConfig:
    return MqttSourceConfig(
        name="smoke",
        topic="vendor/smoke/+/up",
        devices={"smk-0042": {"building": "b3", "location": "kitchen 3-402"}},
        default_tags={"building": "unknown"},
    )


@pytest.fixture
def normaliser(profile: Profile, source: MqttSourceConfig) -> PayloadNormaliser:
    return PayloadNormaliser(profile, source, site="rose-garden", gateway_id="gw-1")


def body(**changes: Any) -> bytes:
    payload = {**VALID, **changes}
    return json.dumps({k: v for k, v in payload.items() if v is not ...}).encode()


def accepted(result: Normalised | DeadLetter) -> Normalised:
    assert isinstance(result, Normalised), result
    return result


def refused(result: Normalised | DeadLetter) -> DeadLetter:
    assert isinstance(result, DeadLetter), result
    return result


# --- accepted payloads ----------------------------------------------------------------


def test_vendor_json_becomes_fields_tags_units_and_utc_time(
    normaliser: PayloadNormaliser,
) -> None:
    result = accepted(normaliser.normalise(TOPIC, body(), NOW))
    assert result.fields == {
        "message_type": "heartbeat",
        "battery": 87,
        "smoke_obscuration": 0.12,
        "temperature": 21.5,
        "vendor_sequence": 311,
        "firmware": "2.3.0",
    }
    assert result.ts == datetime.fromtimestamp(TS, UTC)
    assert result.ts.tzinfo is UTC
    device = result.device
    assert (device.device_id, device.device_type, device.profile) == (
        "smk-0042",
        "smoke_alarm",
        "smoke-alarm",
    )
    assert device.tags == {"building": "b3", "location": "kitchen 3-402"}
    assert device.units == {"battery": "%", "smoke_obscuration": "%/m", "temperature": "degC"}
    assert result.message is None  # a heartbeat is no news


def test_optional_fields_are_left_out_when_absent(normaliser: PayloadNormaliser) -> None:
    result = accepted(normaliser.normalise(TOPIC, body(seq=..., fw=...), NOW))
    assert set(result.fields) == {"message_type", "battery", "smoke_obscuration", "temperature"}


def test_an_unknown_device_gets_the_default_tags(normaliser: PayloadNormaliser) -> None:
    topic = "vendor/smoke/smk-9999/up"
    result = accepted(normaliser.normalise(topic, body(devId="smk-9999"), NOW))
    assert result.device.tags == {"building": "unknown"}


@pytest.mark.parametrize(
    "message_type",
    ["alarm", "alarm_silenced", "low_battery", "fault", "removed", "reinstalled", "self_test"],
)
def test_news_also_makes_a_message_event(normaliser: PayloadNormaliser, message_type: str) -> None:
    result = accepted(normaliser.normalise(TOPIC, body(msgType=message_type), NOW))
    assert result.message == {"message_type": message_type}
    assert result.fields["message_type"] == message_type


def test_a_bridge_prefix_on_the_topic_is_accepted(normaliser: PayloadNormaliser) -> None:
    accepted(normaliser.normalise(f"site7/{TOPIC}", body(), NOW))


def test_a_timestamp_a_little_ahead_of_the_gateway_is_accepted(
    normaliser: PayloadNormaliser,
) -> None:
    # Alarm clocks drift; minutes ahead is a fact about the alarm, not a reason to drop it.
    ahead = int((NOW + timedelta(hours=23)).timestamp())
    assert accepted(normaliser.normalise(TOPIC, body(ts=ahead), NOW)).ts > NOW


# --- dead letters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{not json", "payload is not JSON"),
        (TOPIC, b"\xff\xfe\x00", "payload is not JSON"),
        (TOPIC, b"", "payload is not JSON"),
        (TOPIC, b"[1, 2]", "payload must be a JSON object"),
        (TOPIC, b'"alarm"', "payload must be a JSON object"),
        (TOPIC, body(battery="87"), "battery: Input should be a valid integer"),
        (TOPIC, body(temp="hot"), "temp: Input should be a valid number"),
        (TOPIC, body(devId=42), "devId: Input should be a valid string"),
        (TOPIC, body(battery=140), "battery: Input should be less than or equal to 100"),
        (TOPIC, body(temp=-40.0), "temp: Input should be greater than or equal to -20"),
        (TOPIC, body(msgType="explode"), "msgType: Input should be 'heartbeat'"),
        (TOPIC, body(temp=...), "temp: Field required"),
        (
            "vendor/smoke/smk-0001/up",
            body(),
            "devId 'smk-0042' does not match the device 'smk-0001' in topic",
        ),
        ("vendor/smoke/smk-0042/down", body(), "does not match the profile's vendor/smoke/"),
        ("smk-0042", body(), "does not match the profile's vendor/smoke/{device_id}/up"),
        (
            "vendor/smoke/a b/up",
            body(devId="a b"),
            "devId 'a b' is not a usable device id",
        ),
        (
            "vendor/smoke/smk-1/up",
            body(devId="smk-1\n"),  # a pattern's "$" matches before a last newline
            "devId 'smk-1\\n' is not a usable device id",
        ),
        (
            TOPIC,
            body(ts=int((NOW + timedelta(days=1, seconds=1)).timestamp())),
            "is more than a day ahead of the gateway's clock (2026-03-01T12:00:00Z)",
        ),
        (TOPIC, body(ts=10**15), "is more than a day ahead"),
        (TOPIC, body(ts=946_684_799), "ts 946684799 is before 2000-01-01"),
        (TOPIC, body(ts=0), "ts 0 is before 2000-01-01: the alarm's clock is unset"),
        (TOPIC, b" " * 70_000 + body(), "payload of 70"),
    ],
    ids=[
        "not json",
        "not utf-8",
        "empty",
        "array",
        "string",
        "int as text",
        "float as text",
        "id not a string",
        "battery over 100",
        "temperature below sensor range",
        "unknown msgType",
        "missing key",
        "id and topic differ",
        "other topic",
        "topic too short",
        "unusable id",
        "id with a last newline",
        "more than a day ahead",
        "absurd future",
        "before 2000",
        "clock unset",
        "too large",
    ],
)
def test_bad_payloads_are_dead_letters_with_a_reason(
    normaliser: PayloadNormaliser, topic: str, payload: bytes, reason: str
) -> None:
    letter = refused(normaliser.normalise(topic, payload, NOW))
    assert reason in letter.reason
    assert letter.reason.startswith("smoke-alarm: ")
    assert (letter.gateway_id, letter.site, letter.ts) == ("gw-1", "rose-garden", NOW)
    assert letter.source_topic == topic
    assert letter.payload == payload[:DEAD_LETTER_PAYLOAD_BYTES].decode(errors="replace")


def test_a_dead_letter_keeps_8_kib_of_the_payload_decoded_with_replacement(
    normaliser: PayloadNormaliser,
) -> None:
    payload = b"\xff" + b"x" * 20_000
    letter = refused(normaliser.normalise(TOPIC, payload, NOW))
    assert len(letter.payload) == DEAD_LETTER_PAYLOAD_BYTES
    assert letter.payload.startswith("\ufffdxxx")
    assert "(payload of 20001 bytes, kept the first 8 KiB)" in letter.reason


def test_every_problem_of_a_payload_is_named_at_once(normaliser: PayloadNormaliser) -> None:
    letter = refused(normaliser.normalise(TOPIC, body(battery=-1, smoke="thick"), NOW))
    assert "battery:" in letter.reason
    assert "smoke:" in letter.reason


def test_the_topic_device_follows_the_template(normaliser: PayloadNormaliser) -> None:
    assert normaliser.topic_device("vendor/smoke/x1/up") == "x1"
    assert normaliser.topic_device("bridge/vendor/smoke/x1/up") == "x1"
    assert normaliser.topic_device("vendor/smoke/x1") is None
    assert normaliser.topic_device("vendor/fire/x1/up") is None


def test_a_profile_that_is_not_mqtt_is_refused(source: MqttSourceConfig) -> None:
    with pytest.raises(ValueError, match="does not describe an MQTT payload"):
        PayloadNormaliser(
            builtin_catalogue()["elevator-nice3000"], source, site="s", gateway_id="g"
        )


# --- redeliveries -----------------------------------------------------------------------


def test_a_redelivered_payload_is_recognised_within_the_window() -> None:
    recent = RecentPayloads(size=3)
    assert not recent.seen_before(TOPIC, b"a")
    assert recent.seen_before(TOPIC, b"a")
    assert not recent.seen_before("vendor/smoke/other/up", b"a")  # same bytes, other device
    assert not recent.seen_before(TOPIC, b"b")
    assert not recent.seen_before(TOPIC, b"c")  # pushes b"a" out of the window
    assert not recent.seen_before(TOPIC, b"a")
    assert recent.seen_before(TOPIC, b"c")


# --- offline tracking --------------------------------------------------------------------


def tracker_for(profile: Profile, source: MqttSourceConfig, clock: FakeClock) -> OfflineTracker:
    return OfflineTracker.for_source(profile, source, clock)


def test_the_limit_is_the_heartbeat_times_the_missed_heartbeats(
    profile: Profile, source: MqttSourceConfig
) -> None:
    assert tracker_for(profile, source, FakeClock()).limit_s == 3 * HOUR
    five = source.model_copy(update={"missed_heartbeats": 5})
    assert tracker_for(profile, five, FakeClock()).limit_s == 5 * HOUR


def test_offline_after_three_missed_heartbeats_and_online_on_the_next_message(
    profile: Profile, source: MqttSourceConfig
) -> None:
    clock = FakeClock()
    tracker = tracker_for(profile, source, clock)
    first = tracker.seen("smk-0042")
    assert first is not None
    assert first.state is DeviceState.ONLINE
    for _ in range(3):  # three heartbeats, on time
        clock.advance(HOUR)
        assert tracker.seen("smk-0042") is None
        assert tracker.check() == []

    clock.advance(3 * HOUR)  # exactly three missed: not yet more than the limit
    assert tracker.check() == []
    clock.advance(1.0)
    (gone,) = tracker.check()
    assert (gone.device_id, gone.state, gone.silent_s) == (
        "smk-0042",
        DeviceState.OFFLINE,
        3 * HOUR + 1,
    )
    assert tracker.state("smk-0042") is DeviceState.OFFLINE
    clock.advance(HOUR)
    assert tracker.check() == []  # reported once per silence

    back = tracker.seen("smk-0042")
    assert back is not None
    assert (back.state, back.silent_s) == (DeviceState.ONLINE, 4 * HOUR + 1)
    assert tracker.seen("smk-0042") is None
    clock.advance(3 * HOUR + 1)
    assert [t.device_id for t in tracker.check()] == ["smk-0042"]  # and can go again


def test_a_known_device_never_heard_from_goes_offline(
    profile: Profile, source: MqttSourceConfig
) -> None:
    clock = FakeClock()
    tracker = tracker_for(profile, source, clock)
    assert tracker.state("smk-0042") is None
    clock.advance(3 * HOUR + 1)
    assert [t.device_id for t in tracker.check()] == ["smk-0042"]


def test_an_unknown_device_is_tracked_from_its_first_message(
    profile: Profile, source: MqttSourceConfig
) -> None:
    clock = FakeClock()
    tracker = OfflineTracker.for_source(profile, source.model_copy(update={"devices": {}}), clock)
    clock.advance(10 * HOUR)
    assert tracker.check() == []
    tracker.seen("smk-new")
    clock.advance(3 * HOUR + 1)
    assert [t.device_id for t in tracker.check()] == ["smk-new"]


def test_silence_while_paused_does_not_count(profile: Profile, source: MqttSourceConfig) -> None:
    clock = FakeClock()
    tracker = tracker_for(profile, source, clock)
    tracker.seen("smk-0042")
    clock.advance(2 * HOUR)
    tracker.pause()  # the local broker went away: the alarms could not have reached us
    clock.advance(10 * HOUR)
    assert tracker.check() == []
    tracker.resume()
    clock.advance(HOUR)
    assert tracker.check() == []
    clock.advance(1.0)
    assert [t.device_id for t in tracker.check()] == ["smk-0042"]


def test_a_profile_without_a_heartbeat_group_is_refused(
    profile: Profile, source: MqttSourceConfig
) -> None:
    silent = dataclasses.replace(profile, poll_groups={"default": 1.0})
    with pytest.raises(ConfigError, match="no 'heartbeat' poll group"):
        OfflineTracker.for_source(silent, source, FakeClock())


# --- the source's own pure helpers -------------------------------------------------------


def letter(reason: str) -> DeadLetter:
    return DeadLetter(
        gateway_id="gw-1", site="s", ts=NOW, source_topic=TOPIC, reason=reason, payload="x"
    )


def test_dead_letters_are_logged_once_a_minute_per_device_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.dead_letters")
    dead = DeadLetterLog(logger, clock)
    with caplog.at_level(logging.WARNING, logger="test.dead_letters"):
        for n in range(10):
            dead.record("smk-1", letter(f"bad {n}"))
            clock.advance(1.0)
        dead.record("smk-2", letter("other"))
        dead.flush()
        assert [r.getMessage() for r in caplog.records] == [
            f"dead letter from smk-1 on {TOPIC}: bad 0",
            f"dead letter from smk-2 on {TOPIC}: other",
        ]
        clock.advance(60.0)
        dead.flush()
        dead.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[2:] == ["dead letter from smk-1: 9 more within 60 s (latest: bad 9)"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_the_client_id_is_fixed_per_gateway_and_source(source: MqttSourceConfig) -> None:
    assert client_id("gw-1", source) == "estatewatch-gw-gw-1-smoke"
    named = source.model_copy(update={"client_id": "my-id"})
    assert client_id("gw-1", named) == "my-id"


async def test_an_invalid_topic_filter_is_a_config_error(
    profile: Profile, source: MqttSourceConfig
) -> None:
    bad = source.model_copy(update={"topic": "vendor/smoke/#/up"})
    with pytest.raises(ConfigError, match=r"mqtt_sources \(smoke\)\.topic"):
        MqttSource(
            bad,
            profile,
            site="s",
            gateway_id="g",
            sink=NullSink(),
            on_dead_letter=lambda _: None,
            metrics=GatewayMetrics(),
        )


async def test_an_unreadable_tls_file_is_a_config_error_at_start(
    profile: Profile, source: MqttSourceConfig, tmp_path: Path
) -> None:
    tls = TlsConfig(ca_file=tmp_path / "missing-ca.pem")
    mqtt = MqttSource(
        source.model_copy(update={"tls": tls}),
        profile,
        site="s",
        gateway_id="g",
        sink=NullSink(),
        on_dead_letter=lambda _: None,
        metrics=GatewayMetrics(),
    )
    with pytest.raises(ConfigError, match=r"mqtt_sources \(smoke\)\.tls: .*No such file"):
        async with mqtt:
            pass
