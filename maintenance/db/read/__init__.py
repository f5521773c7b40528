"""Read models: what the API lists and shows, one module per area.

    work_orders.py  work-order list (filters, sort, keyset pages) and one order's detail
    alarms.py       alarm list
    assets.py       the asset register, a device's facts and open alarms
    kpi_frames.py   the KPI input frames for a period (and InfluxDB counters)
    evidence.py     an elevator's facts and history, for a proposal's evidence
    committee.py    spending proposals with their vote
    sites.py        a site's name and time zone, its buildings and elevator cars
    changes.py      the change feed: audit entries after an id, with visibility facts
    pages.py        PageRequest and Page, the keyset condition, the next page's cursor
    cursor.py       the opaque cursor's codec (pure: no SQL)
    dialect.py      SQL functions compiled per dialect (epoch seconds)
    indexes.py      the indexes the lists rely on

SQLAlchemy selects over :mod:`maintenance.db.tables`, every value a bound parameter. Each
function takes an ``AsyncSession`` (the API hands in its read-only one, ``ReadSession``)
and returns plain dataclasses or domain objects, never rows bound to the session. Nothing
here writes; changes go through :mod:`maintenance.services`.

**Visibility** is part of every query: the caller passes a WHERE clause saying what it may
see (``api.visibility.order_scope`` and ``alarm_scope`` own those rules), so a record the
caller may not see is simply not found, and pages count only visible rows.
"""
