"""``estatewatch demo`` as a newcomer runs it, checked through the API it starts.

The demo runs headless for a fixed time; meanwhile the test reads the demo tokens it
wrote and asks the API, as the property manager, for the work orders the scripted faults
must have produced. Afterwards nothing the demo started may still be running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from demo.processes import stop_process
from infra.local import free_ports

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]
DURATION_S = 75
# asset -> (priority, source) the scenario must produce (demo/script.py)
EXPECTED = {
    "demo/elevator/elev-02": ("P1", "alarm"),  # the entrapment
    "demo/smoke_alarm/smoke-001": ("P1", "alarm"),  # smoke in the bike shed
    "demo/building/B2/stairwell-7f": ("P3", "resident"),  # the resident's request
}


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_scripted_faults_become_work_orders_and_everything_stops(
    tmp_path: Path, database: str
) -> None:
    (port,) = free_ports(1)
    work = tmp_path / "demo"
    out = (tmp_path / "demo.out").open("w")
    # On PostgreSQL the test stops it with SIGTERM, as a service manager would, before
    # its time is up.
    duration = DURATION_S if database == "sqlite" else DURATION_S + 300
    demo = subprocess.Popen(
        [*ESTATEWATCH, "demo", "--duration", str(duration), "--api-port", str(port),
         "--work-dir", str(work), "--db", database],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # (asset, (priority, source)) of every order: a car also has its scheduled visit's.
    seen: set[tuple[str, tuple[str, str]]] = set()
    try:
        # Generous: on a loaded machine its dozen processes take over a minute to start
        # (2.5 minutes and more on a 2-core host shared by a team, PostgreSQL's one more).
        deadline = time.monotonic() + 300
        while not (work / "demo.json").exists():
            assert demo.poll() is None, (tmp_path / "demo.out").read_text()
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.5)
        tokens = json.loads((work / "demo.json").read_text())["tokens"]
        run_the_printed_commands((tmp_path / "demo.out").read_text())
        headers = {"Authorization": f"Bearer {tokens['manager']}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as api:
            while demo.poll() is None and not EXPECTED.items() <= seen:
                reply = api.get("/api/v1/work-orders", params={"limit": 100})
                if reply.status_code == 200:
                    seen = {
                        (o["asset"], (o["priority"], o["source"])) for o in reply.json()["items"]
                    }
                time.sleep(2)
            # Residents see their own request only: the API enforces it, not the demo.
            mine = api.get(
                "/api/v1/requests", headers={"Authorization": f"Bearer {tokens['resident']}"}
            )
            assert mine.status_code == 200, mine.text
            assert [o["asset"] for o in mine.json()["items"]] == ["demo/building/B2/stairwell-7f"]
            # The month of visits played before the start (demo/history.py): every car
            # visited within 15 days, so none is overdue; its visits closed.
            plans = api.get("/api/v1/maintenance/plans", params={"site": "demo"}).json()
            assert len(plans) == 6
            for plan in plans:
                assert plan["last_visit_on"] is not None, plan
                assert not plan["overdue"], plan
            # The scripted maintenance visit (demo/script.py, at 30 s): recorded and signed.
            today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
            visit_deadline = time.monotonic() + 40
            while True:
                plans = api.get("/api/v1/maintenance/plans", params={"site": "demo"}).json()
                car = next(p for p in plans if p["device_id"] == "elev-03")
                if car["last_visit_on"] == today or time.monotonic() > visit_deadline:
                    break
                time.sleep(1)
            assert car["last_visit_on"] is not None, car
            assert car["last_visit_on"] == today, car
            orders = api.get("/api/v1/work-orders", params={"asset": car["asset"]}).json()
            (visited,) = [o for o in orders["items"] if o["status"] == "resolved"]
            history = [o for o in orders["items"] if o["category"] == "maintenance_visit"]
            assert len(history) >= 3, history  # the month's visits and today's
            record = api.get(f"/api/v1/maintenance/visits/{visited['id']}").json()
            assert record["signed_by"] == "demo-manager"
            assert [i["code"] for i in record["items"] if i["status"] == "defect"] == ["HM29"]
            # The worn doors' E49 (at 45 s) is an order too, P2 or P1 as the car is empty
            # or not. Waiting for it here also means an order opened after the stop below
            # is the stop's doing, not a scripted fault still on its way.
            e49_deadline = time.monotonic() + 60
            while not any(
                "E49" in o["title"]
                for o in api.get(
                    "/api/v1/work-orders", params={"asset": "demo/elevator/elev-01"}
                ).json()["items"]
            ):
                assert time.monotonic() < e49_deadline, "elev-01's E49 opened no order"
                time.sleep(1)
        # The printed web login works in the web app.
        username, password = json.loads((work / "demo.json").read_text())["logins"]["manager"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            form = browser.get("/login")
            csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            logged_in = browser.post(
                "/login", data={"csrf_token": csrf, "username": username, "password": password}
            )
            assert logged_in.status_code == 303, logged_in.text[:300]
            assert username in browser.get("/account").text
        assert EXPECTED.items() <= seen, seen
        # The entrapment's rescue order reached the local mail catcher and chat group
        # (the notification relay looks every second).
        caught = work / "notify"
        notify_deadline = time.monotonic() + 20
        while not ((caught / "mail.jsonl").exists() and (caught / "robot.jsonl").exists()):
            assert time.monotonic() < notify_deadline, "nothing reached the catchers"
            time.sleep(0.5)
        time.sleep(2)  # the rest of the first round
        mails = [json.loads(line) for line in (caught / "mail.jsonl").read_text().splitlines()]
        rescue_mails = [m["to"] for m in mails if m["subject"].startswith("【救援】")]
        # Each to the user's own address (the settings file lists nobody's).
        assert "demo-manager@estate.demo" in rescue_mails, mails
        posts = [json.loads(line) for line in (caught / "robot.jsonl").read_text().splitlines()]
        rescue_posts = [p["text"] for p in posts if p["text"]["content"].startswith("【救援】")]
        # One to the group, one @mentioning the manager, who reads the chat too.
        assert [p.get("mentioned_list") for p in rescue_posts] in (
            [None, ["demo-manager"]],
            [["demo-manager"], None],
        ), posts
        if database == "sqlite":
            assert demo.wait(DURATION_S + 60) == 0
        else:
            stopped_at = datetime.now()  # the logs' local time
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(60) == 0
            # The gateway stopped first and said "offline": within the grace, no order.
            assert orders_opened_since(work / "logs" / "maintenance.log", stopped_at) == []
        assert "gateway_offline" not in (work / "logs" / "maintenance.log").read_text()
        # The worker's files are in the work directory whatever the database: a rule state
        # left elsewhere by an earlier run would keep its alarms raised, opening no orders.
        assert (work / "maintenance" / "rule-state.json").exists()
        # The orders above came from the database asked for, and only from it.
        on_postgres = (work / "services" / "postgresql" / "data" / "PG_VERSION").exists()
        on_sqlite = (work / "maintenance" / "maintenance.db").exists()
        assert (on_sqlite, on_postgres) == (database == "sqlite", database == "postgresql")
    finally:
        # As Ctrl-C would: the demo stops its children; a kill would orphan them.
        stop_process(demo, signal.SIGINT, timeout=60)
        out.close()
    text = (tmp_path / "demo.out").read_text()
    assert "Traceback" not in text
    assert "demo tokens (one per role)" in text
    assert "log in as (one per role" in text
    assert "everything it started has stopped too" in text
    assert processes_mentioning(str(work)) == []


def run_the_printed_commands(printed: str) -> None:
    """The banner's ``export`` line and each ``try:`` line, run as a newcomer would paste
    them into a shell: every curl answers JSON that is no error, the command works."""
    lines = printed.splitlines()
    (export,) = [line.strip() for line in lines if line.strip().startswith("export API=")]
    tried = lines[lines.index("  try:") + 1 :]
    commands = [line.strip() for line in tried[: tried.index("")]]
    assert len(commands) == 4, commands
    for command in commands:
        if " fault " in command:  # list the simulator's faults instead of injecting one
            command = command.replace(" inject elev-03 safety_circuit", " list")
        done = subprocess.run(
            ["bash", "-c", f"{export}\n{command}"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (command, done.stderr)
        if command.startswith("curl"):
            answer = json.loads(done.stdout)
            assert not (isinstance(answer, dict) and "status" in answer), (command, answer)
        else:
            assert "elev-03" in done.stdout, done.stdout


def orders_opened_since(log: Path, moment: datetime) -> list[str]:
    """The worker's "work order ... opened" lines logged at or after ``moment``."""
    return [
        line
        for line in log.read_text().splitlines()
        if " work order " in line
        and " opened: " in line
        and datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") >= moment
    ]


def test_bad_input_is_one_clear_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [*ESTATEWATCH, "demo", "--api-port", str(port), "--work-dir", str(tmp_path / "a")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines() == [
        f"estatewatch: error: port {port} (the API) is already in use:"
        " stop what uses it or pass --api-port"
    ]
    broken = tmp_path / "site.yaml"
    broken.write_text("site: demo\nname: Demo\nbuildings:\n  - name: B1\n    floors: lots\n")
    bad = subprocess.run(
        [*ESTATEWATCH, "demo", "--site-file", str(broken), "--work-dir", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    [line] = bad.stderr.strip().splitlines()
    assert str(broken) in line
    assert "floors" in line
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
    negative = subprocess.run(
        [*ESTATEWATCH, "demo", "--visit-days", "-3", "--work-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert negative.returncode == 2
    assert negative.stderr.strip().splitlines()[-1] == (
        "estatewatch demo: error: argument --visit-days: '-3' is not a number of days from 0 to 365"
    )
    assert not (tmp_path / "c").exists()
