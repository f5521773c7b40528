"""The whole gateway at the issue's target: 500 elevators polled every second, every
reading through the on-disk buffer and the uplink to a real Mosquitto.

``bench_gateway`` finds how many cars acquisition keeps on schedule; this one runs
``estatewatch gateway run`` itself (SQLite buffer with fsync, QoS 1 uplink) beside the
simulator, counts what reaches the broker, and reads the gateway's CPU and memory from
/proc and its poll lateness from its own retained status message.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import yaml

from bench.bench_gateway import cpu_seconds, rss_mb, start_simulator, stop_process
from estatewatch.wire import GatewayStatus, TelemetryBundle, TelemetryMessage
from infra.local import MosquittoInstance

NAME = "gateway_pipeline"
CARS = 500
WARM_UP_S = 5.0
MEASURE_S = 15.0


async def _measure(broker: MosquittoInstance, gateway: subprocess.Popen[bytes]) -> dict[str, float]:
    readings = messages = 0
    status: GatewayStatus | None = None
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("estatewatch/#", qos=1)
        started_at = time.monotonic()
        cpu0 = wall0 = 0.0
        measuring = False
        peak_rss = 0.0
        async for message in client.messages:
            now = time.monotonic()
            if gateway.poll() is not None:
                raise RuntimeError("the gateway exited during the benchmark")
            if not measuring and now - started_at >= WARM_UP_S:
                measuring, cpu0, wall0 = True, cpu_seconds(gateway.pid), now
            if measuring:
                topic = message.topic.value
                payload = message.payload
                if topic.endswith("/telemetry") and topic.split("/")[2] == "gateway":
                    messages += 1  # the gateway's default, a bundle (wire version 2)
                    bundle = TelemetryBundle.model_validate_json(payload)
                    readings += sum(len(d.readings) for d in bundle.devices)
                elif topic.endswith("/telemetry"):
                    messages += 1
                    readings += len(TelemetryMessage.model_validate_json(payload).readings)
                elif topic.endswith("/status"):
                    status = GatewayStatus.model_validate_json(payload)
                peak_rss = max(peak_rss, rss_mb(gateway.pid))
                if now - wall0 >= MEASURE_S:
                    break
        cpu = cpu_seconds(gateway.pid) - cpu0
        wall = time.monotonic() - wall0
    lateness = status.poll_lateness if status else None
    return {
        f"gateway_pipeline.readings_per_s_at_{CARS}": round(readings / wall),
        f"gateway_pipeline.messages_per_s_at_{CARS}": round(messages / wall),
        f"gateway_pipeline.cpu_percent_at_{CARS}": round(100.0 * cpu / wall, 1),
        f"gateway_pipeline.rss_mb_at_{CARS}": round(peak_rss, 1),
        f"gateway_pipeline.p99_lateness_ms_at_{CARS}": lateness.p99_ms if lateness else -1.0,
        f"gateway_pipeline.buffer_depth_at_{CARS}": float(status.buffer_depth if status else -1),
    }


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        with MosquittoInstance(work / "broker") as broker:
            simulator, inventory = start_simulator(CARS, work)
            gateway: subprocess.Popen[bytes] | None = None
            try:
                site = work / "site.yaml"
                subprocess.run(
                    [
                        sys.executable, "-m", "cli", "gateway",
                        "config-from-inventory", str(inventory),
                        "--uplink", f"127.0.0.1:{broker.port}",
                        "--buffer", str(work / "buffer.sqlite"), "-o", str(site),
                    ],
                    check=True,
                    capture_output=True,
                )  # fmt: skip
                config = yaml.safe_load(site.read_text())
                config["uplink"]["status_interval"] = "2s"
                site.write_text(yaml.safe_dump(config))
                gateway = subprocess.Popen(
                    [
                        sys.executable, "-m", "cli", "--log-level", "WARNING",
                        "gateway", "run", "--config", str(site),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                return asyncio.run(_measure(broker, gateway))
            finally:
                if gateway is not None:
                    stop_process(gateway)
                stop_process(simulator)
