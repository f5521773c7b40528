"""MQTT for every process: one reconnecting session (:mod:`.link`), TLS from files
(:mod:`.tls`), and the central services' consumption of the wire topics (:mod:`.consumer`).

Only :mod:`estatewatch.mqtt.link` imports aiomqtt; everything else says what to subscribe
and publish through it.
"""

from estatewatch.mqtt.consumer import (
    ALL_SITES,
    Decoder,
    Handler,
    Sequenced,
    WireConsumer,
    parse_sites,
    site_filters,
)
from estatewatch.mqtt.link import (
    Ack,
    Connection,
    Link,
    LinkDownError,
    Message,
    PublishRefusedError,
    Will,
    discard_session,
    valid_filter,
)
from estatewatch.mqtt.tls import TlsFiles, tls_context

__all__ = [
    "ALL_SITES",
    "Ack",
    "Connection",
    "Decoder",
    "Handler",
    "Link",
    "LinkDownError",
    "Message",
    "PublishRefusedError",
    "Sequenced",
    "TlsFiles",
    "Will",
    "WireConsumer",
    "discard_session",
    "parse_sites",
    "site_filters",
    "tls_context",
    "valid_filter",
]
