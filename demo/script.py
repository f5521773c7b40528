"""The demo's scenario: what goes wrong in the compound, and when.

Steps are injected through the simulator's control port (``estatewatch fault inject``
does the same) and, for the resident's request, the rescue drill and a maintenance visit,
through the API with the token of the person who would act (the resident; the duty
room's manager and the technician on elev-02's rescue order; the technician recording
elev-03's visit and the manager signing it as the safety manager), so the demo drives
the platform exactly as its users and devices would. Each step
is announced when it happens; :func:`play` returns when the last one has run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from demo.platform import Platform, demo_login
from estatewatch.errors import EstatewatchError
from simulators.control import send_control

log = logging.getLogger("estatewatch.demo")


@dataclass(frozen=True)
class Step:
    at_s: float
    text: str
    device: str | None = None
    fault: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] | None = None  # a resident's request, POSTed to the API
    clear: bool = False  # clear ``fault`` on ``device`` instead of injecting it
    rescue: str | None = None  # an action on the open rescue order of ``device``
    visit: bool = False  # record and sign ``device``'s scheduled maintenance visit


SCRIPT = (
    Step(5, "elev-01 (18 years old): its doors start to slow down", "elev-01", "door_wear",
         {"close_s_per_day": 4000.0, "open_s_per_day": 1500.0}),
    Step(10, "elev-02: the car stops between floors with a passenger inside", "elev-02",
         "entrapment", {"load_pct": 15}),
    Step(15, "charger-01, bike shed: port 3 overheats", "charger-01", "over_temperature",
         {"port": 3}),
    Step(20, "smoke-001, bike shed: smoke", "smoke-001", "fire"),
    Step(25, "a resident of B2 reports a broken stairwell light", request={
        "title": "Stairwell light broken on 7F",
        "description": "The light on the 7th floor stairwell of B2 is out since yesterday.",
        "place": "stairwell-7f",
        "category": "lighting",
    }),
    Step(30, "elev-03: its maintenance visit recorded by two technicians (a door lock too"
         " shallow on 7F: a repair order) and signed by the safety manager", "elev-03",
         visit=True),
    Step(45, "elev-01: the worn doors fail to close (E49)", "elev-01", "door_failure",
         {"code": 49}),
    # The rescue drill: the entrapment rule opened elev-02's rescue order at about 40 s.
    Step(48, "duty room: elev-02's rescue goes to the technician", "elev-02",
         rescue="assign"),
    Step(50, "technician: on my way to elev-02", "elev-02", rescue="acknowledge"),
    Step(58, "technician: on site at elev-02", "elev-02", rescue="arrive"),
    Step(62, "elev-02: the passenger is out, the car re-levelled", "elev-02", "entrapment",
         clear=True),
    Step(63, "technician: passenger released", "elev-02", rescue="release"),
    Step(70, "technician: elev-02 back in service", "elev-02", rescue="return-to-service"),
)  # fmt: skip


VISIT_CAR = next(step.device for step in SCRIPT if step.visit)
"""The car whose visit the script records: the month of visits played before the demo
(:mod:`demo.history`) leaves its next visit open as the demo starts."""


async def play(platform: Platform, announce: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for step in SCRIPT:
        await asyncio.sleep(max(0.0, started + step.at_s - loop.time()))
        announce(step.text)
        try:
            if step.request is not None:
                await _resident_request(platform, step.request)
            elif step.rescue is not None and step.device is not None:
                await _rescue_step(platform, step.device, step.rescue)
            elif step.visit and step.device is not None:
                await _visit(platform, step.device)
            else:
                request: dict[str, Any] = {
                    "cmd": "clear" if step.clear else "inject",
                    "device": step.device,
                    "fault": step.fault,
                }
                if step.params:
                    request["params"] = step.params
                reply = await send_control("127.0.0.1", platform.control_port, request)
                if not reply.get("ok"):
                    raise EstatewatchError(f"the simulator refused: {reply}")
        except (EstatewatchError, httpx.HTTPError) as exc:
            # A step that fails is reported and the demo goes on with the rest.
            log.error("demo step %r failed: %s", step.text, exc)


async def _resident_request(platform: Platform, body: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {platform.tokens['resident']}"}
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=10.0) as client:
        reply = await client.post("/api/v1/requests", json=body, headers=headers)
    if reply.status_code >= 400:
        raise EstatewatchError(f"the API answered {reply.status_code}: {reply.text[:300]}")


async def _rescue_step(platform: Platform, device: str, action: str) -> None:
    """``action`` on ``device``'s open rescue order: the duty room (the manager) assigns it
    to the demo technician, who does the rest."""
    manager = {"Authorization": f"Bearer {platform.tokens['manager']}"}
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=10.0) as client:
        found = await client.get(
            "/api/v1/work-orders",
            params={"asset": f"{platform.site}/elevator/{device}", "limit": 10},
            headers=manager,
        )
        rescues = [
            o["id"]
            for o in found.json().get("items", [])
            if o["category"] == "rescue" and o["status"] not in ("closed", "cancelled")
        ]
        if not rescues:
            raise EstatewatchError(f"no open rescue order for {device} (yet)")
        role, body = (
            ("manager", {"assignee": demo_login("technician")[0]})
            if action == "assign"
            else ("technician", {})
        )
        reply = await client.post(
            f"/api/v1/work-orders/{rescues[0]}/{action}",
            json=body,
            headers={"Authorization": f"Bearer {platform.tokens[role]}"},
        )
    if reply.status_code >= 400:
        raise EstatewatchError(f"the API answered {reply.status_code}: {reply.text[:300]}")


async def _visit(platform: Platform, device: str) -> None:
    """``device``'s scheduled visit (the worker opened it at start): assigned by the duty
    room, done by the demo technician and a colleague with every item done but one door
    lock found too shallow, then signed by the manager as the elevator safety manager."""

    def as_(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {platform.tokens[role]}"}

    async with httpx.AsyncClient(base_url=platform.api_url, timeout=10.0) as client:

        async def call(role: str, method: str, path: str, body: Any = None) -> Any:
            reply = await client.request(method, f"/api/v1{path}", json=body, headers=as_(role))
            if reply.status_code >= 400:
                raise EstatewatchError(f"the API answered {reply.status_code}: {reply.text[:300]}")
            return reply.json()

        plans = await call("manager", "GET", f"/maintenance/plans?site={platform.site}")
        order = next((p["pending_visit"] for p in plans if p["device_id"] == device), None)
        if order is None:
            raise EstatewatchError(f"no maintenance visit waiting for {device} (yet)")
        technician = demo_login("technician")[0]
        await call("manager", "POST", f"/work-orders/{order}/assign", {"assignee": technician})
        await call("technician", "POST", f"/work-orders/{order}/acknowledge", {})
        visit = await call("technician", "GET", f"/maintenance/visits/{order}")
        results = [_result(item) for item in visit["items"]]
        now = datetime.now(UTC)
        record = {
            "technicians": [technician, "zhou.qiang"],
            "started_at": (now - timedelta(hours=2)).isoformat(),
            "ended_at": (now - timedelta(minutes=5)).isoformat(),
            "results": results,
        }
        await call("technician", "POST", f"/maintenance/visits/{order}/record", record)
        await call("manager", "POST", f"/maintenance/visits/{order}/sign")


def _result(item: dict[str, Any]) -> dict[str, Any]:
    """Done, with a reading within the item's limits; the door lock at 7F is a defect."""
    if item["code"] == "HM29":
        return {"code": "HM29", "status": "defect", "reading": 5, "note": "7F landing door: 5 mm"}
    result: dict[str, Any] = {"code": item["code"], "status": "done"}
    if item["unit"] is not None:
        result["reading"] = item["low"] if item["low"] is not None else item["high"]
    return result
