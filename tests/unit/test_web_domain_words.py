"""Every value of the domain's enumerations that a page shows has words in Chinese: the
fault kinds of the rules file and of the platform's own alarms, order categories,
statuses, history actions, rescue stages, SLA clocks, roles, inspection statuses,
interval bases, plan reasons, evidence recommendations and findings, visit levels and item
results, the device catalogue's enumerated fields and their labels (car_state 6: stopped);
and every rule of the rules file has its alarm's sentence in Chinese, with the
reading's figures. A new value in the domain without a name in the web layer fails here,
not on a page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, get_args

import pytest

from api.web.alarm_messages import alarm_message, order_title
from api.web.evidence import FINDINGS, RECOMMENDATIONS
from api.web.faults import fault_kind_name
from api.web.i18n import load_catalogues
from api.web.nav import ROLE_NAMES
from api.web.orders import ACTION_NAMES, CLOCK_NAMES, STAGE_NAMES, STATUS_NAMES
from api.web.plan_reasons import PLAN_REASONS
from api.web.routes.assets import READING_LABELS, READING_NAMES
from api.web.routes.public import BASIS_NAMES, CATEGORY_NAMES, CERTIFICATE_STATUS
from api.web.routes.resident import CATEGORIES
from api.web.routes.visits import ITEM_STATUS_NAMES, LEVEL_NAMES
from api.web.templating import Templates
from estatewatch.catalogue import builtin_catalogue
from maintenance.config_files import DEFAULT_RULES, load_checklist, load_rules
from maintenance.domain import alarms
from maintenance.domain.actors import Role
from maintenance.domain.checklists import LEVELS, Level
from maintenance.domain.evidence import FindingCode, Recommendation
from maintenance.domain.inspections import FAULT_KIND as INSPECTION_FAULT_KIND
from maintenance.domain.inspections import RULES as INSPECTION_RULES
from maintenance.domain.inspections import Certificate, InspectionStatus, inspection_signal
from maintenance.domain.kpis import UNCATEGORISED
from maintenance.domain.plan_reasons import ReasonCode
from maintenance.domain.rescue import RESCUE_CATEGORY, Stage
from maintenance.domain.rules import RuleSpec
from maintenance.domain.signals import DeviceRef
from maintenance.domain.sla import ClockName
from maintenance.domain.visits import VISIT_CATEGORY, ItemStatus
from maintenance.domain.workorders import Action, Status
from maintenance.public_board import IntervalBasis
from maintenance.services.plans import defect_order_title, visit_fault_kind

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _fault_kinds() -> set[str]:
    kinds = {rule.fault_kind for rule in load_rules(DEFAULT_RULES) if rule.fault_kind}
    return kinds | {INSPECTION_FAULT_KIND, visit_fault_kind(date(2026, 12, 20)), "defect/1.1"}


def _categories() -> set[str]:
    made_by_alarms = {
        *alarms._CATEGORY_BY_DEVICE_TYPE.values(),
        *alarms._CATEGORY_BY_FAULT_KIND.values(),
    }
    return made_by_alarms | {RESCUE_CATEGORY, VISIT_CATEGORY, UNCATEGORISED} | set(CATEGORIES)


def _enumerated() -> tuple[set[str], set[str]]:
    """The enumerated fields a device's page shows, and their labels, in the catalogue."""
    fields: set[str] = set()
    labels: set[str] = set()
    catalogue = builtin_catalogue()
    for device_type in {profile.device_type for profile in catalogue.profiles.values()}:
        for field, enum in catalogue.enum_labels(device_type).items():
            fields.add(field)
            labels.update(enum.values())
    return fields, labels


def _names(table: Mapping[Any, Any]) -> dict[str, str]:
    return {str(k): v["label"] if isinstance(v, dict) else v for k, v in table.items()}


# (what, the domain's values, the web layer's msgid for each value, or None for none)
ENUMERATIONS: list[tuple[str, Iterable[str], Any]] = [
    ("fault kind", _fault_kinds(), fault_kind_name),
    ("order category", _categories(), _names(CATEGORY_NAMES).get),
    ("order status", [s.value for s in Status], _names(STATUS_NAMES).get),
    ("history action", [a.value for a in Action], _names(ACTION_NAMES).get),
    ("rescue stage", [s.value for s in Stage], _names(STAGE_NAMES).get),
    ("SLA clock", get_args(ClockName), _names(CLOCK_NAMES).get),
    ("role", get_args(Role), _names(ROLE_NAMES).get),
    ("inspection status", [s.value for s in InspectionStatus], _names(CERTIFICATE_STATUS).get),
    ("interval basis", get_args(IntervalBasis), _names(BASIS_NAMES).get),
    ("recommendation", get_args(Recommendation), _names(RECOMMENDATIONS).get),
    ("evidence finding", get_args(FindingCode), _names(FINDINGS).get),
    ("visit level", get_args(Level), _names(LEVEL_NAMES).get),
    ("visit item result", get_args(ItemStatus), _names(ITEM_STATUS_NAMES).get),
    ("plan reason", get_args(ReasonCode), _names(PLAN_REASONS).get),
    ("catalogue enumerated field", _enumerated()[0], READING_NAMES.get),
    ("catalogue enum label", _enumerated()[1], READING_LABELS.get),
]


