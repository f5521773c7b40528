# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001
"""Who is told what, and in which words (pure, no I/O).

Routing of the staff's urgent notices, from audit entries (the committee's and the
residents' notices and the daily digest follow each site's table,
:mod:`maintenance.domain.routes`; their order notices, ``approval_needed`` and
``request_update``, are worded here):

| notice | audit action | to |
|---|---|---|
| ``p1_opened`` | ``work_order.created`` as P1, | the site's managers, its |
| | ``work_order.priority_raised`` to P1 | on-call technician, its robot groups |
| ``rescue_opened`` | ``work_order.created`` of a rescue order (any priority) | the same |
| ``assigned`` | ``work_order.assign`` | the new assignee |
| ``breached`` | ``work_order.escalated``: an SLA clock passed | the level's role at the |
| | a level of the escalation chain | site (``notify``: managers, then the committee) |
| ``due_soon`` | (time) the order's earliest running SLA | its assignee and the |
| | clock is due within the lead (5 min) | site's managers |

A pre-breach warning (``due_soon``) is about a due time, not an entry: it goes once per
order and due time (:func:`warning_due`), so a clock that stops and another that takes
over warn again for the new due time.

Messages are a small table here, in zh-CN and English, not the web app's Babel
catalogues: the maintenance worker sends them and a service never imports an entry
point (``api``). Each is short: the title, the place, the priority, the time left on the
order's earliest SLA clock (or how far past it is) in the site's time, and the link to
the order in the web app.

Folding: a recipient gets at most one message per ``fold key`` (the kind of notice and
the asset and fault kind, so a flapping alarm re-opening P1 orders on one lift is one
key) in any window; repeats inside the window wait for its end and go out as one message
that counts them (:func:`held_until`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final, Literal

from maintenance.domain.site_time import covers_daily, to_site_time

__all__ = [
    "LANGUAGES",
    "REQUEST_STATES",
    "ROUTED_ACTIONS",
    "Language",
    "NoticeKind",
    "OrderFacts",
    "Routed",
    "Shift",
    "escalated_to",
    "held_until",
    "language_of",
    "on_duty",
    "render",
    "route",
    "warned",
    "warning_due",
]

NoticeKind = Literal[
    "p1_opened",
    "rescue_opened",
    "assigned",
    "due_soon",
    "breached",
    "approval_needed",
    "request_update",
    "proposal_opened",
    "vote_opened",
    "vote_decided",
    "digest",
]
"""Every kind of notice; the last six are routed by a site's table
(:mod:`maintenance.domain.routes`)."""
Language = Literal["zh-CN", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("zh-CN", "en")

_PRIORITY_KEY: Final = {"work_order.created": "priority", "work_order.priority_raised": "to"}
ROUTED_ACTIONS: Final = frozenset({*_PRIORITY_KEY, "work_order.assign", "work_order.escalated"})
"""The audited actions :func:`route` may turn into a notice (the others never are)."""


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What a message says about an order (stored with the notification as JSON)."""

    id: str
    site: str
    title: str
    place: str
    priority: str
    category: str
    asset: str
    fault_kind: str
    due_at: datetime | None
    timezone: str
    amount: str | None = None
    """The cost estimate awaiting approval (``approval_needed``)."""
    status: str | None = None
    """The state a resident's request moved to (``request_update``)."""
    reason: str | None = None
    """Why it was put on hold or cancelled (``request_update``): the reason the staff
    gave, which the resident's request page shows too."""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "title": self.title,
            "place": self.place,
            "priority": self.priority,
            "category": self.category,
            "asset": self.asset,
            "fault_kind": self.fault_kind,
            "due_at": None if self.due_at is None else self.due_at.isoformat(),
            "timezone": self.timezone,
            "amount": self.amount,
            "status": self.status,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderFacts:
        due = data["due_at"]
        return cls(**{**data, "due_at": None if due is None else datetime.fromisoformat(due)})


