"""One demo run: start the platform, print how to reach it, play the script, watch.

Ends on Ctrl-C or SIGTERM, or after ``duration`` seconds (no terminal needed); either way
every child process is stopped in order and the private servers are shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.live import Live

from demo.board import BoardReader
from demo.console import render, summary
from demo.platform import DemoOptions, Platform, running_platform
from demo.processes import Children
from demo.script import VISIT_CAR, play
from estatewatch.stopping import stop_on_signals
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.domain.sla import SlaPolicy

log = logging.getLogger("estatewatch.demo")

REFRESH_S = 1.0
SUMMARY_EVERY_S = 10.0


def run_demo(options: DemoOptions, duration: float | None, live: bool) -> int:
    with (
        Children(options.work_dir.absolute() / "logs") as children,
        running_platform(options, children, first_visit=VISIT_CAR) as platform,
    ):
        print(banner(platform, datetime.now(UTC)), flush=True)
        (options.work_dir / "demo.json").write_text(
            json.dumps(
                {
                    "api": platform.api_url,
                    "web": f"{platform.api_url}/",
                    "tokens": platform.tokens,
                    "logins": platform.logins,
                    # For `estatewatch fault --control`, as the banner prints it.
                    "fault_control": f"127.0.0.1:{platform.control_port}",
                },
                indent=2,
            )
            + "\n"
        )
        asyncio.run(_watch(platform, children, duration, live))
    print("demo stopped; everything it started has stopped too", flush=True)
    return 0


def banner(platform: Platform, now: datetime) -> str:
    """What to open and run, as copy-paste lines: an ``export`` line first, so the curl
    lines (and the README's) find the tokens; this month's KPIs as of ``now``."""
    api = platform.api_url
    month_start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    kpis = f"$API/api/v1/kpis?from={_z(month_start)}&to={_z(next_month)}"
    tokens = " ".join(f"{role.upper()}={token}" for role, token in platform.tokens.items())
    lines = [
        "",
        f"estatewatch demo: compound '{platform.site}' is running",
        f"  web      {api}/   log in as (one per role; username  password):",
        *(
            f"    {role:<11} {username:<16} {password}"
            for role, (username, password) in platform.logins.items()
        ),
        f"  API      {api}/api/v1        docs {api}/docs",
        f"  MQTT     127.0.0.1:{platform.mqtt_port}   InfluxDB {platform.influx_url}"
        " (database estatewatch)",
        f"  logs     {platform.options.work_dir / 'logs'}/   tokens also in"
        f" {platform.options.work_dir / 'demo.json'}",
        "  demo tokens (one per role):",
        *(f"    {role:<11} {token}" for role, token in platform.tokens.items()),
        "  in another shell, for the lines below and the README's examples:",
        f"    export API={api} PORT={platform.control_port} {tokens}",
        "  try:",
        '    curl -s -H "Authorization: Bearer $MANAGER" "$API/api/v1/work-orders"',
        '    curl -s -H "Authorization: Bearer $MANAGER" "$API/api/v1/alarms"',
        f'    curl -s -H "Authorization: Bearer $COMMITTEE" "{kpis}"',
        f"    {estatewatch_command()} fault --control 127.0.0.1:$PORT inject elev-03"
        " safety_circuit",
        "",
    ]
    return "\n".join(lines)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def estatewatch_command() -> str:
    """How to call ``estatewatch`` from this directory: the venv's script (not on PATH
    after ``make demo``), relative when it is below the current directory."""
    script = Path(sys.executable).parent / "estatewatch"
    if not script.exists():
        return f"{sys.executable} -m cli"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


async def _watch(
    platform: Platform, children: Children, duration: float | None, live: bool
) -> None:
    stop = stop_on_signals()
    loop = asyncio.get_running_loop()
    started = loop.time()
    steps: list[str] = []

    def announce(text: str) -> None:
        stamp = timedelta(seconds=int(loop.time() - started))
        steps.append(f"{stamp} {text}")
        if not live:
            print(f"scenario: {text}", flush=True)

    async with open_engine(platform.database_url) as engine:
        reader = BoardReader(
            make_sessionmaker(engine),
            f"http://127.0.0.1:{platform.metrics_port}/metrics",
            SlaPolicy(),
        )
        script = asyncio.create_task(play(platform, announce), name="demo-script")
        console = Console()
        next_summary = started + SUMMARY_EVERY_S
        try:
            with (
                Live(console=console, auto_refresh=False, transient=False)
                if live
                else _Nothing() as screen
            ):
                while not stop.is_set():
                    elapsed = loop.time() - started
                    if duration is not None and elapsed >= duration:
                        break
                    children.check()
                    board = await reader.read(datetime.now(UTC), steps)
                    span = timedelta(seconds=elapsed)
                    if isinstance(screen, Live):
                        screen.update(render(board, span), refresh=True)
                    elif loop.time() >= next_summary:
                        next_summary += SUMMARY_EVERY_S
                        print(summary(board, span), flush=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), REFRESH_S)
            board = await reader.read(datetime.now(UTC), steps)
            print(summary(board, timedelta(seconds=loop.time() - started)), flush=True)
        finally:
            script.cancel()


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
