"""Detection: declarative rules (YAML) and detectors, evaluated by a pure engine.

Modules: :mod:`.spec` (the rule file and its validation), :mod:`.conditions` (conditions
compiled to closures), :mod:`.condition_rule` (raise/repeat/clear of one condition rule),
:mod:`.baselines` and :mod:`.zscore` (door degradation), :mod:`.silence` (silent lift),
:mod:`.offline` (device and gateway offline), :mod:`.state` (per-device state and its
JSON form), :mod:`.engine` (the :class:`RuleEngine` a service feeds).

Errors: a bad rule file raises :class:`estatewatch.errors.ConfigError` naming the file,
the rule and the field.
"""

from maintenance.domain.rules.engine import RuleEngine
from maintenance.domain.rules.spec import RuleSpec, parse_rules

__all__ = ["RuleEngine", "RuleSpec", "parse_rules"]