@dataclass(frozen=True, slots=True)
class Routed:
    """A notice for ``users`` (user ids) and, when ``groups``, the site's robot groups."""

    kind: NoticeKind
    users: tuple[str, ...]
    groups: bool

    def fold_key(self, facts: OrderFacts) -> str:
        # A warning or a breach is about one order's due time: never held back.
        if self.kind in ("due_soon", "breached"):
            due = facts.due_at.isoformat() if facts.due_at else ""
            return f"{self.kind}:{facts.id}@{due}"
        # An approval and each step of a resident's request: one order's one moment.
        if self.kind in ("approval_needed", "request_update"):
            return f"{self.kind}:{facts.id}:{facts.status or ''}"
        return f"{self.kind}:{facts.asset}:{facts.fault_kind}"


def escalated_to(action: str, detail: Mapping[str, Any]) -> str | None:
    """The role an escalation entry tells (``manager``, ``committee``), if it is one."""
    notify = detail.get("notify")
    return notify if action == "work_order.escalated" and isinstance(notify, str) else None


def route(
    action: str,
    detail: Mapping[str, Any],
    category: str,
    managers: Iterable[str],
    on_call: Iterable[str],
    escalation: Iterable[str] = (),
) -> Routed | None:
    """The notice an audited action on a work order calls for, if any; ``escalation``:
    the people of the role an escalation tells (:func:`escalated_to`)."""
    if escalated_to(action, detail) is not None:
        return Routed("breached", tuple(dict.fromkeys(escalation)), groups=False)
    if action == "work_order.assign":
        assignee = detail.get("assignee")
        return Routed("assigned", (assignee,), groups=False) if isinstance(assignee, str) else None
    if action not in _PRIORITY_KEY:
        return None
    if action == "work_order.created" and category == "rescue":
        kind: NoticeKind = "rescue_opened"
    elif detail.get(_PRIORITY_KEY[action]) == "P1":
        kind = "p1_opened"
    else:
        return None
    users = tuple(dict.fromkeys([*managers, *on_call]))  # in order, each once
    return Routed(kind, users, groups=True)


@dataclass(frozen=True, slots=True)
class Shift:
    """A line of a site's on-call rota: ``user`` is on duty from ``start`` to ``end``
    (site time; an ``end`` before ``start`` runs past midnight; both None: always)."""

    user: str
    start: time | None = None
    end: time | None = None

    def covers(self, at: time) -> bool:
        if self.start is None or self.end is None:
            return True
        return covers_daily(self.start, self.end, at)


def on_duty(rota: Iterable[Shift], at: time) -> list[str]:
    """The users on call at ``at`` (site time), in the rota's order."""
    return [shift.user for shift in rota if shift.covers(at)]


def warning_due(due_at: datetime, now: datetime, lead: timedelta) -> bool:
    """Whether a clock due at ``due_at`` is within ``lead`` of breaking (and not broken)."""
    return due_at - lead <= now < due_at


def warned(managers: Iterable[str], assignee: str | None) -> Routed:
    """Who a pre-breach warning goes to: the assignee first, then the managers."""
    users = [assignee] if assignee else []
    return Routed("due_soon", tuple(dict.fromkeys([*users, *managers])), groups=False)


def language_of(locale: str | None) -> Language:
    """A user's locale as stored (``zh_CN``, ``en``, None) as a message language."""
    return "en" if locale is not None and locale.lower().startswith("en") else "zh-CN"


def held_until(last_sent: datetime | None, now: datetime, window: timedelta) -> datetime:
    """When a notice with this fold key may go: now, or the end of the window that began
    with the last one sent."""
    if last_sent is None or now >= last_sent + window:
        return now
    return last_sent + window


