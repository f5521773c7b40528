"""A virtual serial line (two connected pseudo-terminals made by socat), so Modbus RTU is
exercised end to end without hardware: the simulator serves one end, a gateway opens the
other."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

from estatewatch.errors import DeviceError

READY_TIMEOUT = 10.0


class SerialPair:
    """``async with SerialPair(dir) as pair``: ``pair.device_end`` and ``pair.gateway_end``."""

    def __init__(self, directory: Path, name: str = "rtu") -> None:
        self.device_end = directory / f"{name}-device"
        self.gateway_end = directory / f"{name}-gateway"
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        socat = shutil.which("socat")
        if socat is None:
            raise DeviceError(
                "socat is not installed; it makes the virtual serial line for RTU"
                " (run 'make setup' or 'sudo apt-get install socat')"
            )
        self.device_end.parent.mkdir(parents=True, exist_ok=True)
        for link in (self.device_end, self.gateway_end):
            link.unlink(missing_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            socat,
            f"pty,raw,echo=0,link={self.device_end}",
            f"pty,raw,echo=0,link={self.gateway_end}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while not (self.device_end.exists() and self.gateway_end.exists()):
            if self._process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                err = b""
                if self._process.stderr is not None and self._process.returncode is not None:
                    err = await self._process.stderr.read()
                await self._stop()
                raise DeviceError(f"socat could not make a serial pair: {err.decode().strip()}")
            await asyncio.sleep(0.02)
        return self

    async def _stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 5.0)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        self._process = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()
