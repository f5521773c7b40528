"""The life cycle shared by the private services: find, configure, spawn, probe, stop.

A service owns one directory (``root/<dirname>/``) holding its generated config, data, log
and a pid file. The pid file lets a later start notice an instance left running by a run
that was killed, instead of starting a second server over the same data.

A server dies with the process that started it: it is spawned with the Linux
parent-death signal (``PR_SET_PDEATHSIG``), so a test run, benchmark or demo killed with
SIGKILL, which runs no ``atexit`` hook, leaves no server behind. The kernel ties that
signal to the *thread* that spawned the server, so a server started from another thread
(``asyncio.to_thread``) would die with that worker thread; there it is not set, and only
the ``atexit`` net below applies.
"""

from __future__ import annotations

import abc
import atexit
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Final, Self

from estatewatch.errors import ServiceError
from estatewatch.ports import LOOPBACK, free_ports

log = logging.getLogger(__name__)

INSTALL_HINT: Final = (
    "install the Debian packages with 'sudo apt-get install mosquitto influxdb' "
    "(or run 'make setup')"
)
# Daemons live in sbin on Debian, which is often not on a normal user's PATH.
_SYSTEM_DIRS: Final = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Every retry picks fresh ports, so a handful covers any realistic port-stealing race.
_START_ATTEMPTS: Final = 5
_POLL_INTERVAL_S: Final = 0.05
_LOG_TAIL_LINES: Final = 20
_PR_SET_PDEATHSIG: Final = 1  # from <linux/prctl.h>
# Looked up once here: a forked child of a threaded parent must not run the dynamic loader.
_prctl: Final = ctypes.CDLL(None, use_errno=True).prctl


# Safety net for a caller that forgets stop(): the servers run in their own session, so
# nothing else would end them when this interpreter exits.
_started: weakref.WeakSet[ManagedService] = weakref.WeakSet()


@atexit.register
def _stop_forgotten() -> None:
    for service in list(_started):
        # A forked child inherits this hook but not the servers; they stay the parent's.
        if service._owner_pid == os.getpid():
            service.close()


class AddressInUseError(Exception):
    """Raised by a startup probe when the server could not bind one of its ports."""


