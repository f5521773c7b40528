"""Ingest service: consumes telemetry from the broker and writes it to InfluxDB.

- :mod:`ingest.decode`: topic + payload to line protocol, or a rejection (pure);
- :mod:`ingest.line_protocol`: ``Point`` and ``encode`` (pure, on the hot path);
- :mod:`ingest.points`: the InfluxDB schema, wire messages to points (pure);
- :mod:`ingest.batcher`: batches, retries, 413 splits and the on-disk spill;
- :mod:`ingest.writers`, :mod:`ingest.influx_v2`: the InfluxDB 1.x and 2.x transports;
- :mod:`ingest.metrics`: what Prometheus scrapes (through :mod:`estatewatch.metrics`);
- :mod:`ingest.settings`, :mod:`ingest.service`, :mod:`ingest.cli`: the composition root,
  consuming through the kernel's :class:`estatewatch.mqtt.WireConsumer` and keeping
  refused messages in :class:`estatewatch.dead_letters.DeadLetters`.

The read side (InfluxQL to pandas DataFrames, used by maintenance and the API) is in the
kernel, :mod:`estatewatch.influx`, with the names both sides share.
Nothing is imported here, so ``import ingest`` stays cheap.
"""
