"""docs/devices.md is generated from the catalogue and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from estatewatch.catalogue import builtin_catalogue, load_profile
from estatewatch.catalogue.loader import PROFILES_DIR
from estatewatch.catalogue.markdown import (
    parameter_name,
    profile_blocks,
    render_catalogue,
    render_profile,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_committed_docs_match_the_catalogue() -> None:
    expected = render_catalogue(builtin_catalogue())
    committed = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    assert committed == expected, (
        "docs/devices.md is out of date with the device profiles: run "
        "'estatewatch catalogue docs' from the repository root and commit the result"
    )


def test_rendering_is_independent_of_the_machine() -> None:
    text = render_catalogue(builtin_catalogue())
    assert str(PROFILES_DIR) not in text
    assert "file: `estatewatch/catalogue/profiles/elevator-nice3000.yaml`" in text


@pytest.mark.parametrize(
    ("address", "name"),
    [(0xF90B, "F9-11"), (0xF909, "F9-09"), (0xFA07, "FA-07"), (0xF000, "F0-00"), (0x8000, None)],
)
def test_parameter_names(address: int, name: str | None) -> None:
    assert parameter_name(address) == name


def _table_rows(markdown: str, title: str) -> list[list[str]]:
    """The cells of the rows under the heading ``title``."""
    section = markdown.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_elevator_holding_registers_sorted_by_address() -> None:
    text = render_profile(builtin_catalogue()["elevator-nice3000"])
    rows = _table_rows(text, "Holding registers (read 03, write 06/16)")
    addresses = [int(row[0].split()[0].split("-")[0], 16) for row in rows]
    assert addresses == sorted(addresses)
    assert len(rows) == 39  # 36, and the box's final limits and earthquake sensor
    by_key = {row[1]: row for row in rows}
    assert by_key["`speed`"] == [
        "0x1010",
        "`speed`",
        "u16",
        "0.001",
        "m/s",
        "fast",
        "running speed (0-4.5 m/s)",
        "",
    ]
    assert by_key["`run_count`"][:3] == [
        "0xF90B-0xF90C (F9-11/F9-12)",
        "`run_count`",
        "u32_base10k, high word first",
    ]
    assert by_key["`heatsink_temperature`"][0] == "0xFA07 (FA-07)"
    assert by_key["`mode`"][2] == "u16, bits 4-7"
    assert by_key["`overload`"][2] == "bool, bit 13"
    assert by_key["`direction`"][7] == "1=up, 2=down, 3=stopped"


def test_elevator_fault_table() -> None:
    text = render_profile(builtin_catalogue()["elevator-nice3000"])
    rows = _table_rows(text, "Fault codes")
    assert rows[0] == ["22", "E22", "1", "levelling signal abnormal"]
    assert ["41", "E41", "5", "safety circuit open"] in rows
    assert [int(row[0]) for row in rows] == sorted(int(row[0]) for row in rows)


def test_elevator_gbt24476_table_lists_only_mapped_faults() -> None:
    text = render_profile(builtin_catalogue()["elevator-nice3000"])
    rows = _table_rows(text, "GB/T 24476 fault codes")
    assert ["41", "E41", "01", "safety circuit open while running"] in rows
    assert ["49", "E49", "02", "door fails to close"] in rows
    assert "39" not in [row[0] for row in rows], "motor overheat has no GB/T 24476 code"


def test_charger_ports_are_shown_once_with_base_and_stride() -> None:
    charger = builtin_catalogue()["charger-8port"]
    text = render_profile(charger)
    rows = _table_rows(text, "Input registers (read 04): repeated group `port`")
    assert [row[1] for row in rows] == [
        "`state`",
        "`voltage`",
        "`current`",
        "`power`",
        "`energy`",
        "`temperature`",
        "`stop_reason`",
        "`fault`",
        "`session_minutes`",
    ]
    assert rows[3][:3] == ["+0x0003-0x0004", "`power`", "u32, high word first"]
    assert rows[4][2] == "f32, low word first"
    assert "with base 0x0100 and stride 0x0010 (port1 at 0x0100, port8 at 0x0170)" in text
    assert "port3" not in text
    # Every offset in the table plus base + (N-1)*stride is a real field's address.
    for row in rows:
        offset = int(row[0].lstrip("+").split("-")[0], 16)
        name = row[1].strip("`")
        assert charger.field(f"port8.{name}").address == 0x0100 + 7 * 0x0010 + offset


def test_blocks_follow_the_modbus_table_order() -> None:
    titles = [b.title for b in profile_blocks(builtin_catalogue()["charger-8port"])]
    assert titles == [
        "Holding registers (read 03, write 06/16)",
        "Input registers (read 04)",
        "Input registers (read 04): repeated group `port`",
        "Coils (read 01, write 05/15): repeated group `relay`",
        "Discrete inputs (read 02)",
    ]


def test_mqtt_profile_shows_topic_and_payload() -> None:
    text = render_profile(builtin_catalogue()["smoke-alarm"])
    assert "- topic: `vendor/smoke/{device_id}/up`" in text
    assert "- reporting: heartbeat every 3600 s" in text
    rows = _table_rows(text, "Payload")
    assert rows[1][:4] == [
        "`msgType`",
        "`message_type`",
        "str",
        "heartbeat, alarm, alarm_silenced, low_battery, fault, removed, reinstalled, self_test",
    ]
    assert rows[4] == [
        "`temp`",
        "`temperature`",
        "float",
        "-20 to 70",
        "degC",
        "yes",
        "temperature at the alarm (sensor range -20 to 70)",
    ]
    assert rows[5][3] == ">= 0"
    assert rows[6][5] == "no"


def test_pipes_and_newlines_do_not_break_a_table(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(
        "profile: odd\ndevice_type: odd\nprotocol: modbus\nfields:\n"
        "  - name: a\n    address: 0\n    description: |\n      in | out\n      second line\n",
        encoding="utf-8",
    )
    text = render_profile(load_profile(path))
    assert "| in \\| out second line |" in text
