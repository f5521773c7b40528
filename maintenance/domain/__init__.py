"""The maintenance domain: rules, alarms, work orders, SLAs, committee maths, KPIs.

Imports only the standard library, pydantic, pandas and :mod:`estatewatch` (no network,
database or framework code), so all of it is tested without servers.
"""
