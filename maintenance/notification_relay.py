"""Notifications that reach people, from the audit trail, once each and never lost.

:class:`NotificationRelay` (run by the maintenance worker, once per database) does two
things every ``interval``:

Plan
    Reads the audit entries after its cursor (table ``notification_cursor``), asks
    :func:`maintenance.domain.notices.route` who each one concerns (a new P1 or rescue
    order: the site's managers, its on-call technician by the rota, its robot groups;
    "assigned to you": the assignee; a breach: the people of the role its escalation
    level tells) and the site's routing table (:mod:`maintenance.domain.routes`) who
    hears a cost awaiting approval, a proposal, its vote and result, and each step of a
    resident's request; plus, from the stored due times, a pre-breach warning for each
    order due within ``warn_before_s`` (to its assignee and the managers, once per due
    time), and each site's daily digest once its hour has come
    (:mod:`maintenance.domain.digest`, figures from the KPI read model), and writes one
    ``notification`` row per recipient and channel, with a stable id
    (``{audit id}:{site}/{channel}:{recipient}``; ``digest:{site}@{date}`` in place of
    the audit id for a digest), in the same transaction as the
    cursor's move: an entry is planned exactly once, and a crash
    before the commit plans it again from scratch. A person is reached by the channels
    they chose (:mod:`maintenance.domain.preferences`): mail when the site has a mail
    server, to their own address (``api_user.email``) or else the one the settings file
    gives them (``people:``); an @mention by the site's first chat robot when they gave
    a chat handle. Robot groups get the site-wide notices in their own language; people
    in theirs (``api_user.locale``). Folding: a notice whose recipient already got the
    same fold key within the window waits for the window's end, and further repeats
    only raise its ``count``. Quiet hours: a notice that can wait (not about a P1 or
    rescue order) planned in the recipient's quiet hours waits until they end, and
    repeats fold into it meanwhile.
Send
    Every notification due (``pending``, ``next_attempt_at`` passed) is rendered as of
    now (so the time left is current) and sent on its channel; channels are sent to
    side by side, so one that hangs or refuses holds up no other. Each attempt is
    written (``notification_attempt``: who, channel, result, reason) with the row's new
    state in its own transaction: delivered is ``sent``; a retryable failure waits with
    exponential backoff (equal jitter) up to ``max_attempts``, then ``failed``
    (``gave_up``); a refusal is ``failed`` at once. A channel that fails is logged once
    (WARNING) until it delivers again (INFO) and counted in :class:`NotifyCounters`;
    its other due messages wait for the next round instead of timing out one by one.

Guarantee: at least once. What was pending when the process stopped is sent after the
restart with the same id; only a crash between a server accepting a message and the
attempt's commit sends it twice (the id is the mail's ``Message-ID`` and the webhook's
``id``, so receivers can tell). First start: with no cursor the relay begins at the
newest entry, so an existing trail is not replayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.backoff import equal_jitter
from estatewatch.clock import Clock
from maintenance.channels import Channel, ChannelError, Outgoing, SiteChannels
from maintenance.channels.settings import NotifySettings, SiteNotifySettings
from maintenance.db.notifications import DEFAULT_ZONE, NotificationAttemptRow, NotificationRow
from maintenance.db.read.committee import get_proposal, list_proposals
from maintenance.db.read.kpi_frames import kpi_frames
from maintenance.db.read.sites import list_sites
from maintenance.db.read.work_orders import open_orders
from maintenance.db.tables import AuditRow, WorkOrderRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.committee_notices import ProposalFacts
from maintenance.domain.digest import compose_digest, digest_day, digest_key, digest_period
from maintenance.domain.errors import NotFound
from maintenance.domain.kpis import compute_kpis
from maintenance.domain.notices import (
    ROUTED_ACTIONS,
    Language,
    NoticeKind,
    OrderFacts,
    Routed,
    escalated_to,
    held_until,
    language_of,
    on_duty,
    route,
    warned,
    warning_due,
)
from maintenance.domain.preferences import Preferences, QuietHours, released_at, urgent
from maintenance.domain.routes import (
    ORDER_ACTIONS,
    ROLES,
    Audience,
    RoutedKind,
    addressed,
    order_notice,
    proposal_notice,
    render_notice,
)
from maintenance.domain.site_time import to_site_time
from maintenance.domain.sla import SlaPolicy
from maintenance.periodic import Periodic

__all__ = ["NotificationRelay", "NotifyCounters"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NotifyCounters:
    planned: int = 0
    folded: int = 0
    """Repeats counted into a waiting notification instead of a new one."""
    delivered: Counter[str] = field(default_factory=Counter)
    """Notifications sent, by channel name."""
    retries: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    """Notifications given up or refused, by channel name."""
    outages: int = 0
    """Times a channel went from working to failing."""


@dataclass(frozen=True, slots=True)
class _Recipient:
    channel: Channel
    recipient: str
    address: str | None
    """An email address, a chat handle to @mention, or None for a robot group."""
    language: Language
    quiet: QuietHours | None = None


def _reaching(
    user: str, mine: Preferences, site: SiteChannels, *, optional: bool = False
) -> list[_Recipient]:
    """A person's recipients by the channels they chose: mail to their own address (else
    the site file's), and an @mention by the site's chat robot. ``optional``: a person
    who need not be reachable (a resident who gave no address), so none is no warning."""
    language = language_of(mine.locale)
    targets: list[_Recipient] = []
    address = mine.email or site.people.get(user)
    if "email" in mine.channels and site.email is not None and address is not None:
        targets.append(_Recipient(site.email, user, address, language, mine.quiet))
    if "chat" in mine.channels and site.mentions is not None and mine.chat_handle:
        targets.append(_Recipient(site.mentions, user, mine.chat_handle, language, mine.quiet))
    if not targets and not optional:
        log.warning("notifications: %s has no address or chat handle to reach them", user)
    return targets


@dataclass(frozen=True, slots=True)
class _About:
    """What a notice is about, as its rows store it."""

    site: str
    timezone: str
    """The site's, for the recipient's quiet hours."""
    work_order_id: str | None
    facts: dict[str, Any] = field(hash=False)
    link: str
    fold_key: str
    urgent: bool = False
    """Whether it goes even in quiet hours (about a P1 or rescue order)."""


class NotificationRelay(Periodic):
    """Plans and sends notifications; use as ``async with NotificationRelay(...):``, or
    call :meth:`step` yourself (tests, under a fake clock)."""

    def __init__(
        self,
        settings: NotifySettings,
        channels: Mapping[str, SiteChannels],
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        base_url: str,
        policy: SlaPolicy | None = None,
        interval: float = 1.0,
        batch: int = 100,
    ) -> None:
        """``policy``: the SLA targets the digest's breach counts are judged by."""
        super().__init__("notification-relay", interval)
        self._settings, self._channels = settings, channels
        self._sessions, self._clock = sessions, clock
        self._base_url = base_url.rstrip("/")
        self._policy = policy or SlaPolicy()
        self._batch = batch
        self._window = timedelta(seconds=settings.fold_window_s)
        self._down: set[str] = set()
        self._digested: dict[str, date] = {}
        """Per site, the date whose digest is planned (saves a look in the table)."""
        self.counters = NotifyCounters()

    async def step(self) -> None:
        """Plan what the trail added, then send what is due."""
        await self.plan()
        await self.send_due()

    # -- plan ----------------------------------------------------------------------------

    async def plan(self) -> None:
        async with SqlUnitOfWork(self._sessions) as uow:
            repo = uow.notifications
            cursor = await repo.cursor()
            if cursor is None:
                newest = await repo.newest_audit_id()
                await repo.save_cursor(newest)
                await uow.commit()
                log.info("notifications: first start, from audit entry %d on", newest)
                return
            entries = await repo.entries_after(cursor, self._batch)
            for entry in entries:
                await self._plan_entry(uow, entry)
            if entries:
                await repo.save_cursor(entries[-1].id)
            await self._plan_warnings(uow)
            digested = await self._plan_digests(uow)
            await uow.commit()
        self._digested.update(digested)

    async def _plan_warnings(self, uow: SqlUnitOfWork) -> None:
        """A warning for each order whose due time comes within the lead, once per due
        time (its id names the order and the due time)."""
        repo, now = uow.notifications, self._clock()
        lead = timedelta(seconds=self._settings.warn_before_s)
        for order in await repo.due_between(now, now + lead, list(self._settings.sites)):
            site = self._channels.get(order.site)
            if site is None or order.due_at is None or not warning_due(order.due_at, now, lead):
                continue
            found = await repo.order(order.id)
            zone = DEFAULT_ZONE if found is None else found[1]
            routed = warned(await repo.people(order.site), order.assignee)
            origin = (0, f"due:{order.id}@{order.due_at.isoformat()}")
            about = self._order(routed, _facts(order, zone))
            for target in await self._recipients(uow, routed, site):
                await self._plan_one(uow, origin, routed, about, target)

    async def _plan_entry(self, uow: SqlUnitOfWork, entry: AuditRow) -> None:
        if entry.entity_type == "proposal":
            await self._plan_proposal(uow, entry)
            return
        if entry.action not in ROUTED_ACTIONS and entry.action not in ORDER_ACTIONS:
            return  # most entries: no query at all
        repo = uow.notifications
        found = await repo.order(entry.entity_id)
        if found is None:
            return
        order, zone = found
        site = self._channels.get(order.site)
        site_settings = self._settings.sites.get(order.site)
        if site is None or site_settings is None:
            return
        origin = (entry.id, str(entry.id))
        if entry.action in ROUTED_ACTIONS:
            local = to_site_time(entry.at, zone).time()
            told = escalated_to(entry.action, entry.detail)
            routed = route(
                entry.action,
                entry.detail,
                order.category,
                managers=(
                    await repo.people(order.site) if entry.action != "work_order.assign" else ()
                ),
                on_call=on_duty((each.shift for each in site_settings.on_call), local),
                escalation=await repo.people(order.site, told) if told else (),
            )
            if routed is not None:
                about = self._order(routed, _facts(order, zone))
                for target in await self._recipients(uow, routed, site):
                    await self._plan_one(uow, origin, routed, about, target)
        kind = order_notice(
            entry.action,
            entry.from_state,
            entry.to_state,
            order.source,
            actor=entry.actor,
            requester=order.requested_by,
        )
        if kind is None:
            return
        # One notice per entry and person: one the rota's route already told is not
        # told twice (the id is the entry's and the person's).
        audience = _audience(site_settings, kind)
        routed = addressed(
            kind, audience, await _people(uow, order.site, audience), order.requested_by
        )
        amount = entry.detail.get("amount")
        facts = _facts(
            order,
            zone,
            amount=amount if isinstance(amount, str) else None,
            status=entry.to_state if kind == "request_update" else None,
            reason=entry.reason if kind == "request_update" else None,
        )
        about = self._order(routed, facts)
        for target in await self._recipients(uow, routed, site):
            await self._plan_one(uow, origin, routed, about, target)

    async def _plan_proposal(self, uow: SqlUnitOfWork, entry: AuditRow) -> None:
        """A committee notice; a proposal about no asset belongs to no compound, so every
        site's audience hears it, each person once."""
        kind = proposal_notice(entry.action)
        if kind is None:
            return
        try:
            record = await get_proposal(uow.session, entry.entity_id)
        except NotFound:
            return
        passed = entry.detail.get("passed")
        facts = ProposalFacts(
            id=record.id,
            site=record.site,
            title=record.title,
            amount=str(record.amount),
            emergency=record.emergency,
            passed=passed if isinstance(passed, bool) else None,
        )
        told: set[str] = set()
        zones = await _zones(uow)
        for code in [record.site] if record.site is not None else list(self._settings.sites):
            site, site_settings = self._channels.get(code), self._settings.sites.get(code)
            if site is None or site_settings is None:
                continue
            audience = _audience(site_settings, kind)
            routed = addressed(kind, audience, await _people(uow, code, audience))
            routed = Routed(kind, tuple(u for u in routed.users if u not in told), routed.groups)
            told.update(routed.users)
            about = _About(
                code,
                zones.get(code, DEFAULT_ZONE),
                None,
                facts.as_json(),
                self._link(f"/committee/proposals/{record.id}"),
                f"{kind}:{record.id}",
            )
            for target in await self._recipients(uow, routed, site):
                await self._plan_one(uow, (entry.id, str(entry.id)), routed, about, target)

    async def _plan_digests(self, uow: SqlUnitOfWork) -> dict[str, date]:
        """Each site's digest once its hour has come, once per site and date (its id
        names both); the sites and dates planned now."""
        now, planned = self._clock(), {}
        zones = await _zones(uow)
        for code, site_settings in self._settings.sites.items():
            site, audience = self._channels.get(code), site_settings.routes.digest
            zone = zones.get(code, DEFAULT_ZONE)
            day = digest_day(now, zone, site_settings.digest_at)
            if site is None or not audience or day is None or self._digested.get(code) == day:
                continue
            planned[code] = day
            key = digest_key(code, day)
            if await uow.notifications.planned(code, key):  # before a restart
                continue
            start, end = digest_period(day, zone)
            frames = await kpi_frames(uow.session, start, end, policy=self._policy, site=code)
            proposals = await list_proposals(uow.session, "open")
            facts = compose_digest(
                code,
                day,
                compute_kpis(frames, start, end),
                await open_orders(uow.session),
                [each.site for each in proposals],
            )
            routed = addressed("digest", audience, await _people(uow, code, audience))
            about = _About(code, zone, None, facts.as_json(), self._link("/committee"), key)
            for target in await self._recipients(uow, routed, site):
                await self._plan_one(uow, (0, key), routed, about, target)
        return planned

    async def _recipients(
        self, uow: SqlUnitOfWork, routed: Routed, site: SiteChannels
    ) -> list[_Recipient]:
        targets: list[_Recipient] = []
        if site.email is not None or site.mentions is not None:
            known = await uow.notifications.preferences(routed.users)
            optional = routed.kind == "request_update"  # residents give an address if they like
            for user in routed.users:
                targets += _reaching(user, known.get(user, Preferences()), site, optional=optional)
        if routed.groups:
            for robot, language in site.robots:
                targets.append(_Recipient(robot, robot.name, None, cast(Language, language)))
        return targets

    async def _plan_one(
        self,
        uow: SqlUnitOfWork,
        origin: tuple[int, str],
        routed: Routed,
        about: _About,
        target: _Recipient,
    ) -> None:
        """``origin``: the audit id (0 for a warning or a digest) and the id's first part."""
        repo, now = uow.notifications, self._clock()
        audit_id, prefix = origin
        notification_id = f"{prefix}:{about.site}/{target.channel.name}:{target.recipient}"
        if await repo.get(notification_id) is not None:  # planned before: once each
            return
        key = about.fold_key
        latest = await repo.latest(about.site, target.channel.name, target.recipient, key)
        if (
            latest is not None
            and latest.status == "pending"
            # An urgent notice waits for a fold window at most, never for quiet hours.
            and (not about.urgent or latest.next_attempt_at <= now + self._window)
        ):
            latest.count += 1  # folded into the one waiting to go (or being retried)
            self.counters.folded += 1
            return
        last_sent = latest.settled_at if latest is not None and latest.status == "sent" else None
        ready = held_until(last_sent, now, self._window)
        if not about.urgent:
            # The recipient's quiet hours hold what can wait; repeats fold into it meanwhile.
            ready = max(ready, released_at(target.quiet, now, about.timezone))
        await repo.add(
            NotificationRow(
                id=notification_id,
                audit_id=audit_id,
                work_order_id=about.work_order_id,
                site=about.site,
                channel=target.channel.name,
                recipient=target.recipient,
                address=target.address,
                language=target.language,
                kind=routed.kind,
                fold_key=key,
                facts=about.facts,
                link=about.link,
                count=1,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=ready,
                settled_at=None,
            )
        )
        self.counters.planned += 1

    def _order(self, routed: Routed, facts: OrderFacts) -> _About:
        # The order's one address in the web app: staff read it there, a technician is sent
        # on to their own order page; a resident reads their request's page.
        page = "my/requests" if routed.kind == "request_update" else "orders"
        link = self._link(f"/{page}/{facts.id}")
        return _About(
            facts.site,
            facts.timezone,
            facts.id,
            facts.as_json(),
            link,
            routed.fold_key(facts),
            urgent(routed.kind, facts.priority, facts.category),
        )

    def _link(self, path: str) -> str:
        return f"{self._base_url}{path}"

    # -- send ----------------------------------------------------------------------------

    async def send_due(self) -> None:
        async with SqlUnitOfWork(self._sessions) as uow:
            due = await uow.notifications.due(self._clock(), self._batch)
            by_channel: dict[tuple[str, str], list[str]] = defaultdict(list)
            for row in due:
                by_channel[(row.site, row.channel)].append(row.id)
        async with asyncio.TaskGroup() as tasks:
            for (site, name), ids in by_channel.items():
                channel = self._channel(site, name)
                if channel is not None:
                    tasks.create_task(self._send_on(channel, ids), name=f"notify-{site}/{name}")

    def _channel(self, site: str, name: str) -> Channel | None:
        channels = self._channels.get(site)
        if channels is None:
            return None
        every = [channels.email] if channels.email is not None else []
        every += [robot for robot, _ in channels.robots]
        return next((each for each in every if each.name == name), None)

    async def _send_on(self, channel: Channel, ids: Sequence[str]) -> None:
        """One channel's due messages in order; stop at the first retryable failure."""
        for notification_id in ids:
            if not await self._attempt(channel, notification_id):
                return

    async def _attempt(self, channel: Channel, notification_id: str) -> bool:
        """Send one; False when the channel failed in a way that may pass."""
        async with SqlUnitOfWork(self._sessions) as uow:
            row = await uow.notifications.get(notification_id)
            if row is None or row.status != "pending":
                return True
            now = self._clock()
            subject, text = render_notice(
                cast(NoticeKind, row.kind),
                row.facts,
                cast(Language, row.language),
                now=now,
                link=row.link,
                count=row.count,
                # Repeats held by quiet hours came over more than one fold window.
                window=max(self._window, now - row.created_at),
            )
            # A person's row on a robot holds the chat handle it @mentions.
            to, mention = (row.address or "", None)
            if not channel.needs_address and row.address is not None:
                to, mention = "", row.address
            message = Outgoing(row.id, to, subject, text, row.language, mention)
            result, reason, healthy = await self._deliver(channel, message)
            row.attempts += 1
            if result == "retrying" and row.attempts >= self._settings.max_attempts:
                result = "gave_up"
            if result == "retrying":
                row.next_attempt_at = now + self._backoff(row.attempts)
                self.counters.retries += 1
            else:
                row.status = "sent" if result == "delivered" else "failed"
                row.settled_at = now
                if result != "delivered":
                    self.counters.failed[channel.name] += 1
                    log.error("notification %s on %s %s: %s", row.id, channel.name, result, reason)
            await uow.notifications.record(
                NotificationAttemptRow(
                    notification_id=row.id,
                    at=now,
                    channel=channel.name,
                    recipient=row.recipient,
                    result=result,
                    detail=reason,
                )
            )
            await uow.commit()
        return healthy

    async def _deliver(self, channel: Channel, message: Outgoing) -> tuple[str, str | None, bool]:
        """(result, reason, whether the channel works)."""
        try:
            async with asyncio.timeout(self._settings.timeout_s * 2):
                await channel.send(message)
        except ChannelError as exc:
            if not exc.retryable:
                self._up(channel)  # it answered: the channel works, this message is refused
                return "refused", exc.reason, True
            self._failing(channel, exc.reason)
            return "retrying", exc.reason, False
        except TimeoutError:
            self._failing(channel, "timed out")
            return "retrying", "timed out", False
        self._up(channel)
        self.counters.delivered[channel.name] += 1
        return "delivered", None, True

    def _failing(self, channel: Channel, reason: str) -> None:
        if channel.name not in self._down:
            self._down.add(channel.name)
            self.counters.outages += 1
            log.warning("notifications: channel %s is failing: %s", channel.name, reason)

    def _up(self, channel: Channel) -> None:
        if channel.name in self._down:
            self._down.discard(channel.name)
            log.info("notifications: channel %s delivers again", channel.name)

    def _backoff(self, attempt: int) -> timedelta:
        settings = self._settings
        return timedelta(
            seconds=equal_jitter(attempt, settings.backoff_initial_s, settings.backoff_max_s)
        )


async def _zones(uow: SqlUnitOfWork) -> dict[str, str]:
    """Each imported site's time zone, by code."""
    return {each.code: each.timezone for each in await list_sites(uow.session)}


def _audience(settings: SiteNotifySettings, kind: RoutedKind) -> tuple[Audience, ...]:
    audience: tuple[Audience, ...] = getattr(settings.routes, kind)
    return audience


async def _people(
    uow: SqlUnitOfWork, site: str, audience: Sequence[Audience]
) -> dict[str, list[str]]:
    """The site's active users of each role the audience names."""
    return {role: await uow.notifications.people(site, role) for role in ROLES if role in audience}


def _facts(
    order: WorkOrderRow,
    zone: str,
    *,
    amount: str | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> OrderFacts:
    return OrderFacts(
        id=order.id,
        site=order.site,
        title=order.title,
        place=order.location or order.asset,
        priority=order.priority,
        category=order.category,
        asset=order.asset,
        fault_kind=order.fault_kind,
        due_at=order.due_at,
        timezone=zone,
        amount=amount,
        status=status,
        reason=reason,
    )
