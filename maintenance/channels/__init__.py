"""Notification channels: one small interface, one real adapter per way of reaching people.

A :class:`~maintenance.channels.base.Channel` sends one
:class:`~maintenance.channels.base.Outgoing` message and either returns (delivered) or
raises :class:`~maintenance.channels.base.ChannelError`, whose ``retryable`` says whether
the same message may succeed later (a server down, a rate limit) or never will (a refused
recipient, a bad signature). Adapters:

- :class:`~maintenance.channels.email.SmtpChannel`: mail over SMTP (aiosmtplib;
  STARTTLS or implicit TLS, and login), one per site, to each person's address;
- :mod:`maintenance.channels.robots`: the group robots of enterprise chat (WeCom,
  DingTalk, Feishu/Lark, each with its own signing rule) and estatewatch's own signed
  webhook, each posting to one group or receiver.

Which site has which channels, and their secrets, come from the notification settings
file (:mod:`maintenance.channels.settings`); :func:`~maintenance.channels.build.open_channels`
builds them in the composition root.
"""

from maintenance.channels.base import Channel, ChannelError, Outgoing
from maintenance.channels.build import SiteChannels, open_channels
from maintenance.channels.email import SmtpChannel
from maintenance.channels.robots import DingTalkRobot, FeishuRobot, SignedWebhook, WeComRobot
from maintenance.channels.settings import NotifySettings

__all__ = [
    "Channel",
    "ChannelError",
    "DingTalkRobot",
    "FeishuRobot",
    "NotifySettings",
    "Outgoing",
    "SignedWebhook",
    "SiteChannels",
    "SmtpChannel",
    "WeComRobot",
    "open_channels",
]
