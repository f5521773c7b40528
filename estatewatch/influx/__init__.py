"""The telemetry store, InfluxDB, as every service sees it.

- :mod:`estatewatch.influx.schema`: the names both sides agree on (measurements, the port
  suffix, exact nanosecond timestamps). Ingest writes points by them
  (:mod:`ingest.points`); readers query by them.
- :mod:`estatewatch.influx.query`: the read side, InfluxQL to pandas DataFrames, used by
  maintenance (KPIs, evidence, reports) and the API (telemetry, asset pages).
"""
