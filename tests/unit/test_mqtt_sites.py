"""Which sites a central worker owns: the setting, and the subscriptions it becomes."""

from __future__ import annotations

import pytest

from estatewatch.mqtt import ALL_SITES, parse_sites, site_filters
from ingest.settings import IngestSettings
from maintenance.settings import MaintenanceSettings


def test_sites_are_a_comma_list_or_a_sequence() -> None:
    assert parse_sites("north, south") == ("north", "south")
    assert parse_sites(["east"]) == ("east",)
    assert parse_sites("+") == ALL_SITES


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty site name"),
        ("north,,south", "empty site name"),
        ("north/east", "not a site name: north/east"),
        ("#", "not a site name: #"),
        ("$SYS", "not a site name: $SYS"),
        ("n+", "not a site name: n+"),
        (7, "a list of sites"),
    ],
)
def test_a_site_list_that_would_subscribe_to_something_else_is_refused(
    value: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem.replace("$", r"\$").replace("+", r"\+")):
        parse_sites(value)


def test_each_owned_site_is_three_plain_subscriptions() -> None:
    assert site_filters(("north",)) == [
        "estatewatch/north/+/+/telemetry",
        "estatewatch/north/+/+/event",
        "estatewatch/north/gateway/+/status",
    ]
    assert not any(f.startswith("$share/") for f in site_filters(ALL_SITES))


def test_workers_own_every_site_unless_told_and_read_the_list_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert IngestSettings().sites == ("+",)
    assert MaintenanceSettings().sites == ("+",)
    monkeypatch.setenv("ESTATEWATCH_INGEST_SITES", "north,south")
    monkeypatch.setenv("ESTATEWATCH_MAINTENANCE_SITES", "east")
    assert IngestSettings().sites == ("north", "south")
    assert MaintenanceSettings().sites == ("east",)
    assert IngestSettings(sites="west").sites == ("west",)  # type: ignore[arg-type]
