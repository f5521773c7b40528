"""The duty board through a real fault: ``estatewatch demo`` runs the whole platform
(simulator > gateway > broker > maintenance worker > audit trail > live hub > SSE), the
manager opens the board, and what breaks in the simulated compound appears on it without
a reload: a fault injected through the simulator's control port (as ``estatewatch fault``
does), then the demo's own scripted scenario (the entrapment in elev-02, 30 s after the
car stops).

Slow by nature (a minute and a half: the entrapment rule waits 30 s), so it is one test
that checks everything on the same open page.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from demo.processes import stop_process
from infra.local import free_ports

ESTATEWATCH = [sys.executable, "-m", "cli"]
# Long enough for the scenario's entrapment (10 s + 30 s) with room for a slow machine;
# the test stops the demo as soon as it has seen what it needs.
DURATION_S = 240
LIVE_TIMEOUT_MS = 120_000

Shoot = Callable[[Page, str], Path]


def _start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    (port,) = free_ports(1)
    work = tmp_path / "demo"
    with (tmp_path / "demo.out").open("w") as out:  # the child keeps its own copy of the fd
        demo = subprocess.Popen(
            [*ESTATEWATCH, "demo", "--duration", str(DURATION_S), "--api-port", str(port),
             "--work-dir", str(work)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return demo, work, port


def _wait_for_demo(demo: subprocess.Popen[bytes], work: Path, out: Path) -> dict[str, object]:
    deadline = time.monotonic() + 150
    while not (work / "demo.json").exists():
        if demo.poll() is not None:
            pytest.fail(f"the demo exited: {out.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the demo did not come up in 150 s: {out.read_text()}")
        time.sleep(0.5)
    info: dict[str, object] = json.loads((work / "demo.json").read_text())
    return info


def test_faults_in_the_simulated_compound_appear_on_the_open_board(
    tmp_path: Path, desktop: Page, shoot: Shoot
) -> None:
    demo, work, port = _start_demo(tmp_path)
    try:
        info = _wait_for_demo(demo, work, tmp_path / "demo.out")
        username, password = info["logins"]["manager"]  # type: ignore[index]
        desktop.goto(f"http://127.0.0.1:{port}/login")
        desktop.fill("input[name=username]", username)
        desktop.fill("input[name=password]", password)
        desktop.click("form[action='/login'] button")
        desktop.wait_for_url(lambda url: "/login" not in url)
        desktop.goto(f"http://127.0.0.1:{port}/board")
        expect(desktop.locator("#live.connected")).to_have_count(1, timeout=30_000)
        # A reload or a navigation would lose this; it must still be there at the end.
        desktop.evaluate("window.openedOnce = 'the same page'")

        alarms = desktop.locator(".alarms li")
        tile = desktop.locator(".tile", has=desktop.locator(".car", has_text="elev-03"))
        trapped = desktop.locator(".tile", has=desktop.locator(".car", has_text="elev-02"))
        expect(tile).to_have_count(1)
        expect(tile).not_to_have_class("tile fault")
        expect(alarms.filter(has_text="elev-03")).to_have_count(0)
        # The entrapment needs the car stuck for 30 s after the 10 s step: not yet here.
        expect(alarms.filter(has_text="困人")).to_have_count(0)

        # The safety circuit opens (E41): the controller stops the car, the gateway
        # reads it, maintenance raises a level-5 fault and an order.
        subprocess.run(
            [*ESTATEWATCH, "fault", "--control", str(info["fault_control"]),
             "inject", "elev-03", "safety_circuit"],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        e41 = alarms.filter(has_text="elev-03").filter(has_text="E41")
        expect(e41).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(tile).to_have_class("tile fault", timeout=LIVE_TIMEOUT_MS)
        expect(tile.locator(".car-state")).to_have_text("故障")
        expect(tile.locator(".fault")).to_contain_text("E41")
        # The rule's sentence in the reader's language (api/web/alarm_messages.py).
        order = desktop.locator(".order-row", has_text="elev-03").filter(
            has_text="控制柜故障 E41 停梯"
        )
        expect(order).to_have_count(1)

        # The scripted scenario, live: the passenger trapped in elev-02 is a P1, announced.
        entrapment = alarms.filter(has_text="elev-02").filter(has_text="困人")
        expect(entrapment).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(entrapment.locator(".prio")).to_have_text("P1")
        expect(trapped).to_have_class("tile fault", timeout=LIVE_TIMEOUT_MS)
        expect(desktop.locator("#p1-banner")).to_be_visible()
        assert desktop.evaluate("window.openedOnce") == "the same page"
        shoot(desktop, "board-demo-desktop-zh")
    finally:
        # As Ctrl-C would: the demo stops its children in order; a kill would orphan them.
        stop_process(demo, signal.SIGINT, timeout=60)
    assert demo.returncode == 0, (tmp_path / "demo.out").read_text()
