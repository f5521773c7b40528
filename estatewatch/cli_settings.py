"""Settings objects from command-line options over environment variables (one helper for
every service's CLI): options given win, the rest come from ``ESTATEWATCH_<SERVICE>_*``
variables or the defaults; a validation error becomes one ConfigError naming the setting.
"""

from __future__ import annotations

import argparse
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from estatewatch.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)


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
