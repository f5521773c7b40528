"""Rescue orders: the timeline of an entrapment (passengers trapped in a car).

An entrapment, from the rule, the alarm button, a resident's "I am trapped" report or
the duty room, opens a work order of category ``rescue`` (fault kind ``entrapment``)
that carries a :class:`Rescue`, its timeline:

    reported > responded > arrived > released > back_in_service
    (false_alarm, with a reason, from reported, responded or arrived)

``RESCUE_TRANSITIONS`` is that table as data. Each stage change rides on an action of
the order (:mod:`.workorders`): acknowledging is the response, ``arrive`` the arrival
(an arrival also counts as the response if nobody acknowledged), ``release`` records
the passengers released, ``return_to_service`` the car back in service (and resolves the
order), ``false_alarm`` ends the rescue with its reason (and cancels the order).

**Clocks** run from the report and, unlike the SLA clocks, never pause on hold (trapped
passengers do not wait): *respond* until the response (``respond_within``, 10 minutes by
default), *arrive* until someone arrives on site (``arrive_within``: the local rule, 30
minutes in a city area and 60 elsewhere). Both stop when the rescue ends another way.

**Escalation chain**: the contracted maintainer is dispatched at the report; when it is
late on a running clock the site's chain is told, one step after another: the backup
maintainer at the breach, emergency services (119) ``emergency_after`` later. Each step
fires once per order, recorded with the SLA escalations (clock ``rescue``, level = step:
:meth:`~.workorders.WorkOrder.record_escalation`), so a restart never repeats one.

The site's settings (the site file's ``rescue`` block, :class:`maintenance.sites.
RescuePolicy`) are copied onto the rescue when it opens (:class:`RescueTargets`): the
targets in force at the report are the ones it is judged by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from maintenance.domain.errors import IllegalTransition

__all__ = [
    "AREA_ARRIVAL",
    "RESCUE_CATEGORY",
    "RESCUE_CLOCK",
    "RESCUE_FAULT_KIND",
    "RESCUE_TRANSITIONS",
    "ChainStep",
    "Rescue",
    "RescueClock",
    "RescueTargets",
    "Stage",
    "Step",
    "due_chain_steps",
]

RESCUE_CATEGORY: Final = "rescue"
RESCUE_FAULT_KIND: Final = "entrapment"
RESCUE_CLOCK: Final = "rescue"
"""The clock name the chain's steps are recorded under on the order."""

AREA_ARRIVAL: Final[Mapping[str, timedelta]] = {
    "city": timedelta(minutes=30),
    "elsewhere": timedelta(minutes=60),
}
"""The local rules' arrival targets: 30 minutes in a city area, an hour elsewhere."""


class Stage(StrEnum):
    REPORTED = "reported"
    RESPONDED = "responded"
    ARRIVED = "arrived"
    RELEASED = "released"
    BACK_IN_SERVICE = "back_in_service"
    FALSE_ALARM = "false_alarm"


class Step(StrEnum):
    RESPOND = "respond"
    ARRIVE = "arrive"
    RELEASE = "release"
    RETURN_TO_SERVICE = "return_to_service"
    FALSE_ALARM = "false_alarm"


_S = Stage
RESCUE_TRANSITIONS: Mapping[Step, Mapping[Stage, Stage]] = {
    Step.RESPOND: {_S.REPORTED: _S.RESPONDED},
    Step.ARRIVE: {_S.REPORTED: _S.ARRIVED, _S.RESPONDED: _S.ARRIVED},
    Step.RELEASE: {_S.RESPONDED: _S.RELEASED, _S.ARRIVED: _S.RELEASED},
    Step.RETURN_TO_SERVICE: {_S.RELEASED: _S.BACK_IN_SERVICE},
    Step.FALSE_ALARM: dict.fromkeys((_S.REPORTED, _S.RESPONDED, _S.ARRIVED), _S.FALSE_ALARM),
}
"""step -> {stage it is allowed in: stage it leads to}."""

ENDED: Final = frozenset({Stage.BACK_IN_SERVICE, Stage.FALSE_ALARM})
_WAITING: Final = frozenset({Stage.REPORTED, Stage.RESPONDED})
"""Stages in which nobody is on site yet: the chain may escalate."""


