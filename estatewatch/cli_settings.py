"""Settings objects from command-line options over environment variables (one helper for
every service's CLI): options given win, the rest come from ``ESTATEWATCH_<SERVICE>_*``
variables or the defaults; a validation error becomes one ConfigError naming the setting.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from estatewatch.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)


def add_screen_options(parser: argparse.ArgumentParser) -> None:
    """The central checks' options (:class:`estatewatch.screen.ScreenSettings`), shared by
    ``ingest run`` and ``maintenance run``."""
    for option, text in (
        ("--max-ahead", "latest a reading may be dated after its receipt (5m)"),
        ("--max-age", "earliest before its receipt: a gateway buffer's longest replay (30d)"),
        ("--max-readings", "readings one telemetry message may carry (1000)"),
        ("--tag-keys", "tag keys gateways may send, separated by commas (building,location)"),
    ):
        parser.add_argument(option, help=text)


def name_environment(
    parser: argparse.ArgumentParser, prefix: str, environment_only: Sequence[str] = ()
) -> None:
    """Say in ``parser``'s help which variable sets each setting: every option's line
    ends with its variable (``prefix`` and the option's destination, the settings field, in
    capitals: ``--mqtt-host`` -> ``[ESTATEWATCH_INGEST_MQTT_HOST]``), and the epilog names
    the settings read from the environment only (``environment_only``: passwords, which a
    process listing would show, and rarely changed limits). Call after the last option."""
    for action in parser._actions:
        if action.option_strings and action.dest != "help" and action.help:
            action.help = f"{action.help} [{prefix}{action.dest.upper()}]"
    if environment_only:
        names = ", ".join(f"{prefix}{name.upper()}" for name in environment_only)
        parser.epilog = f"environment only: {names}"


def settings_from_args(cls: type[S], args: argparse.Namespace, label: str) -> S:
    given = {
        key: value
        for key, value in vars(args).items()
        if value is not None and key in cls.model_fields
    }
    try:
        return cls(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{label} settings: {problems}") from exc
