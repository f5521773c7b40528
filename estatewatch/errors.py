"""The project's own exception tree.

Adapters translate foreign errors (pymodbus, paho/aiomqtt, HTTP, YAML) into these at the
boundary, chained with ``raise ... from exc``, so callers never catch a library's errors.

    EstatewatchError            anything the CLI reports as one clear line
    +-- ConfigError             a file or argument failed validation; names file and field
    +-- ServiceError            a local service (Mosquitto, InfluxDB) could not be started
    +-- DeviceError             a device or simulator endpoint misbehaved
"""

from __future__ import annotations


class EstatewatchError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(EstatewatchError):
    """A configuration, catalogue or scenario file, or a CLI argument, is invalid."""


class ServiceError(EstatewatchError):
    """A supporting service could not be installed, started or reached."""


class DeviceError(EstatewatchError):
    """A device endpoint could not be served or reached."""
