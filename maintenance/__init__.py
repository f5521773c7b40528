"""Maintenance: anomaly rules, alarms, work orders, SLAs and owners'-committee oversight."""
