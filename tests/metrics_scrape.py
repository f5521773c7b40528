"""Reading a process's /metrics as Prometheus does (prometheus_client's own parser)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


class Scrape:
    """One scrape: every sample by name and labels, and the metric names exposed."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.names: set[str] = set()
        for family in text_string_to_metric_families(text):
            # A family without samples yet (a labelled counter nothing has counted) still
            # names its series: the parser drops a counter's _total from the family name.
            self.names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
            for sample in family.samples:
                self.names.add(sample.name)
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name{labels}``; 0 when the process has not counted it yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str) -> float:
        """The sum over every label set of ``name``."""
        return sum(value for (key, _), value in self.samples.items() if key == name)


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=5.0) as client:
        reply = await client.get(url)
    reply.raise_for_status()
    return Scrape(reply.text)
