"""Reading maintenance's configuration files: the rule set and the SLA policy.

The domain (:mod:`maintenance.domain`) parses and validates what it is handed and reads no
files; this adapter opens them. A bad file raises :class:`~estatewatch.errors.ConfigError`
naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from estatewatch.validation import load_yaml_model, read_yaml
from maintenance.domain.rules import RuleSpec, parse_rules
from maintenance.domain.sla import SlaPolicy

__all__ = ["DEFAULT_RULES", "load_rules", "load_sla_policy"]

DEFAULT_RULES: Final = Path(__file__).resolve().parent / "rules" / "default.yaml"
"""The rules shipped with estatewatch, used when no rules file is configured."""


def load_rules(path: Path) -> list[RuleSpec]:
    return parse_rules(read_yaml(path), str(path))


def load_sla_policy(path: Path | None) -> SlaPolicy:
    """The SLA policy in ``path``, or the default policy when no file is configured."""
    return load_yaml_model(SlaPolicy, path) if path is not None else SlaPolicy()
