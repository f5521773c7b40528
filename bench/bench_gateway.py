"""How many elevators one gateway process keeps on schedule at a 1 s poll.

The simulator runs in a process of its own (``estatewatch simulate``, 50 cars per TCP
port), the gateway in another (``python -m bench.bench_gateway N INVENTORY``), both on
this machine, as on a site box. The gateway polls every car's fast group each second and
hands readings to the outbox (wire JSON, written to an in-memory queue instead of SQLite:
disk speed is not what this measures; ``bench_gateway_pipeline`` measures the whole
gateway with its buffer and uplink).
N steps up until a step misses the schedule: p99 poll lateness >= 100 ms, overruns, or
devices not answering. Each step gets fresh processes, so RSS and CPU are those of a
gateway that has only ever seen N cars. On a 2-core box the two processes share the
cores, so the step log shows both processes' CPU: past some N it is the simulator (its
model steps block its event loop) that stops answering in time, not the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NAME = "gateway"
STEPS = (250, 500, 1000, 1500, 2000, 2500, 3000)
CARS_PER_PORT = 50
TARGET = 500  # elevators the issue asks one gateway to keep on schedule
WARM_UP_S = 3.0  # connections made, first polls done, phases settled
MEASURE_S = 9.0
P99_LIMIT_MS = 100.0
TIME_BUDGET_S = 180.0


# --- the gateway side (a worker process) -------------------------------------------------


class MemoryQueue:
    """Renders every message to its wire JSON, as the durable queue would, and keeps
    only the count and size."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self._seq = 0

    def append(self, items: Sequence[Any]) -> list[int]:
        seqs = []
        for item in items:
            self._seq += 1
            self.bytes += len(item.render(self._seq))
            seqs.append(self._seq)
        self.messages += len(items)
        return seqs


