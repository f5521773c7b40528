"""Retained payloads an MQTT source dead-lettered, remembered across restarts.

A broker sends a topic's retained message on every subscribe, so a retained payload the
gateway cannot accept would otherwise become a new dead letter at every start and every
reconnect. ``RetainedDeadLetters`` keeps, per topic, a digest of the retained payload
last dead-lettered, in a small JSON file next to the gateway's buffer; the source skips
(and acknowledges) that same payload when it comes again. A different retained payload
on the topic (the device fixed, or another fault) is judged afresh. The site broker is
left as it is: the gateway only reads from it.

A file that cannot be read or written costs only the memory across restarts: it is
logged as a WARNING and the source goes on with what it has in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Final

__all__ = ["RetainedDeadLetters"]

log = logging.getLogger(__name__)

# Topics remembered at most; the oldest is forgotten first (one retained message each).
MAX_TOPICS: Final = 1000


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class RetainedDeadLetters:
    """Per topic, the retained payload last dead-lettered; see the module docstring."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._digests: dict[str, str] = {}

    def load(self) -> None:
        """Read what earlier runs remembered; a missing file is an empty memory."""
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            self._digests = {str(topic): str(digest) for topic, digest in data.items()}
        except (OSError, ValueError) as exc:
            log.warning("retained dead letters %s unreadable (%s); starting empty", self.path, exc)

    def known(self, topic: str, payload: bytes) -> bool:
        """Whether this retained payload on ``topic`` was dead-lettered before."""
        return self._digests.get(topic) == _digest(payload)

    def remember(self, topic: str, payload: bytes) -> None:
        self._digests.pop(topic, None)  # re-inserted last: the newest
        self._digests[topic] = _digest(payload)
        while len(self._digests) > MAX_TOPICS:
            del self._digests[next(iter(self._digests))]
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(self._digests), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("retained dead letters not saved to %s: %s", self.path, exc)
