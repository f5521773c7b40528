"""Describe the machine a benchmark ran on, so figures from different hosts compare fairly."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model name from ``/proc/cpuinfo``, or what ``platform`` knows elsewhere."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        # x86 says "model name"; some ARM kernels only have "Hardware" or "Model".
        if key.strip() in ("model name", "Hardware", "Model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, str | int]:
    """Flat ``machine.*`` keys for ``bench/results.json``."""
    return {
        "machine.cpu_model": cpu_model(),
        "machine.cores": os.cpu_count() or 0,
        "machine.python": platform.python_version(),
        "machine.platform": platform.platform(),
    }
