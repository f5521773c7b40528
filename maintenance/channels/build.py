"""Building each site's channels from the settings (the composition root calls this)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from estatewatch.clock import Clock
from maintenance.channels.base import Channel
from maintenance.channels.email import SmtpChannel
from maintenance.channels.robots import DingTalkRobot, FeishuRobot, SignedWebhook, WeComRobot
from maintenance.channels.settings import NotifySettings, RobotSettings

__all__ = ["SiteChannels", "open_channels"]

_ROBOTS = {
    "wecom": WeComRobot,
    "dingtalk": DingTalkRobot,
    "feishu": FeishuRobot,
    "webhook": SignedWebhook,
}
_CHAT = frozenset({"wecom", "dingtalk", "feishu"})
"""The robots that post in a group people read, so can @mention one of them."""


@dataclass(frozen=True, slots=True)
class SiteChannels:
    """A site's channels: ``email`` for people (to their own address, else the one in
    ``people``); ``robots`` with the language each group reads; ``mentions``: the robot
    that @mentions a person who asked for chat (the site's first chat robot, not a
    webhook)."""

    email: Channel | None
    robots: tuple[tuple[Channel, str], ...]
    people: Mapping[str, str]
    mentions: Channel | None = None


@asynccontextmanager
async def open_channels(
    settings: NotifySettings, clock: Clock
) -> AsyncIterator[dict[str, SiteChannels]]:
    """Every site's channels, over one HTTP client closed at exit."""
    async with httpx.AsyncClient(
        timeout=settings.timeout_s, proxy=settings.proxy, trust_env=False, follow_redirects=False
    ) as client:

        def robot(robot: RobotSettings) -> tuple[Channel, str]:
            adapter = _ROBOTS[robot.kind](robot.name, robot.url, robot.secret, client, clock)
            return adapter, robot.language

        sites: dict[str, SiteChannels] = {}
        for code, site in settings.sites.items():
            robots = tuple(robot(each) for each in site.robots)
            chat = [
                adapter
                for (adapter, _), each in zip(robots, site.robots, strict=True)
                if each.kind in _CHAT
            ]
            sites[code] = SiteChannels(
                email=SmtpChannel(code, site.email, clock) if site.email else None,
                robots=robots,
                people=site.people,
                mentions=chat[0] if chat else None,
            )
        yield sites