_SUBJECT: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "p1_opened": "【{priority}】新工单：{title}",
        "rescue_opened": "【救援】电梯困人：{title}",
        "assigned": "【派单】指派给您：{title}",
        "due_soon": "【即将超时】{title}",
        "breached": "【已超时】{title}",
        "approval_needed": "【待审批】维修费用：{title}",
        "request_update": "【报修进度】{status}：{title}",
    },
    "en": {
        "p1_opened": "[{priority}] New order: {title}",
        "rescue_opened": "[Rescue] People trapped: {title}",
        "assigned": "[Assigned] To you: {title}",
        "due_soon": "[Due soon] {title}",
        "breached": "[Overdue] {title}",
        "approval_needed": "[Approval needed] Repair cost: {title}",
        "request_update": "[Your request] {status}: {title}",
    },
}
_REQUEST_STATUS: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "assigned": "已派工",
        "acknowledged": "已受理",
        "in_progress": "维修中",
        "resolved": "已修好，请确认",
        "verified": "业主监督员已代您确认修好",
        "on_hold": "暂停处理",
        "closed": "已办结",
        "cancelled": "已取消",
    },
    "en": {
        "assigned": "Assigned",
        "acknowledged": "Acknowledged",
        "in_progress": "In progress",
        "resolved": "Resolved, please confirm",
        "verified": "The owners' supervisor confirmed the fix for you",
        "on_hold": "On hold",
        "closed": "Closed",
        "cancelled": "Cancelled",
    },
}
REQUEST_STATES: Final = frozenset(_REQUEST_STATUS["en"])
"""The states of a resident's request the resident is told of (``verified`` only when
the owners' supervisor confirmed the fix for them: see
:func:`maintenance.domain.routes.order_notice`; not ``reopened``: they dispute it
themselves)."""
_REASONED: Final = frozenset({"on_hold", "cancelled"})
"""The states a resident's update gives the staff's reason for: a request that stops
says why."""
_TIMED: Final = frozenset({"p1_opened", "rescue_opened", "assigned", "due_soon", "breached"})
"""The notices that say the time left (staff's; not an approval or a resident's update)."""
_LINES: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "place": "地点：{place}",
        "priority": "优先级：{priority}",
        "left": "剩余时间：{minutes} 分钟（{due} 前）",
        "late": "已超时 {minutes} 分钟（应于 {due} 前）",
        "link": "处理：{link}",
        "view": "查看：{link}",
        "amount": "预算：{amount} 元",
        "folded": "（{window} 分钟内共 {count} 次）",
        "reason": "原因：{reason}",
    },
    "en": {
        "place": "Place: {place}",
        "priority": "Priority: {priority}",
        "left": "Time left: {minutes} min (due {due})",
        "late": "Overdue by {minutes} min (was due {due})",
        "link": "Open: {link}",
        "view": "View: {link}",
        "amount": "Cost estimate: CNY {amount}",
        "folded": "({count} times in {window} min)",
        "reason": "Reason: {reason}",
    },
}


def render(
    kind: NoticeKind,
    facts: OrderFacts,
    language: Language,
    *,
    now: datetime,
    link: str,
    count: int = 1,
    window: timedelta = timedelta(0),
) -> tuple[str, str]:
    """The subject and text of a notice about an order, as of ``now`` (the time left is
    computed then). A resident's update says the place and the new state, not the
    priority or the staff's clocks; put on hold or cancelled, also the staff's reason."""
    words = _LINES[language]
    status = _REQUEST_STATUS[language].get(facts.status or "", facts.status or "")
    subject = _SUBJECT[language][kind].format(
        priority=facts.priority, title=facts.title, status=status
    )
    lines = [words["place"].format(place=facts.place)]
    if kind != "request_update":
        lines.append(words["priority"].format(priority=facts.priority))
    if kind == "request_update" and facts.status in _REASONED and facts.reason:
        lines.append(words["reason"].format(reason=facts.reason))
    if kind == "approval_needed" and facts.amount is not None:
        lines.append(words["amount"].format(amount=facts.amount))
    if kind in _TIMED and facts.due_at is not None:
        due = to_site_time(facts.due_at, facts.timezone).strftime("%H:%M")
        seconds = (facts.due_at - now).total_seconds()
        # Whole minutes, rounded toward the person: "3 min left" while 3:59 remain.
        minutes = int(abs(seconds) // 60)
        lines.append(words["left" if seconds >= 0 else "late"].format(minutes=minutes, due=due))
    if count > 1:
        lines.append(words["folded"].format(count=count, window=int(window.total_seconds() // 60)))
    lines.append(words["view" if kind == "request_update" else "link"].format(link=link))
    return subject, "\n".join(lines)
