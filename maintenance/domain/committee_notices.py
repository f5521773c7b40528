# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001
"""What the owners' committee is told about spending proposals, in which words (pure).

From the audit trail (subject ``proposal``): ``proposal.created`` is a proposal waiting
for the committee (``proposal_opened``), ``proposal.vote_opened`` an owners' vote opened
(``vote_opened``), ``proposal.decided`` its result, or the committee's emergency
decision (``vote_decided``). Who hears it is the site's routing table
(:mod:`maintenance.domain.routes`); a work order's spending awaiting approval
(``approval_needed``) is an order notice (:mod:`maintenance.domain.notices`).

A message is short: what happened, the title, the amount, whether it is an emergency
(and the result when decided), and the link to the proposal's page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from maintenance.domain.notices import Language

__all__ = ["PROPOSAL_NOTICES", "ProposalFacts", "ProposalNotice", "render_proposal"]

ProposalNotice = Literal["proposal_opened", "vote_opened", "vote_decided"]

PROPOSAL_NOTICES: Final[Mapping[str, ProposalNotice]] = {
    "proposal.created": "proposal_opened",
    "proposal.vote_opened": "vote_opened",
    "proposal.decided": "vote_decided",
}
"""Audited action -> the notice it calls for."""


@dataclass(frozen=True, slots=True)
class ProposalFacts:
    """What a message says about a proposal (stored with the notification as JSON).

    ``site`` is the compound of the asset it is about (None: about no asset); ``passed``
    is the result once decided."""

    id: str
    site: str | None
    title: str
    amount: str
    emergency: bool
    passed: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProposalFacts:
        return cls(**data)


_SUBJECT: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "proposal_opened": "【待业委会审议】维修资金申请：{title}",
        "vote_opened": "【业主表决开始】{title}",
        "passed": "【表决结果】通过：{title}",
        "failed": "【表决结果】未通过：{title}",
    },
    "en": {
        "proposal_opened": "[For the committee] Fund proposal: {title}",
        "vote_opened": "[Owners' vote opened] {title}",
        "passed": "[Vote result] Passed: {title}",
        "failed": "[Vote result] Not passed: {title}",
    },
}
_LINES: Final[dict[Language, dict[str, str]]] = {
    "zh-CN": {
        "amount": "金额：{amount} 元",
        "emergency": "紧急申请：可由业委会直接决定",
        "link": "查看：{link}",
    },
    "en": {
        "amount": "Amount: CNY {amount}",
        "emergency": "Emergency: the committee may decide it directly",
        "link": "View: {link}",
    },
}


def render_proposal(
    kind: ProposalNotice, facts: ProposalFacts, language: Language, *, link: str
) -> tuple[str, str]:
    """The subject and text of a committee notice about a proposal."""
    key: str = kind
    if kind == "vote_decided":
        key = "passed" if facts.passed else "failed"
    words = _LINES[language]
    lines = [words["amount"].format(amount=facts.amount)]
    if facts.emergency and kind == "proposal_opened":
        lines.append(words["emergency"])
    lines.append(words["link"].format(link=link))
    return _SUBJECT[language][key].format(title=facts.title), "\n".join(lines)
