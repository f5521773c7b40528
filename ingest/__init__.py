"""Ingest service: consumes telemetry from the broker and writes it to InfluxDB.

- :mod:`ingest.line_protocol`: ``Point`` and ``encode`` (pure, on the hot path);
- :mod:`ingest.points`: the InfluxDB schema, wire messages to points (pure);
- :mod:`ingest.query`: the read side, InfluxQL to pandas DataFrames (used by maintenance
  and the API).

Nothing is imported here, so ``import ingest`` stays cheap (the read side pulls in pandas).
"""
