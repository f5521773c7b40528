"""SQL storage for maintenance: SQLAlchemy 2 (async) over SQLite or PostgreSQL.

    engine.py          make_engine(url) with SQLite's pragmas (and a read-only variant);
                       the default SQLite URL
    tables.py          the declarative models (one metadata, which the migrations follow)
    migrations/        Alembic revisions, run in code: ``await upgrade(engine)``
    audit.py           append to and verify the hash-chained audit trail
    site_import.py     load a site file's buildings and assets, idempotently
    uow.py             SqlUnitOfWork: the maintenance.domain.ports.UnitOfWork adapter
    mapping.py         alarms and work orders to rows and back, for uow.py
    read/              read models for the API, one module per area: work-order and alarm
                       lists, order detail (cursor codec, dialect helpers, indexes apart)
    committee.py       spending proposals and owners' votes, audited
    kpi_frames.py      the KPI input frames for a period, from SQL (and InfluxDB counters)
    evidence_data.py   an elevator's facts and history, for a proposal's evidence
    webhook_cursor.py  the webhook relay's mark in the audit trail
    errors.py          what this package raises

Adapters only: the domain (:mod:`maintenance.domain`) never imports from here.
"""
