# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001
"""The committee's daily digest: when it is due, what it says, in which words (pure).

Once a day at a site-local time (the settings' ``digest_at``, 08:00 by default) each
person the site's routing table names for ``digest`` (the committee) gets one message
about the site's previous calendar day (midnight to midnight in the site's zone):

- orders opened and orders closed that day, and SLA breaches among the orders opened
  (response and feedback: the KPIs' own counts, :func:`maintenance.domain.kpis.compute_kpis`);
- rescues reported that day (false alarms included, as the KPIs count them);
- now: the open P1 orders, the orders whose cost awaits approval and the open spending
  proposals (a proposal about no asset counts at every site, as it is announced there).

It is due from ``digest_at`` on, for that local date only (:func:`digest_day`): a worker
that was down at the hour sends it when it starts, the same day; a missed day is not sent
later. Its id names the site and the date (:func:`digest_key`), so it goes once a day
even across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from maintenance.domain.kpis import Kpis
from maintenance.domain.notices import Language
from maintenance.domain.site_time import site_zone, to_site_time
from maintenance.domain.workorders import Status, WorkOrder

__all__ = [
    "DigestFacts",
    "compose_digest",
    "digest_day",
    "digest_key",
    "digest_period",
    "render_digest",
]


def digest_day(now: datetime, zone: str, at: time) -> date | None:
    """The site-local date whose digest is due at ``now``: today's, once the site's clock
    reads ``at`` or later; None before."""
    local = to_site_time(now, zone)
    return local.date() if local.time() >= at else None


def digest_period(day: date, zone: str) -> tuple[datetime, datetime]:
    """The day before ``day``, midnight to midnight in the site's zone, as UTC."""
    tz = site_zone(zone)
    end = datetime(day.year, day.month, day.day, tzinfo=tz)
    start = datetime.combine(day - timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def digest_key(site: str, day: date) -> str:
    """The digest's stable id prefix and fold key: one per site and date."""
    return f"digest:{site}@{day.isoformat()}"


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """The figures of one site's digest (stored with the notification as JSON)."""

    site: str
    day: str
    """The day the figures are about (``YYYY-MM-DD``, the site's calendar)."""
    created: int
    closed: int
    response_breached: int
    feedback_breached: int
    rescues: int
    open_p1: int
    awaiting_approval: int
    open_proposals: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DigestFacts:
        return cls(**data)


def compose_digest(
    site: str,
    day: date,
    kpis: Kpis,
    open_orders: Iterable[WorkOrder],
    open_proposal_sites: Iterable[str | None],
) -> DigestFacts:
    """The digest due on ``day``: ``kpis`` of the day before at ``site``, the open orders
    (of any site: those of ``site`` count) and the sites of the open proposals."""
    here = [order for order in open_orders if order.site == site]
    return DigestFacts(
        site=site,
        day=(day - timedelta(days=1)).isoformat(),
        created=kpis.orders_created,
        closed=kpis.orders_closed,
        response_breached=kpis.response_sla.breached,
        feedback_breached=kpis.feedback_sla.breached,
        rescues=kpis.rescues.reported,
        open_p1=sum(order.priority == "P1" for order in here),
        awaiting_approval=sum(order.status is Status.AWAITING_APPROVAL for order in here),
        open_proposals=sum(each in (None, site) for each in open_proposal_sites),
    )


_WORDS: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "subject": "【每日简报】{site} {day}",
        "orders": "新增工单 {created} 单，结单 {closed} 单",
        "breaches": "超时：响应 {response_breached} 单，反馈 {feedback_breached} 单",
        "rescues": "电梯困人救援 {rescues} 次",
        "now": "目前：未结 P1 工单 {open_p1} 单，待审批费用 {awaiting_approval} 单，"
        "待决维修资金申请 {open_proposals} 项",
        "link": "查看：{link}",
    },
    "en": {
        "subject": "[Daily digest] {site} {day}",
        "orders": "Orders opened {created}, closed {closed}",
        "breaches": "Overdue: response {response_breached}, feedback {feedback_breached}",
        "rescues": "Lift rescues {rescues}",
        "now": "Now: open P1 orders {open_p1}, costs awaiting approval {awaiting_approval},"
        " fund proposals open {open_proposals}",
        "link": "View: {link}",
    },
}


def render_digest(facts: DigestFacts, language: Language, *, link: str) -> tuple[str, str]:
    """The subject and text of a digest."""
    words = _WORDS[language]
    figures = facts.as_json()
    lines = [words[line].format(**figures) for line in ("orders", "breaches", "rescues", "now")]
    lines.append(words["link"].format(link=link))
    return words["subject"].format(**figures), "\n".join(lines)
