"""``estatewatch simulate`` (run simulated devices) and ``estatewatch fault`` (break them)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from estatewatch.durations import parse_duration
from estatewatch.errors import ConfigError

log = logging.getLogger("estatewatch.simulate")

DEFAULT_CONTROL_PORT = 5019


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def _duration(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _param(value: str) -> tuple[str, float]:
    key, _sep, number = value.partition("=")
    try:
        return key, float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=NUMBER") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser(
        "simulate",
        help="run simulated elevators, chargers and smoke alarms",
        description=(
            "Run a simulated compound: elevator controllers and charger cabinets answer "
            "Modbus TCP (and RTU on a virtual serial line), smoke alarms publish vendor JSON "
            "to an MQTT broker. Prints where each device answers; Ctrl-C stops it."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch simulate --elevators 20 --chargers 4 --smoke 50 --local-services\n"
            "  estatewatch simulate --elevators 2 --rtu-elevators 3 --inventory var/sim.json\n"
            "  estatewatch simulate --elevators 1 --scenario aging-elevator\n"
            "  estatewatch fault inject elev-01 entrapment"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("--elevators", type=int, default=0, help="elevator cars on Modbus TCP")
    sim.add_argument(
        "--rtu-elevators", type=int, default=0, help="more cars on one virtual RS485 line (RTU)"
    )
    sim.add_argument("--chargers", type=int, default=0, help="8-port e-bike charger cabinets")
    sim.add_argument("--smoke", type=int, default=0, help="smoke alarms publishing to MQTT")
    sim.add_argument(
        "--cars-per-port", type=int, default=10, help="cars behind one TCP port, by unit id"
    )
    sim.add_argument("--host", default="127.0.0.1", help="address the Modbus servers bind")
    sim.add_argument(
        "--base-port",
        type=int,
        default=5020,
        help="first Modbus TCP port; the next ones follow (0: pick free ports)",
    )
    sim.add_argument(
        "--mqtt",
        type=_host_port,
        help="broker for smoke alarms, HOST:PORT (default 127.0.0.1:1883)",
    )
    sim.add_argument(
        "--local-services",
        action="store_true",
        help=(
            "start private Mosquitto and InfluxDB under var/services (the platform's"
            " services) and publish smoke alarms to that Mosquitto"
        ),
    )
    sim.add_argument(
        "--control-port",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        help=f"loopback port for 'estatewatch fault' (default {DEFAULT_CONTROL_PORT}, 0: free)",
    )
    sim.add_argument("--scenario", help="scenario file, or a built-in name (aging-elevator, ...)")
    sim.add_argument(
        "--time-factor", type=float, help="simulated seconds per wall second (default 1)"
    )
    sim.add_argument(
        "--smoke-heartbeat",
        type=_duration,
        default=3600.0,
        help="simulated time between smoke-alarm heartbeats (default 1h)",
    )
    sim.add_argument("--duration", type=_duration, help="stop after this much wall time")
    sim.add_argument("--inventory", type=Path, help="write where each device answers (JSON)")
    sim.add_argument(
        "--traffic",
        type=float,
        default=1.0,
        help="scale the calls each car gets (default 1: a residential block's day)",
    )
    sim.add_argument("--seed", type=int, default=1, help="random seed (same seed, same compound)")
    sim.add_argument("--work-dir", type=Path, default=Path("var/simulator"), help=argparse.SUPPRESS)
    sim.set_defaults(handler=_simulate)

    fault = subparsers.add_parser(
        "fault",
        help="inject or clear a fault in a running simulator",
        description="Break or mend a simulated device while 'estatewatch simulate' runs.",
        epilog=(
            "examples:\n"
            "  estatewatch fault list\n"
            "  estatewatch fault inject elev-01 entrapment --param load_pct=20\n"
            "  estatewatch fault clear elev-01 entrapment"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fault.add_argument(
        "--control",
        type=_host_port,
        default=("127.0.0.1", DEFAULT_CONTROL_PORT),
        help=f"the simulator's control port (default 127.0.0.1:{DEFAULT_CONTROL_PORT})",
    )
    actions = fault.add_subparsers(dest="action", metavar="<action>", required=True)
    actions.add_parser("list", help="devices, their known faults and the active ones")
    for verb in ("inject", "clear"):
        p = actions.add_parser(verb, help=f"{verb} a fault")
        p.add_argument("device", help="device id, e.g. elev-01")
        p.add_argument("name", help="fault name, e.g. entrapment ('fault list' shows them)")
        if verb == "inject":
            p.add_argument(
                "--param", type=_param, action="append", default=[], help="NAME=NUMBER, repeatable"
            )
    fault.set_defaults(handler=_fault)


def _simulate(args: argparse.Namespace) -> int:
    from infra.local import LocalServices
    from simulators.fleet import FleetSpec
    from simulators.runner import SimulationOptions
    from simulators.scenario import load_scenario

    spec = FleetSpec(
        elevators=args.elevators,
        chargers=args.chargers,
        smoke=args.smoke,
        rtu_elevators=args.rtu_elevators,
        cars_per_port=args.cars_per_port,
        host=args.host,
        smoke_heartbeat_s=args.smoke_heartbeat,
        traffic=args.traffic,
        seed=args.seed,
    )
    spec.check()
    if args.time_factor is not None and args.time_factor <= 0:
        raise ConfigError("--time-factor must be positive")
    scenario = load_scenario(args.scenario) if args.scenario else None
    with ExitStack() as stack:
        mqtt = args.mqtt
        if args.local_services:
            services = stack.enter_context(LocalServices(Path("var/services")))
            mqtt = (services.mosquitto.host, services.mosquitto.port)
            print(f"mosquitto: {services.mosquitto.url}", flush=True)
            print(f"influxdb: {services.influxdb.url} db={services.influxdb.database}", flush=True)
        if mqtt is None and spec.smoke:
            mqtt = ("127.0.0.1", 1883)
            log.info("smoke alarms publish to mqtt://127.0.0.1:1883 (--mqtt or --local-services)")
        options = SimulationOptions(
            fleet=spec,
            base_port=args.base_port,
            time_factor=args.time_factor,
            scenario=scenario,
            scenario_source=str(args.scenario),
            mqtt=mqtt,
            control_port=args.control_port,
            work_dir=args.work_dir,
        )
        return asyncio.run(_run(options, args.duration, args.inventory))
    return 0  # pragma: no cover - the with-block always returns


async def _run(options: Any, duration: float | None, inventory: Path | None) -> int:
    from estatewatch.stopping import stop_on_signals
    from simulators.runner import Simulation

    stop = stop_on_signals()
    loop = asyncio.get_running_loop()
    async with Simulation(options) as sim:
        _print_inventory(sim.inventory())
        if inventory is not None:
            sim.write_inventory(inventory)
            log.info("inventory written to %s", inventory)
        started = loop.time()
        while not stop.is_set():
            if duration is not None and loop.time() - started >= duration:
                break
            if sim.scenario_done:
                log.info("scenario finished after %.0f simulated seconds", sim.simulated_seconds)
                break
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        log.info("stopping the simulator")
    return 0


def _print_inventory(inventory: dict[str, Any]) -> None:
    by_endpoint: dict[str, list[str]] = {}
    for row in inventory["devices"]:
        if row["transport"] == "tcp":
            where = f"modbus tcp {row['host']}:{row['port']}"
        elif row["transport"] == "rtu":
            where = f"modbus rtu {row['serial_port']}"
        else:
            where = f"mqtt {row.get('host', '?')}:{row.get('port', '?')} vendor/smoke/+/up"
        label = f"{row['device_id']}@{row['unit']}" if "unit" in row else row["device_id"]
        by_endpoint.setdefault(where, []).append(label)
    for where, labels in by_endpoint.items():
        shown = ", ".join(labels[:6]) + (f", ... ({len(labels)} in all)" if len(labels) > 6 else "")
        print(f"{where}: {shown}", flush=True)
    if control := inventory.get("control"):
        print(f"fault control: {control['host']}:{control['port']}", flush=True)


def _fault(args: argparse.Namespace) -> int:
    from simulators.control import send_control

    host, port = args.control
    request: dict[str, Any]
    if args.action == "list":
        request = {"cmd": "status"}
    else:
        request = {"cmd": args.action, "device": args.device, "fault": args.name}
        if args.action == "inject":
            request["params"] = dict(args.param)
    reply = asyncio.run(send_control(host, port, request))
    if not reply.get("ok"):
        print(f"estatewatch: error: {reply.get('error')}", file=sys.stderr)
        return 2
    if args.action == "list":
        for device, info in reply["devices"].items():
            active = ", ".join(info["active"]) or "-"
            print(f"{device:12} active: {active:30} known: {', '.join(info['faults'])}")
    else:
        print(json.dumps(reply))
    return 0
