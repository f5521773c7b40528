"""``estatewatch users``, ``tokens`` and ``api`` driven as an operator would, in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from process_support import wait_until_serving

from estatewatch.ports import free_ports

pytestmark = pytest.mark.e2e

ESTATEWATCH = [sys.executable, "-m", "cli"]


def estatewatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ESTATEWATCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def start_api(port: int, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """``estatewatch api`` on ``port`` with ``args``; /readyz finds no broker (port 1)."""
    return subprocess.Popen(
        [*ESTATEWATCH, "api", "--port", str(port), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"ESTATEWATCH_API_MQTT_PORT": "1"},
    )


def test_make_an_admin_serve_the_api_call_it_and_stop_on_sigterm(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    migrated = estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    added = estatewatch("users", "add", "alice", "--role", "admin", *data, cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, "user alice (admin) added\n"), added.stderr
    refused = estatewatch("users", "add", "li", "--role", "resident", *data, cwd=tmp_path)
    assert refused.returncode == 2
    assert "a resident needs the unit they live in" in refused.stderr
    with_address = ["users", "add", "wang", "--role", "technician", "--email"]
    mistyped = estatewatch(*with_address, "wang@", *data, cwd=tmp_path)
    assert mistyped.returncode == 2
    assert "users add wang: email:" in mistyped.stderr
    mailed = estatewatch(*with_address, "wang@example.com", *data, cwd=tmp_path)
    assert mailed.returncode == 0, mailed.stderr

    created = estatewatch("tokens", "create", "alice", "--expires-in", "2h", *data, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ew_")
    assert "cannot be shown again" in created.stderr
    for stored in (tmp_path / "data").iterdir():  # the database and its WAL
        assert token.encode() not in stored.read_bytes()

    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    server = start_api(port, *data, cwd=tmp_path)
    try:
        wait_until_serving(base, server)
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["username"] == "alice"
        anonymous = httpx.get(f"{base}/api/v1/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert httpx.get(f"{base}/docs").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503  # nothing listens on the broker port given
        assert ready.json()["detail"] == "not ready: broker unavailable"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Application shutdown complete" in output

    tokens = estatewatch("tokens", "list", "alice", *data, cwd=tmp_path)
    token_id = tokens.stdout.split("\t")[0]
    revoked = estatewatch("tokens", "revoke", token_id, *data, cwd=tmp_path)
    assert revoked.stdout == f"token {token_id} of alice revoked\n"


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a command refusing an un-migrated database prints."""
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (2, 1), done.stderr
    assert "is at revision (none)" in lines[0]
    assert "run 'estatewatch maintenance db upgrade'" in lines[0]
    return lines[0]


def test_the_api_and_the_user_commands_refuse_a_database_never_migrated(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    (port,) = free_ports(1)
    refusal(estatewatch("api", "--port", str(port), *data, cwd=tmp_path))
    refusal(estatewatch("users", "add", "alice", "--role", "admin", *data, cwd=tmp_path))
    refusal(estatewatch("tokens", "list", "alice", *data, cwd=tmp_path))
    # Nothing was migrated behind the refusals: the database is still at no revision.
    refusal(estatewatch("maintenance", "audit", "verify", *data, cwd=tmp_path))


def test_the_api_says_at_once_that_its_port_is_taken(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        # The database was never migrated either: the port is checked first, before the
        # schema and the app's start.
        done = estatewatch("api", "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"estatewatch: error: the API cannot listen on 127.0.0.1:{port}: Address already in use"
        " (is another estatewatch api running there? choose another with --port)"
    ]


def test_the_api_started_with_migrate_migrates_and_serves(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    server = start_api(port, "--migrate", *data, cwd=tmp_path)
    try:
        wait_until_serving(base, server)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    added = estatewatch("users", "add", "alice", "--role", "admin", *data, cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, "user alice (admin) added\n"), added.stderr


def test_the_first_admin_sets_a_password_at_the_prompt_and_logs_in_on_the_web(
    tmp_path: Path,
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert estatewatch("maintenance", "db", "upgrade", *data, cwd=tmp_path).returncode == 0

    def add(typed: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ESTATEWATCH, "users", "add", "alice", "--role", "admin", "--password-prompt", *data],
            cwd=tmp_path,
            input=typed,
            capture_output=True,
            text=True,
            timeout=60,
        )

    mismatch = add("Harbour-Lights-42\nHarbour-Lights-43\n")
    assert mismatch.returncode == 2
    assert "the two passwords differ; nothing was changed" in mismatch.stderr
    weak = add("short\nshort\n")
    assert weak.returncode == 2
    assert "at least 10 characters" in weak.stderr
    listed = estatewatch("users", "list", *data, cwd=tmp_path)
    assert "alice" not in listed.stdout  # neither refusal created the user
    added = add("Harbour-Lights-42\nHarbour-Lights-42\n")
    assert added.returncode == 0, added.stderr

    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    server = start_api(port, *data, cwd=tmp_path)
    try:
        wait_until_serving(base, server)
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/login")
            csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            answer = browser.post(
                "/login",
                data={"csrf_token": csrf, "username": "alice", "password": "Harbour-Lights-42"},
            )
            assert answer.status_code == 303
            assert browser.get("/account").status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    for stored in (tmp_path / "data").iterdir():
        assert b"Harbour-Lights-42" not in stored.read_bytes()  # only the argon2 hash

    reset = subprocess.run(
        [*ESTATEWATCH, "users", "set-password", "alice", *data],
        cwd=tmp_path,
        input="Quiet-Harbour-77\nQuiet-Harbour-77\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (reset.returncode, reset.stdout) == (
        0,
        "password of alice set; their web sessions ended\n",
    ), reset.stderr
    unknown = subprocess.run(
        [*ESTATEWATCH, "users", "set-password", "nobody", *data],
        cwd=tmp_path,
        input="Quiet-Harbour-77\nQuiet-Harbour-77\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "no user nobody" in unknown.stderr