def cpu_seconds(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _gateway(inventory: dict[str, Any]) -> dict[str, Any]:
    from estatewatch.catalogue import builtin_catalogue
    from gateway.config import DeviceConfig, EndpointConfig, TcpConfig
    from gateway.metrics import DeviceState, GatewayMetrics
    from gateway.outbox import Outbox
    from gateway.poller import Acquisition

    by_port: dict[int, list[DeviceConfig]] = {}
    for row in inventory["devices"]:
        by_port.setdefault(row["port"], []).append(
            DeviceConfig(
                name=row["device_id"],
                unit=row["unit"],
                profile=row["profile"],
                tags={"building": row["building"]},
                poll={"fast": 1.0},
            )
        )
    endpoints = [
        EndpointConfig(name=f"port-{p}", tcp=TcpConfig(host="127.0.0.1", port=p), devices=d)
        for p, d in by_port.items()
    ]
    metrics = GatewayMetrics()
    stop = asyncio.Event()
    queue = MemoryQueue()
    sink = Outbox(queue, site="bench", gateway_id="gw-bench", metrics=metrics)
    acquisition = Acquisition(endpoints, builtin_catalogue(), sink, metrics)
    fast = next(iter(acquisition.pollers.values())).plan.group("fast")
    async with asyncio.TaskGroup() as tasks:
        poll_task = tasks.create_task(acquisition.run(), name="acquisition")
        tasks.create_task(sink.run(stop), name="outbox")
        await asyncio.sleep(WARM_UP_S)
        metrics.lateness_ms.clear()
        polls, overruns, errors = metrics.polls, metrics.overruns, sum(metrics.errors.values())
        cpu, wall = cpu_seconds(), time.monotonic()
        rss = 0.0
        for _ in range(int(MEASURE_S)):
            await asyncio.sleep(1.0)
            rss = max(rss, rss_mb())
        cpu, wall = cpu_seconds() - cpu, time.monotonic() - wall
        lateness = metrics.lateness()
        online = metrics.count_states()[DeviceState.ONLINE]
        result = {
            "devices": len(acquisition.pollers),
            "online": online,
            "polls": metrics.polls - polls,
            "overruns": metrics.overruns - overruns,
            "errors": sum(metrics.errors.values()) - errors,
            "p50_ms": lateness.p50_ms if lateness else 0.0,
            "p99_ms": lateness.p99_ms if lateness else 0.0,
            "max_ms": lateness.max_ms if lateness else 0.0,
            "cpu_percent": 100.0 * cpu / wall,
            "rss_mb": rss,
            "requests_per_poll": len(fast.requests),
            "wire_messages": queue.messages,
        }
        stop.set()
        poll_task.cancel()
    return result


def _worker(devices: int, inventory_path: Path) -> None:
    inventory = json.loads(inventory_path.read_text())
    assert len(inventory["devices"]) == devices
    with contextlib.suppress(asyncio.CancelledError):
        result = asyncio.run(_gateway(inventory))
        print(json.dumps(result), flush=True)


# --- the orchestration --------------------------------------------------------------------


def simulator_command(n: int, work: Path) -> tuple[list[str], Path]:
    """``estatewatch simulate`` for ``n`` cars working in ``work``, and where it will write
    its inventory."""
    inventory = work / f"inventory-{n}.json"
    command = [
        sys.executable,
        "-m",
        "cli",
        "--log-level",
        "WARNING",
        "simulate",
        "--elevators",
        str(n),
        "--cars-per-port",
        str(CARS_PER_PORT),
        "--base-port",
        "0",
        "--control-port",
        "0",
        "--inventory",
        str(inventory),
        "--work-dir",
        str(work / "sim"),
    ]
    return command, inventory


def wait_for_inventory(
    process: subprocess.Popen[bytes], inventory: Path, n: int, seconds: float = 60.0
) -> None:
    """Until the simulator wrote ``inventory`` (its servers are up); stops it if it fails."""
    deadline = time.monotonic() + seconds
    while not inventory.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the simulator did not start for {n} cars: {err[-2000:]}")
        time.sleep(0.1)


def start_simulator(n: int, work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    command, inventory = simulator_command(n, work)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_inventory(process, inventory, n)
    return process, inventory


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if ``process`` has not exited ``timeout`` seconds later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _step(n: int, work: Path) -> dict[str, Any]:
    simulator, inventory = start_simulator(n, work)
    try:
        sim_cpu, wall = cpu_seconds(simulator.pid), time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_gateway", str(n), str(inventory)],
            capture_output=True,
            timeout=WARM_UP_S + MEASURE_S + 60.0,
            check=False,
        )
        sim_cpu, wall = cpu_seconds(simulator.pid) - sim_cpu, time.monotonic() - wall
    finally:
        stop_process(simulator)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the gateway failed at {n} cars: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    # Over the gateway's whole run: shows when the simulator, not the gateway, is the limit.
    result["simulator_cpu_percent"] = round(100.0 * sim_cpu / wall, 1)
    return result


def on_schedule(step: Mapping[str, Any]) -> bool:
    expected_polls = step["devices"] * MEASURE_S
    return bool(
        step["p99_ms"] < P99_LIMIT_MS
        and step["overruns"] == 0
        and step["errors"] == 0
        and step["online"] == step["devices"]
        and step["polls"] >= 0.95 * expected_polls
    )


def run() -> dict[str, float]:
    started = time.monotonic()
    passed: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        for n in STEPS:
            if passed and time.monotonic() - started > TIME_BUDGET_S - 25.0:
                break
            step = _step(n, Path(tmp))
            ok = on_schedule(step)
            print(
                f"  {n} elevators: {json.dumps(step)} {'ok' if ok else 'MISSED'}", file=sys.stderr
            )
            if not ok:
                break
            passed[n] = step
    if not passed:
        return {"gateway.max_elevators_1hz": 0.0}
    best = passed[max(passed)]
    figures = {
        "gateway.max_elevators_1hz": float(best["devices"]),
        "gateway.requests_per_elevator_poll": float(best["requests_per_poll"]),
        "gateway.rss_mb": round(best["rss_mb"], 1),
        "gateway.cpu_percent": round(best["cpu_percent"], 1),
        "gateway.p99_lateness_ms": round(best["p99_ms"], 1),
    }
    if TARGET in passed:  # the target, for comparison with the maximum
        figures[f"gateway.rss_mb_at_{TARGET}"] = round(passed[TARGET]["rss_mb"], 1)
        figures[f"gateway.cpu_percent_at_{TARGET}"] = round(passed[TARGET]["cpu_percent"], 1)
        figures[f"gateway.p99_lateness_ms_at_{TARGET}"] = round(passed[TARGET]["p99_ms"], 1)
    return figures


if __name__ == "__main__":
    _worker(int(sys.argv[1]), Path(sys.argv[2]))
