"""SQL storage for maintenance: SQLAlchemy 2 (async) over SQLite or PostgreSQL.

    engine.py          make_engine(url) with SQLite's pragmas (and a read-only variant);
                       the default SQLite URL
    tables.py          the declarative models of assets, audit, alarms and work orders
    user_tables.py     the API's users and bearer tokens (hashes only)
    models.py          the model registry: imports every model module, so its metadata
                       is the whole schema (what Alembic compares the database with)
    migrations/        Alembic revisions, run in code: ``await upgrade(engine)``; each
                       revision imports only alembic and sqlalchemy
    audit.py           append to and verify the hash-chained audit trail
    site_import.py     load a site file's buildings and assets, idempotently (uow.sites)
    accounts.py        the API's users and tokens, written through the unit of work
    uow.py             SqlUnitOfWork: the maintenance.domain.ports.UnitOfWork adapter
    mapping.py         alarms and work orders to rows and back, for uow.py
    read/              read models, one module per area: work orders, alarms, assets,
                       KPI frames, an elevator's evidence (cursor codec, dialect helpers,
                       indexes apart); each takes a session, so the API reads on its
                       read-only one
    committee.py       the proposal and vote tables and the proposals repository (uow.py)
    webhook_cursor.py  the webhook relay's mark in the audit trail
    errors.py          what this package raises

Adapters only: the domain (:mod:`maintenance.domain`) never imports from here.
"""
