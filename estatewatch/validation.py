"""Turning pydantic validation errors into one-line messages that name file and field.

Shared by every loader of a user-written file (catalogue profiles, scenarios, site
configs, rules), so an operator always reads ``file: where.in.file: what is wrong``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from estatewatch.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _describe_location(loc: tuple[int | str, ...], raw: Any) -> str:
    """``fields[3] (speed).address``: indexes get the item's name when it has one."""
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int):
            label = f"[{step}]"
            item = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label += f" ({item['name']})"
            parts.append(label)
            node = item
        else:
            parts.append(("." if parts else "") + str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def format_validation_error(source: str, exc: ValidationError, raw: Any) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        # pydantic adds the union/validator branch name to the location; drop it.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        problems.append(f"{_describe_location(loc, raw)}: {err['msg']}")
    return f"{source}: " + "; ".join(problems)


class _Loader(yaml.SafeLoader):
    """The safe loader, telling where a date that is no date stands: PyYAML builds dates
    itself and raises a bare ValueError with no position (``2026-13-01``)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            mark = node.start_mark
            line = mark.buffer.splitlines()[mark.line].strip() if mark.buffer else node.value
            raise ValueError(f"{exc}, at line {mark.line + 1}: {line}") from exc


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from exc
    except ValueError as exc:
        # PyYAML builds dates itself: 2008-13-16 raises a bare ValueError, not a YAMLError.
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def validate(model: type[M], raw: Any, source: str) -> M:
    """Validate ``raw`` as ``model``; on failure raise ConfigError naming source and field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, raw)) from exc


def load_yaml_model(model: type[M], path: Path) -> M:
    return validate(model, read_yaml(path), str(path))
