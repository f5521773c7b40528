"""Ingest service: consumes telemetry from the broker and writes it to InfluxDB."""
