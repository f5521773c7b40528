"""Child processes of the demo: started in order, watched, stopped in reverse.

Each child is an ``estatewatch`` subcommand in its own process (as it would be deployed),
with its output in ``<work>/logs/<name>.log``. :class:`Children` is a context manager:
leaving it (Ctrl-C, the end of ``--duration``, or an error) sends SIGTERM to every
child still running, newest first, waits for each to finish its own clean shutdown, and
kills any that takes longer than ``STOP_TIMEOUT_S``. :meth:`Children.check` raises a
:class:`~estatewatch.errors.ServiceError` naming a child that died and the end of its log,
so a crash is reported in one message instead of being noticed much later.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from estatewatch.errors import ServiceError

ESTATEWATCH = [sys.executable, "-m", "cli"]
STOP_TIMEOUT_S = 20.0
LOG_TAIL = 1500


def stop_process(
    process: subprocess.Popen[Any],
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = STOP_TIMEOUT_S,
) -> None:
    """Ask ``process`` to stop with ``sig`` and wait for its own clean shutdown; kill it
    after ``timeout`` s. Nothing when it has ended already."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Child:
    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            # Own process group: the terminal's Ctrl-C goes to the demo alone, which then
            # stops the children in order instead of all of them at once.
            self.process = subprocess.Popen(
                [*ESTATEWATCH, *self.args],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Children:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._children: list[Child] = []

    def start(self, name: str, args: list[str]) -> Child:
        child = Child(name, args, self.logs / f"{name}.log")
        child.start()
        self._children.append(child)
        return child

    def run(self, name: str, args: list[str], timeout: float = 60.0, *, stdin: str = "") -> str:
        """Run a one-shot command to completion (``stdin`` typed into it); its output, or a
        ServiceError."""
        result = subprocess.run(
            [*ESTATEWATCH, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        log = self.logs / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ServiceError(f"{name} failed: {(result.stderr or result.stdout).strip()[-500:]}")
        return result.stdout

    def check(self) -> None:
        for child in self._children:
            code = child.exit_code
            if code is not None:
                raise ServiceError(
                    f"{child.name} exited with status {code}; the end of {child.log}:\n"
                    f"{child.tail()}"
                )

    def stop_all(self) -> None:
        for child in reversed(self._children):
            child.stop()
        self._children.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
