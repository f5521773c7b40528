"""A site config drafted from a simulator inventory (``estatewatch simulate --inventory``).

Pure: turns "where each device answers" into the ``SiteConfig`` mapping a gateway reads,
one Modbus endpoint per TCP port or serial line and one MQTT source per broker, so a demo
or a test can point a gateway at a simulated compound without writing YAML by hand.
"""

from __future__ import annotations

from typing import Any

from estatewatch.errors import ConfigError


def site_config_from_inventory(
    inventory: dict[str, Any],
    *,
    site: str,
    gateway_id: str,
    uplink: tuple[str, int],
    buffer_path: str,
) -> dict[str, Any]:
    endpoints: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, int], dict[str, Any]] = {}
    for row in inventory.get("devices", []):
        try:
            transport = row["transport"]
            tags = {"building": row["building"]} if row.get("building") else {}
            if transport == "mqtt":
                key = (row["host"], int(row["port"]))
                source = sources.setdefault(
                    key,
                    {
                        "name": f"mqtt-{len(sources) + 1}",
                        "host": key[0],
                        "port": key[1],
                        "topic": "vendor/smoke/+/up",
                        "profile": row["profile"],
                        "devices": {},
                    },
                )
                source["devices"][row["device_id"]] = tags
                continue
            if transport == "tcp":
                name = f"tcp-{row['port']}"
                link: dict[str, Any] = {"tcp": {"host": row["host"], "port": int(row["port"])}}
            elif transport == "rtu":
                serial = inventory.get("serial", {})
                name = "rtu-1"
                link = {
                    "rtu": {
                        "port": row["serial_port"],
                        "baudrate": int(serial.get("baudrate", 9600)),
                        "parity": serial.get("parity", "N"),
                    }
                }
            else:
                raise ConfigError(
                    f"inventory: {row.get('device_id')}: unknown transport {transport!r}"
                )
            endpoint = endpoints.setdefault(name, {"name": name, **link, "devices": []})
            endpoint["devices"].append(
                {
                    "name": row["device_id"],
                    "unit": int(row["unit"]),
                    "profile": row["profile"],
                    "tags": tags,
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"inventory: malformed device entry {row!r}: {exc}") from exc
    return {
        "site": site,
        "gateway_id": gateway_id,
        "uplink": {"host": uplink[0], "port": uplink[1]},
        "buffer": {"path": buffer_path},
        "modbus": {"endpoints": list(endpoints.values())},
        "mqtt_sources": list(sources.values()),
    }