@pytest.mark.parametrize(
    ("what", "values", "name_of"), ENUMERATIONS, ids=[e[0] for e in ENUMERATIONS]
)
def test_every_domain_value_has_chinese_words(
    what: str, values: Iterable[str], name_of: Any
) -> None:
    chinese = load_catalogues()["zh_CN"]
    missing = []
    for value in sorted(values):
        msgid = name_of(value)
        if msgid is None or msgid == value or not CHINESE.search(chinese.gettext(msgid)):
            missing.append(value)
    assert not missing, f"{what}: no zh_CN name in the web layer for {missing}"


PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("rule", load_rules(DEFAULT_RULES), ids=lambda r: r.name)
def test_every_rule_has_its_alarm_sentence_in_chinese_with_its_figures(rule: RuleSpec) -> None:
    # Distinct figures, some with the separators a sentence uses, so a figure read back
    # into the wrong place (or lost) shows.
    names = list(dict.fromkeys(PLACEHOLDER.findall(rule.message)))
    figures = {name: f"{4.5 + i}" if i % 2 else f"{17 + i}" for i, name in enumerate(names)}
    stored = rule.message.format_map(figures)  # as the rules engine stores it

    zh = alarm_message(rule.name, stored, load_catalogues()["zh_CN"].gettext)
    en = alarm_message(rule.name, stored, load_catalogues()["en"].gettext)

    assert CHINESE.search(zh), f"{rule.name}: no zh_CN sentence for {stored!r}"
    assert en == stored
    for name, figure in figures.items():
        assert figure in zh, f"{rule.name}: {name}={figure} lost in {zh!r}"


def test_an_alarm_the_catalogue_cannot_say_keeps_its_stored_sentence() -> None:
    zh = load_catalogues()["zh_CN"].gettext
    # A site's own rule, and a shipped rule's name whose sentence the site rewrote.
    assert alarm_message("pump_room_flood", "water in pump room B2", zh) == "water in pump room B2"
    assert alarm_message("overspeed", "car too fast: 3 m/s", zh) == "car too fast: 3 m/s"
    # A figure the reading lacked is stored as "?" (rules' blanks) and still reads.
    assert (
        alarm_message("inspection_mode", "inspection mode at floor ?", zh)
        == "检修状态，轿厢在 ? 层"  # noqa: RUF001
    )


@pytest.mark.parametrize("number", ["TJ-2025-0042", None])
@pytest.mark.parametrize("step", [s for s in InspectionStatus if s in INSPECTION_RULES])
def test_the_platforms_own_alarms_and_the_orders_they_open_read_in_chinese(
    step: InspectionStatus, number: str | None
) -> None:
    zh = load_catalogues()["zh_CN"].gettext
    certificate = Certificate(date(2025, 12, 1), date(2026, 11, 30), number)
    car = DeviceRef("demo", "elevator", "elev-02")
    signal = inspection_signal("raised", step, car, certificate, datetime(2026, 12, 7, tzinfo=UTC))

    said = alarm_message(signal.rule, signal.message, zh)
    titled = order_title(f"elev-02: {signal.message}", str(car), zh)

    assert CHINESE.search(said), said
    assert "2026-11-30" in said
    assert number is None or number in said
    assert titled == f"elev-02：{said}"  # noqa: RUF001


@pytest.mark.parametrize("level", LEVELS)
def test_a_visits_order_reads_in_chinese(level: str) -> None:
    zh = load_catalogues()["zh_CN"].gettext
    # As maintenance/services/plans.py titles the order it opens for a visit.
    title = f"elev-02: {level.replace('_', '-')} maintenance visit, due 2026-12-20"

    titled = order_title(title, "demo/elevator/elev-02", zh)

    assert CHINESE.search(titled), titled
    assert titled.startswith("elev-02")
    assert "2026-12-20" in titled


def test_system_made_order_titles_read_in_chinese_and_typed_ones_as_typed() -> None:
    zh = load_catalogues()["zh_CN"].gettext
    en = load_catalogues()["en"].gettext
    asset = "demo/elevator/elev-06"
    rule = next(r for r in load_rules(DEFAULT_RULES) if r.name == "overspeed")
    alarm_title = "elev-06: " + rule.message.format(speed=2.4, speed_percent=120, car_load=10)

    assert order_title("elev-06: passengers trapped", asset, zh) == "elev-06：困人"  # noqa: RUF001
    assert order_title(alarm_title, asset, zh) == (
        "elev-06：超速：2.4 米/秒，为额定速度的 120 %（载重 10 %）"  # noqa: RUF001
    )
    assert order_title(alarm_title, asset, en) == alarm_title
    for typed in ("elev-06 门关不严", "elev-06: door will not close", "passengers trapped"):
        assert order_title(typed, asset, zh) == typed


def test_a_defect_order_names_its_checklist_item_in_the_readers_language() -> None:
    catalogues = load_catalogues()
    checklist = load_checklist()
    item = checklist.items[0]
    title = defect_order_title("elev-02", item)
    templates = Templates(catalogues, checklist.items)
    order = SimpleNamespace(title=title, asset="demo/elevator/elev-02")

    def render(locale: str) -> str:
        # The filter the pages use, from the locale's environment.
        env = templates.get(locale, "base.html").environment
        return str(env.from_string("{{ order | order_title }}").render(order=order))

    zh, en = render("zh_CN"), render("en")

    assert zh == f"elev-02：维保发现缺陷 {item.name} {item.title_zh}"  # noqa: RUF001
    assert en == title
