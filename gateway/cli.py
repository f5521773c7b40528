"""``estatewatch gateway run|check|config-from-inventory``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from estatewatch.errors import ConfigError

if TYPE_CHECKING:
    from estatewatch.catalogue import Catalogue
    from gateway.config import SiteConfig

log = logging.getLogger("estatewatch.gateway")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = subparsers.add_parser(
        "gateway",
        help="the site gateway: poll devices, forward telemetry to the central broker",
        description=(
            "The site gateway reads elevator controllers and chargers over Modbus and smoke"
            " alarms from a local MQTT broker, and forwards normalised telemetry to the"
            " central broker, buffering on disk while the uplink is down."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch gateway check --config /etc/estatewatch/site.yaml\n"
            "  estatewatch gateway run --config /etc/estatewatch/site.yaml\n"
            "  estatewatch gateway config-from-inventory var/sim.json --uplink 127.0.0.1:1883\n"
            "\nAn annotated site file: infra/gateway/site.example.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = gateway.add_subparsers(dest="action", metavar="<action>", required=True)
    run = actions.add_parser("run", help="run the gateway until SIGTERM or Ctrl-C")
    run.add_argument("--config", type=Path, required=True, help="the site file (YAML)")
    run.set_defaults(handler=_run)
    check = actions.add_parser(
        "check", help="validate the site file and print each device's read plan"
    )
    check.add_argument("--config", type=Path, required=True, help="the site file (YAML)")
    check.set_defaults(handler=_check)
    draft = actions.add_parser(
        "config-from-inventory",
        help="draft a site file for a simulated compound (estatewatch simulate --inventory)",
    )
    draft.add_argument("inventory", type=Path, help="the simulator's inventory JSON")
    draft.add_argument("--site", default="demo", help="site id (default demo)")
    draft.add_argument("--gateway-id", default="gw-1", help="gateway id (default gw-1)")
    draft.add_argument(
        "--uplink", default="127.0.0.1:1883", help="central broker HOST:PORT (default :1883)"
    )
    draft.add_argument("--buffer", default="var/gateway/buffer.sqlite", help="on-disk buffer path")
    draft.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    draft.set_defaults(handler=_draft)


def _load(path: Path) -> tuple[SiteConfig, Catalogue]:
    from estatewatch.catalogue import builtin_catalogue
    from gateway.config import load_site_config

    catalogue = builtin_catalogue()
    return load_site_config(path, catalogue), catalogue


def _check(args: argparse.Namespace) -> int:
    from gateway.plan import plan_device

    config, catalogue = _load(args.config)
    print(f"{args.config}: ok: site {config.site}, gateway {config.gateway_id}")
    for endpoint in config.modbus.endpoints:
        link = (
            f"tcp {endpoint.tcp.host}:{endpoint.tcp.port}"
            if endpoint.tcp
            else f"rtu {endpoint.rtu.port if endpoint.rtu else '?'}"
        )
        print(f"endpoint {endpoint.name} ({link}):")
        for device in endpoint.devices:
            plan = plan_device(
                device.name,
                catalogue[device.profile],
                intervals=device.poll,
                max_gap=endpoint.max_gap,
            )
            print(f"  unit {device.unit}: {plan.describe()}")
    for source in config.mqtt_sources:
        print(f"mqtt source {source.name}: {source.host}:{source.port} {source.topic}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from estatewatch.stopping import run_until_signalled
    from gateway.service import run_gateway

    config, catalogue = _load(args.config)

    return run_until_signalled(lambda stop: run_gateway(config, catalogue, stop))


def _draft(args: argparse.Namespace) -> int:
    from gateway.inventory import site_config_from_inventory

    try:
        inventory = json.loads(args.inventory.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{args.inventory}: cannot read the inventory: {exc}") from exc
    host, _, port = args.uplink.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--uplink: {args.uplink!r} is not HOST:PORT")
    site = site_config_from_inventory(
        inventory,
        site=args.site,
        gateway_id=args.gateway_id,
        uplink=(host or "127.0.0.1", int(port)),
        buffer_path=args.buffer,
    )
    text = yaml.safe_dump(site, sort_keys=False)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        log.info("site file written to %s", args.output)
    else:
        sys.stdout.write(text)
    return 0
