"""Reading maintenance's configuration files: the rule set, the SLA policy and the
maintenance checklists.

The domain (:mod:`maintenance.domain`) parses and validates what it is handed and reads no
files; this adapter opens them. A bad file raises :class:`~estatewatch.errors.ConfigError`
naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from estatewatch.validation import load_yaml_model, read_yaml
from maintenance.domain.checklists import Checklist, parse_checklist, parse_checklist_extra
from maintenance.domain.rules import RuleSpec, parse_rules
from maintenance.domain.sla import SlaPolicy

__all__ = ["DEFAULT_CHECKLIST", "DEFAULT_RULES", "load_checklist", "load_rules", "load_sla_policy"]

DEFAULT_RULES: Final = Path(__file__).resolve().parent / "rules" / "default.yaml"
"""The rules shipped with estatewatch, used when no rules file is configured."""

DEFAULT_CHECKLIST: Final = Path(__file__).resolve().parent / "plans" / "tsg_t5002.yaml"
"""The TSG T5002 traction-elevator items, used when no checklist file is configured."""


def load_rules(path: Path) -> list[RuleSpec]:
    return parse_rules(read_yaml(path), str(path))


def load_sla_policy(path: Path | None) -> SlaPolicy:
    """The SLA policy in ``path``, or the default policy when no file is configured."""
    return load_yaml_model(SlaPolicy, path) if path is not None else SlaPolicy()


def load_checklist(path: Path | None = None, extras: Sequence[Path] = ()) -> Checklist:
    """The catalogue in ``path`` (default: the shipped TSG T5002 one) with each extra
    file's items added; a bad file raises ConfigError naming it and the field."""
    path = path or DEFAULT_CHECKLIST
    checklist = parse_checklist(read_yaml(path), str(path))
    for extra in extras:
        checklist = checklist.extended(
            parse_checklist_extra(read_yaml(extra), str(extra)), str(extra)
        )
    return checklist
