"""The ``estatewatch`` entry point and its ``catalogue`` commands, run in-process."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.main import build_parser, main
from estatewatch.catalogue import builtin_catalogue
from estatewatch.catalogue.loader import PROFILES_DIR
from estatewatch.catalogue.markdown import render_catalogue

ELEVATOR_YAML = PROFILES_DIR / "elevator-nice3000.yaml"
BAD_PROFILE = """\
profile: bad-lift
device_type: elevator
protocol: modbus
fields:
  - {name: speed, address: 0x1010, type: u17}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert "catalogue" in subparsers.choices
    for name in subparsers.choices:
        assert f"\n    {name} " in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert out.startswith("usage: estatewatch")


def test_catalogue_help_shows_actions_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["catalogue", "--help"])
    out = capsys.readouterr().out
    for action in ("list", "show", "check", "docs"):
        assert f"\n    {action} " in out
    assert "estatewatch catalogue check my-profiles/*.yaml" in out


def test_catalogue_without_an_action_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalogue")
    assert code == 2
    assert out.startswith("usage: estatewatch catalogue")


def test_catalogue_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "catalogue", "list")
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        ["name", "device", "type", "protocol", "fields"],
        ["charger-8port", "charger", "modbus", "90"],
        ["elevator-nice3000", "elevator", "modbus", "39"],  # with final limits, earthquake
        ["smoke-alarm", "smoke_alarm", "mqtt", "8"],
    ]


def test_catalogue_show_prints_registers_by_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalogue", "show", "elevator-nice3000")
    assert code == 0
    assert out.startswith("elevator-nice3000\n=================\n")
    speed = next(line for line in out.splitlines() if line.startswith("0x1010 "))
    assert speed.split()[:5] == ["0x1010", "speed", "u16", "0.001", "m/s"]
    assert "0xF90B-0xF90C (F9-11/F9-12)" in out
    assert "1=up, 2=down, 3=stopped" in out
    assert out.index("0x1010 ") < out.index("0x3000 ") < out.index("0xFA07 ")


def test_catalogue_show_groups_charger_ports(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "catalogue", "show", "charger-8port")
    assert "port N at base + (N-1)*stride + offset, with base 0x0100 and stride 0x0010" in out
    assert "port2" not in out.replace("port1", "")  # no per-port rows
    assert sum(line.split()[1:2] == ["voltage"] for line in out.splitlines()) == 1


def test_catalogue_show_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalogue", "show", "smoke-alarm", "--markdown")
    assert code == 0
    assert out.startswith("# smoke-alarm\n")
    assert "| `battery` | `battery` | int | 0 to 100 | % | yes | battery charge |" in out


def test_catalogue_show_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "catalogue", "show", "lift")
    assert (code, out) == (2, "")
    assert err == (
        "estatewatch: error: unknown device profile 'lift'"
        " (known: charger-8port, elevator-nice3000, smoke-alarm)\n"
    )


def test_catalogue_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "catalogue", "check", str(ELEVATOR_YAML))
    assert (code, out, err) == (0, f"ok: {ELEVATOR_YAML} (39 fields)\n", "")


def test_catalogue_check_bad_file_prints_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad-lift.yaml"
    bad.write_text(BAD_PROFILE, encoding="utf-8")
    code, out, err = run(capsys, "catalogue", "check", str(bad))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"error: {bad}: fields[0] (speed).type: Input should be 'u16'")
    assert "Traceback" not in err


def test_catalogue_check_reports_every_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad-lift.yaml"
    bad.write_text(BAD_PROFILE, encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("profile: [unclosed\n", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    argv = [str(p) for p in (bad, ELEVATOR_YAML, broken, missing)]
    code, out, err = run(capsys, "catalogue", "check", *argv)
    assert code == 2
    assert out == f"ok: {ELEVATOR_YAML} (39 fields)\n"
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"error: {bad}: fields[0] (speed).type")
    assert lines[1].startswith(f"error: {broken}: not valid YAML at line 2")
    assert lines[2] == f"error: {missing}: cannot read: No such file or directory"


def test_catalogue_check_a_directory(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalogue", "check", str(PROFILES_DIR))
    assert code == 0
    assert out.splitlines() == [
        f"ok: {PROFILES_DIR / 'charger-8port.yaml'} (90 fields)",
        f"ok: {PROFILES_DIR / 'elevator-nice3000.yaml'} (39 fields)",
        f"ok: {PROFILES_DIR / 'smoke-alarm.yaml'} (8 fields)",
    ]


def test_catalogue_check_an_empty_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "catalogue", "check", str(tmp_path))
    assert code == 2
    assert err == f"estatewatch: error: no *.yaml profile files in {tmp_path}\n"


def test_catalogue_check_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["catalogue", "check"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: FILE" in capsys.readouterr().err


def test_catalogue_docs_writes_the_markdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "site" / "devices.md"
    code, out, _ = run(capsys, "catalogue", "docs", "--output", str(output))
    assert code == 0
    assert out == f"wrote {output} (3 profiles)\n"
    assert output.read_text(encoding="utf-8") == render_catalogue(builtin_catalogue())


def test_catalogue_docs_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalogue", "docs", "--output", "-")
    assert code == 0
    assert out == render_catalogue(builtin_catalogue())


def test_catalogue_docs_unwritable_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "catalogue", "docs", "--output", str(blocker / "devices.md"))
    assert code == 2
    # mkdir fails on the parent, so the message names it as well as the output.
    assert err == (
        f"estatewatch: error: {blocker / 'devices.md'}: cannot write: File exists ({blocker})\n"
    )
