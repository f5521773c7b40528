"""The maintenance domain: rules, alarms, work orders and their commands, rescue
timelines, SLAs, spending proposals and committee maths, KPIs.

Imports only the standard library, pydantic, pandas and :mod:`estatewatch` (no network,
database or framework code), so all of it is tested without servers.
"""
