"""Private local servers (Mosquitto, InfluxDB 1.x, PostgreSQL) for tests, benchmarks and the demo.

See :mod:`infra.local.services` for why and how; ``estatewatch services up`` runs both
from the command line.
"""

from estatewatch.ports import free_ports
from infra.local.services import (
    DEFAULT_DATABASE,
    InfluxInstance,
    LocalServices,
    MosquittoInstance,
    PostgresInstance,
    TlsListener,
)

__all__ = [
    "DEFAULT_DATABASE",
    "InfluxInstance",
    "LocalServices",
    "MosquittoInstance",
    "PostgresInstance",
    "TlsListener",
    "free_ports",
]
