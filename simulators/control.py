"""Run-time control of a running simulator: inject and clear faults, read status.

A line of JSON per request and per reply over TCP on loopback, so a test, a script or
``estatewatch fault inject`` can break a device while the gateway is polling it::

    {"cmd": "inject", "device": "elev-01", "fault": "entrapment", "params": {}}
    {"cmd": "clear", "device": "elev-01", "fault": "entrapment"}
    {"cmd": "status"}

Replies are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from estatewatch.errors import DeviceError, EstatewatchError
from simulators.device import SimulatedDevice

log = logging.getLogger(__name__)
MAX_LINE = 64 * 1024


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cmd: Literal["inject", "clear", "status"]
    device: str | None = None
    fault: str | None = None
    params: dict[str, float] = {}


class ControlHandler:
    """Applies control requests to the fleet's devices (no I/O)."""

    def __init__(
        self, devices: Mapping[str, SimulatedDevice], status: Callable[[], dict[str, Any]]
    ) -> None:
        self._devices = devices
        self._status = status

    def handle(self, line: bytes) -> dict[str, Any]:
        try:
            request = ControlRequest.model_validate_json(line)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            return {"ok": False, "error": f"bad request: {problems}"}
        if request.cmd == "status":
            return {"ok": True, **self._status()}
        if not request.device or not request.fault:
            return {"ok": False, "error": f"{request.cmd} needs device and fault"}
        device = self._devices.get(request.device)
        if device is None:
            return {"ok": False, "error": f"no simulated device {request.device!r}"}
        try:
            if request.cmd == "inject":
                device.inject(request.fault, request.params)
            else:
                device.clear(request.fault)
        except EstatewatchError as exc:
            return {"ok": False, "error": str(exc)}
        log.info("%s %s on %s", request.cmd, request.fault, request.device)
        return {"ok": True}


async def serve_control(handler: ControlHandler, host: str, port: int) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = handler.handle(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that misbehaves or leaves only loses its own connection
        finally:
            writer.close()

    try:
        return await asyncio.start_server(on_client, host, port, limit=MAX_LINE)
    except OSError as exc:
        raise DeviceError(f"cannot open the control port {host}:{port}: {exc.strerror}") from exc


async def send_control(host: str, port: int, request: dict[str, Any]) -> dict[str, Any]:
    """Send one request to a running simulator and return its reply."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, TimeoutError) as exc:
        raise DeviceError(
            f"no simulator control port at {host}:{port} (is 'estatewatch simulate' running?)"
        ) from exc
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10.0)
    except (OSError, TimeoutError) as exc:
        raise DeviceError(f"the simulator at {host}:{port} did not answer") from exc
    finally:
        writer.close()
    if not line:
        raise DeviceError(f"the simulator at {host}:{port} closed the connection")
    reply: dict[str, Any] = json.loads(line)
    return reply
