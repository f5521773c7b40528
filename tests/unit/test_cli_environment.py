"""The run commands' ``--help`` names the environment variable of every setting.

Each service reads ``ESTATEWATCH_<SERVICE>_<FIELD>`` too (pydantic-settings); an operator
writing a unit file or a compose service needs those names. Every field of the settings
class must be named (on its option's line, or as environment only), and every name shown
must be a field, so a setting added later cannot go unlisted nor a listed one be wrong.
"""

from __future__ import annotations

import re

import pytest
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from cli.main import build_parser, main
from estatewatch.cli_settings import settings_from_args
from ingest.settings import IngestSettings
from maintenance.settings import MaintenanceSettings

COMMANDS: list[tuple[list[str], str, type[BaseSettings]]] = [
    (["ingest", "run"], "ESTATEWATCH_INGEST_", IngestSettings),
    (["maintenance", "run"], "ESTATEWATCH_MAINTENANCE_", MaintenanceSettings),
    (["api"], "ESTATEWATCH_API_", ApiSettings),
]


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("argv", "prefix", "settings"), COMMANDS, ids=lambda v: str(v))
def test_help_names_every_setting_variable_and_no_other(
    argv: list[str], prefix: str, settings: type[BaseSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(argv, capsys)
    named = set(re.findall(rf"\b{prefix}([A-Z0-9_]+)\b", text))
    assert named == {field.upper() for field in settings.model_fields}
    # An option's own variable is on its own entry: --mqtt-host's is MQTT_HOST.
    entry = text.split("\n  --mqtt-host MQTT_HOST", 1)[1].split("\n  --", 1)[0]
    assert f"[{prefix}MQTT_HOST]" in " ".join(entry.split())


def test_the_variable_named_on_an_options_line_sets_that_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = " ".join(help_text(["ingest", "run"], capsys).split())
    assert (
        "--batch-points BATCH_POINTS points per write (5000) [ESTATEWATCH_INGEST_BATCH_POINTS]"
        in text
    )
    monkeypatch.setenv("ESTATEWATCH_INGEST_BATCH_POINTS", "123")
    args = build_parser().parse_args(["ingest", "run"])
    assert settings_from_args(IngestSettings, args, "ingest").batch_points == 123