class Lifecycle(abc.ABC):
    """Start, stop, restart, close and ``with`` for things kept under a root directory;
    ``close`` also deletes the root when this object made it (a temporary one)."""

    root: Path
    _owns_root: bool

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    def restart(self) -> None:
        """Stop and start again on the same port(s) with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and delete the root if this object created it."""
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ManagedService(Lifecycle):
    """A private server process on loopback ports, configured and stored under ``root``.

    ``port`` is picked when the object is built (unless given) so it is known before the
    first start; it is final once ``start()`` returns, and every later ``start()`` or
    ``restart()`` reuses it together with the data directory.
    """

    host: Final = LOOPBACK
    name: ClassVar[str]
    """Human name for messages, e.g. ``Mosquitto``."""
    program: ClassVar[str]
    """Executable looked up on PATH and in the sbin directories."""
    dirname: ClassVar[str]
    """Subdirectory of ``root`` holding this service's files."""
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    """What ``stop()`` sends first: the server's clean, prompt shutdown."""
    death_signal: ClassVar[signal.Signals] = signal.SIGTERM
    """What the kernel sends the server when the process that started it dies."""

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        *,
        executable: Path | str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._owns_root = root is None
        # Absolute, because the server runs with its own directory as working directory
        # and the generated config must not depend on where the caller was.
        self.root = (root if root is not None else temporary_root(self.program)).absolute()
        self.directory = self.root / self.dirname
        self._port_movable = port is None
        self.port = port if port is not None else free_ports(1)[0]
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, running={self.running})"

    @property
    def config_path(self) -> Path:
        return self.directory / f"{self.program}.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.program}.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / f"{self.program}.pid"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id while the server runs, else ``None``."""
        return self._process.pid if self.running and self._process is not None else None

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and return once it answers; a no-op if it already runs."""
        if self.running:
            return
        self.stop()  # reaps a process that died on its own since the last start
        executable = self._find_executable()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._refuse_leftover()
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._write_config()
            self._spawn(executable)
            try:
                self._wait_until_ready()
                self._after_ready()
            except AddressInUseError:
                self.stop()
                if not self._repick_ports():
                    raise ServiceError(
                        f"{self.name} cannot listen on {self.host}:{self.port}: "
                        "the port is in use by another process"
                    ) from None
                if attempt == _START_ATTEMPTS:
                    raise ServiceError(
                        f"{self.name} found its ports taken {attempt} times in a row; "
                        f"see {self.log_path}"
                    ) from None
                log.debug("%s: port taken while starting, retrying on new ports", self.name)
                continue
            except BaseException:
                self.stop()
                raise
            self._port_movable = False
            self._owner_pid = os.getpid()
            _started.add(self)
            log.debug("%s running on %s:%d (pid %s)", self.name, self.host, self.port, self.pid)
            return

    def stop(self) -> None:
        """Stop the server: ``stop_signal``, then SIGKILL after ``stop_timeout``. Idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s ignored %s for %g s; killing it",
                    self.name,
                    self.stop_signal.name,
                    self.stop_timeout,
                )
                process.kill()
                process.wait()
        self._process = None
        _started.discard(self)
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the server, as a crash or power cut would: it saves nothing on the way
        out. ``start()`` brings it back on the same port with the data it last saved."""
        process = self._process
        if process is None:
            return
        process.kill()
        process.wait()
        self._process = None
        _started.discard(self)
        self.pid_path.unlink(missing_ok=True)

    # -- what each service fills in -------------------------------------------------------

    @abc.abstractmethod
    def _write_config(self) -> None:
        """Write ``config_path`` for the current ports."""

    @abc.abstractmethod
    def _command(self, executable: str) -> list[str]:
        """The command line that runs the server with ``config_path``."""

    @abc.abstractmethod
    def _is_ready(self) -> bool:
        """Whether the server answers a real protocol request; never raises."""

    def _after_ready(self) -> None:
        """Work to do once the server answers, such as creating a database."""
        return None

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _instance_marker(self) -> str:
        """The command-line argument that tells this instance's process from others."""
        return str(self.config_path)

    def _repick_ports(self) -> bool:
        """Choose new ports after "address in use"; ``False`` if none may move."""
        if not self._port_movable:
            return False
        self.port = free_ports(1)[0]
        return True

    # -- helpers --------------------------------------------------------------------------

    def _find_executable(self) -> str:
        if self._executable is not None:
            path = Path(self._executable)
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            raise ServiceError(f"{self.name} executable {path} not found: {INSTALL_HINT}")
        search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SYSTEM_DIRS])
        found = shutil.which(self.program, path=search)
        if found is None:
            raise ServiceError(f"{self.program} not found on PATH or in /usr/sbin: {INSTALL_HINT}")
        return found

    def _refuse_leftover(self) -> None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return  # gone: the pid file is stale
        if os.fsencode(self._instance_marker()) in cmdline.split(b"\0"):
            raise ServiceError(
                f"a {self.name} from an earlier run still serves {self.directory} "
                f"(pid {pid}); stop it with 'kill {pid}' or use another directory"
            )

    def _spawn(self, executable: str) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        try:
            with self.log_path.open("ab") as log_file:
                self._process = subprocess.Popen(
                    self._command(executable),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    env=self._environment(),
                    # Own session: a Ctrl-C in the terminal reaches only our process,
                    # which then stops the servers in order instead of all at once.
                    start_new_session=True,
                    preexec_fn=self._die_with_parent(),
                )
        except OSError as exc:
            raise ServiceError(f"cannot run {executable}: {exc}") from exc
        self.pid_path.write_text(f"{self._process.pid}\n")

    def _die_with_parent(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        return partial(die_with_parent, self.death_signal, os.getpid())

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            status = self._process.poll()
            if status is not None:
                output = self._log_since_start()
                if "address already in use" in output.lower():
                    raise AddressInUseError
                raise ServiceError(
                    f"{self.name} exited with status {status} while starting; "
                    f"last lines of {self.log_path}:\n{_tail(output)}"
                )
            # Polling again after the probe: if our server failed to bind, the answer may
            # have come from whoever holds the port.
            if self._is_ready() and self._process.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"{self.name} did not answer on {self.host}:{self.port} within "
                    f"{self.startup_timeout:g} s; last lines of {self.log_path}:\n"
                    f"{_tail(self._log_since_start())}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                return log_file.read().decode(errors="replace")
        except OSError:
            return ""


def die_with_parent(death_signal: int, parent_pid: int) -> None:
    """In a freshly forked child: have the kernel send ``death_signal`` when the parent
    dies, and exit at once if it died before the signal was armed."""
    if _prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0:
        os._exit(127)
    if os.getppid() != parent_pid:
        os._exit(1)


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(the log is empty)"


def temporary_root(program: str) -> Path:
    # Only a name: the directory is created by start(), keeping construction free of I/O
    # beyond picking a port.
    return Path(tempfile.gettempdir()) / f"estatewatch-{program}-{uuid.uuid4().hex[:12]}"