@dataclass(frozen=True, slots=True)
class ChainStep:
    level: int
    notify: str
    """``backup_maintainer`` or ``emergency_services``."""
    party: str
    """Who that is at this site (a company, ``119``)."""
    after: timedelta
    """Time past the breach of a clock before this step fires."""


@dataclass(frozen=True, slots=True)
class RescueTargets:
    respond_within: timedelta
    arrive_within: timedelta
    contracted_maintainer: str | None
    chain: tuple[ChainStep, ...]


@dataclass(frozen=True, slots=True)
class RescueClock:
    name: Literal["respond", "arrive"]
    target: timedelta
    elapsed: timedelta
    stopped_at: datetime | None

    @property
    def overdue(self) -> timedelta:
        return self.elapsed - self.target

    @property
    def breached(self) -> bool:
        return self.elapsed > self.target


@dataclass(eq=False)
class Rescue:
    """The timeline of one rescue order; changed only through :meth:`step`."""

    targets: RescueTargets
    reported_at: datetime
    stage: Stage = Stage.REPORTED
    responded_at: datetime | None = None
    arrived_at: datetime | None = None
    released_at: datetime | None = None
    ended_at: datetime | None = None
    """Back in service, or marked a false alarm."""
    false_alarm_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.stage in ENDED

    def allows(self, step: Step) -> bool:
        return self.stage in RESCUE_TRANSITIONS[step]

    def step(self, order_id: str, step: Step, now: datetime, *, reason: str | None = None) -> None:
        """Move along the timeline; IllegalTransition names the stage and allowed steps."""
        targets = RESCUE_TRANSITIONS[step]
        if self.stage not in targets:
            allowed = [
                s.value for s, sources in RESCUE_TRANSITIONS.items() if self.stage in sources
            ]
            raise IllegalTransition(f"{order_id} (rescue)", self.stage.value, step.value, allowed)
        self.stage = targets[self.stage]
        match step:
            case Step.RESPOND:
                self.responded_at = now
            case Step.ARRIVE:
                self.arrived_at = now
                self.responded_at = self.responded_at or now
            case Step.RELEASE:
                self.released_at = now
            case Step.RETURN_TO_SERVICE:
                self.ended_at = now
            case Step.FALSE_ALARM:
                self.ended_at = now
                self.false_alarm_reason = reason

    def clocks(self, now: datetime) -> tuple[RescueClock, RescueClock]:
        """The respond and arrive clocks at ``now``."""
        # A rescue that ended without an arrival (released by someone else, a false
        # alarm) stops the clocks then: nobody is late for a rescue that is over.
        over = self.released_at or self.ended_at
        return (
            self._clock("respond", self.targets.respond_within, self.responded_at or over, now),
            self._clock("arrive", self.targets.arrive_within, self.arrived_at or over, now),
        )

    def _clock(
        self,
        name: Literal["respond", "arrive"],
        target: timedelta,
        stop: datetime | None,
        now: datetime,
    ) -> RescueClock:
        end = stop if stop is not None else now
        return RescueClock(name, target, max(end - self.reported_at, timedelta(0)), stop)

    @property
    def arrival_time(self) -> timedelta | None:
        return None if self.arrived_at is None else self.arrived_at - self.reported_at

    @property
    def rescue_duration(self) -> timedelta | None:
        """From the report to the passengers' release."""
        return None if self.released_at is None else self.released_at - self.reported_at


def due_chain_steps(
    rescue: Rescue, sent_levels: set[int], now: datetime
) -> list[tuple[ChainStep, timedelta]]:
    """The chain's steps due at ``now`` and not in ``sent_levels``, each with how late the
    latest running clock is; none once someone is on site or the rescue is over."""
    if rescue.stage not in _WAITING:
        return []
    late = max((c.overdue for c in rescue.clocks(now) if c.stopped_at is None), default=None)
    if late is None or late <= timedelta(0):
        return []
    return [
        (step, late)
        for step in rescue.targets.chain
        if step.level not in sent_levels and late > step.after
    ]
