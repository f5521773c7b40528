"""Running ``estatewatch`` commands as separate processes, for the end-to-end and browser
tests.

start(["api", "--port", "8123"], cwd, log)   # output appended to ``log``
estatewatch("users", "add", "root", "--role", "admin", cwd=cwd)   # stdout, or fail
stop(process)                                 # SIGTERM, reaped; killed after 30 s
await until(check, 20, "what we wait for")   # polls a sync or async check
wait_until_serving(base, process)             # an API process answers /healthz
await until(lambda: serving(base), 90, "the API")   # the same from async code
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

ESTATEWATCH = [sys.executable, "-m", "cli"]


def start(
    args: list[str], cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``estatewatch ARGS`` in the background, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*ESTATEWATCH, *args],
            cwd=cwd,
            stdout=out,
            stderr=out,
            env=None if env is None else os.environ | dict(env),
        )


def estatewatch(*args: str, cwd: Path) -> str:
    """``estatewatch ARGS`` to the end; its standard output (the test fails on an error)."""
    done = subprocess.run(
        [*ESTATEWATCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"estatewatch {' '.join(args)}: {done.stderr}"
    return done.stdout


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal ``process`` and reap it; one still running 30 s later is killed."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


async def until(check: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``check`` (sync or async) until it is true; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.2)


# An API's start on a loaded host (migrations, imports) can take tens of seconds.
START_S = 90.0


def wait_until_serving(
    base: str, process: subprocess.Popen[Any], seconds: float = START_S, log: Path | None = None
) -> None:
    """Wait until the ``estatewatch api`` ``process`` answers ``base``/healthz; fail the
    test (with the end of ``log``) if it exits first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"estatewatch api exited with {process.returncode}{_tail(log)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            waited = f"{seconds:.0f} s"
            pytest.fail(f"estatewatch api did not answer /healthz within {waited}{_tail(log)}")
        time.sleep(0.1)


async def serving(base: str) -> bool:
    """Whether the API at ``base`` answers /healthz (a check for :func:`until`)."""
    async with httpx.AsyncClient() as client:
        try:
            return (await client.get(f"{base}/healthz", timeout=1)).status_code == 200
        except httpx.TransportError:
            return False


def _tail(log: Path | None) -> str:
    return "" if log is None or not log.exists() else f":\n{log.read_text()[-3000:]}"
