"""The OpenAPI document states what the API enforces (issue 16), on the nine operations
whose schemas used to be looser than their validation.

For each constraint: the document, read as a generated client would (the parameter's or
body field's schema, ``$ref``s followed), refuses a bad value and takes a good one; the
API answers the bad value with a 422 naming the field, and the good one with anything
else. The checker below knows only the JSON Schema keywords these schemas use and fails
on any other, so a constraint it cannot read is not passed over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import bearer, running_api

from api.app import create_app
from api.settings import ApiSettings

PAGE_SIZE_MAX = 120
_IGNORED = {"title", "description", "default", "examples"}
_ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


def document() -> dict[str, Any]:
    settings = ApiSettings(data_dir=Path("unused"), page_size_max=PAGE_SIZE_MAX)
    return create_app(settings).openapi()


def accepts(doc: Mapping[str, Any], schema: Mapping[str, Any], value: Any) -> bool:
    """Whether ``schema`` (within ``doc``) lets ``value`` through."""
    verdicts = []
    for key, rule in schema.items():
        if key in _IGNORED:
            continue
        if key == "$ref":
            target = doc
            for part in rule.removeprefix("#/").split("/"):
                target = target[part]
            verdicts.append(accepts(doc, target, value))
        elif key == "anyOf":
            verdicts.append(any(accepts(doc, branch, value) for branch in rule))
        elif key == "not":
            verdicts.append(not accepts(doc, rule, value))
        elif key == "if":
            if accepts(doc, rule, value):
                verdicts.append(accepts(doc, schema.get("then", {}), value))
        elif key == "then":
            continue  # with its "if"
        elif key == "const":
            verdicts.append(type(value) is type(rule) and value == rule)
        elif key == "type":
            kinds = {
                "string": isinstance(value, str),
                "number": isinstance(value, int | float) and not isinstance(value, bool),
                "integer": isinstance(value, int) and not isinstance(value, bool),
                "boolean": isinstance(value, bool),
                "null": value is None,
                "object": isinstance(value, dict),
            }
            verdicts.append(kinds[rule])
        elif key in ("pattern", "minLength", "maxLength", "format"):
            if isinstance(value, str):
                verdicts.append(_text(key, rule, value))
        elif key in ("minimum", "maximum", "multipleOf"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                verdicts.append(_number(key, rule, Decimal(str(value))))
        elif key == "properties":
            if isinstance(value, dict):
                verdicts.extend(accepts(doc, rule[k], v) for k, v in value.items() if k in rule)
        elif key == "required":
            if isinstance(value, dict):
                verdicts.append(all(name in value for name in rule))
        elif key == "additionalProperties":
            if isinstance(value, dict) and rule is False:
                verdicts.append(set(value) <= set(schema.get("properties", {})))
        else:
            raise AssertionError(f"the checker does not know {key!r}: teach it")
    return all(verdicts)


def _text(key: str, rule: Any, value: str) -> bool:
    if key == "pattern":
        return re.search(rule, value) is not None
    if key == "minLength":
        return len(value) >= rule
    if key == "maxLength":
        return len(value) <= rule
    return rule != "date-time" or _ZONED.match(value) is not None


def _number(key: str, rule: Any, value: Decimal) -> bool:
    bound = Decimal(str(rule))
    if key == "minimum":
        return value >= bound
    if key == "maximum":
        return value <= bound
    return value % bound == 0


def parameter(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    for each in doc["paths"][path][method]["parameters"]:
        if each["name"] == name:
            schema: dict[str, Any] = each["schema"]
            return schema
    raise AssertionError(f"{method} {path} has no parameter {name!r}")


def body(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"][path][method]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


ORDER = "/api/v1/work-orders/{order_id}"
TELEMETRY = "/api/v1/assets/{device_id}/telemetry"
WINDOW = {"from": "2026-11-24T08:00:00Z", "to": "2026-11-24T09:00:00Z", "fields": "speed"}
KPI_PERIOD = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}

# (operation path, query parameter, good value, bad value, the rest of the query)
QUERY_CASES = [
    ("/api/v1/assets", "limit", PAGE_SIZE_MAX, PAGE_SIZE_MAX + 1, {}),
    (TELEMETRY, "fields", "speed, floor", "speed,,floor", WINDOW),
    (TELEMETRY, "fields", "speed", ",".join(f"f{i}" for i in range(21)), WINDOW),
    (TELEMETRY, "fields", "speed", "speed) OR (1=1", WINDOW),
    (TELEMETRY, "every", "1m", "0.5s", WINDOW),
    (TELEMETRY, "every", "90", "0s", WINDOW),
    (TELEMETRY, "from", "2026-11-24T16:00:00+08:00", "2026-11-24T08:00:00", WINDOW),
    ("/api/v1/committee/reports/monthly", "month", "2026-11", "2026-13", {}),
    ("/api/v1/committee/reports/monthly", "month", "2026-01", "0000-01", {}),
    ("/api/v1/kpis", "to", "2026-12-01T00:00:00+08:00", "2026-12-01T00:00:00", KPI_PERIOD),
]

PROPOSAL = {"title": "Replace elev-01", "amount": "120000.50"}
# (operation path, body field, good body, bad body)
BODY_CASES = [
    ("/api/v1/committee/proposals", "title", PROPOSAL, PROPOSAL | {"title": "   "}),
    ("/api/v1/committee/proposals", "amount", PROPOSAL, PROPOSAL | {"amount": "12.345"}),
    ("/api/v1/committee/proposals", "amount", PROPOSAL, PROPOSAL | {"amount": 10**12}),
    ("/api/v1/committee/proposals", "amount", PROPOSAL, PROPOSAL | {"amount": 1.005}),
    (
        "/api/v1/committee/proposals",
        "justification",
        PROPOSAL | {"emergency": True, "justification": "the car drops a floor"},
        PROPOSAL | {"emergency": True, "justification": " "},
    ),
    (f"{ORDER}/cost", "estimate", {"estimate": 8500.5}, {"estimate": 1_000_000_000}),
    (f"{ORDER}/cost", "estimate", {"estimate": "8500.50"}, {"estimate": -1}),
    (f"{ORDER}/cost", "actual", {"actual": 0}, {"estimate": None}),
    (f"{ORDER}/cost", "actual", {"estimate": 1, "actual": None}, {}),
    (f"{ORDER}/hold", "reason", {"reason": "waiting for a part"}, {"reason": " \t"}),
    (f"{ORDER}/request-approval", "note", {}, {"note": "  "}),
    (f"{ORDER}/resolve", "note", {"note": "door operator replaced"}, {"note": "\n"}),
]


def test_the_document_states_each_constraint() -> None:
    doc = document()
    wrong = []
    for path, name, good, bad, _ in QUERY_CASES:
        schema = parameter(doc, "get", path, name)
        if not accepts(doc, schema, good) or accepts(doc, schema, bad):
            wrong.append(f"GET {path} {name}: {schema}")
    for path, field, good_body, bad_body in BODY_CASES:
        schema = body(doc, "post", path)
        if not accepts(doc, schema, good_body) or accepts(doc, schema, bad_body):
            wrong.append(f"POST {path} {field}: {bad_body} vs {schema}")
    assert not wrong, "\n".join(wrong)


def named(answer: httpx.Response) -> list[str]:
    return [error["field"] for error in answer.json().get("errors") or []]


# On SQLite and on PostgreSQL (api_db in tests/conftest.py).
@pytest.mark.usefixtures("api_db")
async def test_the_api_refuses_what_the_document_refuses_naming_the_field(
    tmp_path: Path,
) -> None:
    # An InfluxDB nobody listens at: telemetry's parameters are judged before it is asked.
    async with running_api(
        tmp_path, page_size_max=PAGE_SIZE_MAX, influx_url="http://127.0.0.1:9"
    ) as api:
        admin = bearer(await api.user("root", "admin"))
        client = api.client
        wrong = []
        for path, name, good, bad, rest in QUERY_CASES:
            url = path.replace("{device_id}", "elev-01")
            refused = await client.get(url, params=rest | {name: bad}, headers=admin)
            taken = await client.get(url, params=rest | {name: good}, headers=admin)
            if refused.status_code != 422 or name not in named(refused):
                wrong.append(f"GET {path} {name}={bad!r}: {refused.status_code} {refused.text}")
            if taken.status_code == 422:
                wrong.append(f"GET {path} {name}={good!r} refused: {taken.text}")
        for path, field, good_body, bad_body in BODY_CASES:
            url = path.replace("{order_id}", "WO-2026-000001")
            refused = await client.post(url, json=bad_body, headers=admin)
            taken = await client.post(url, json=good_body, headers=admin)
            if refused.status_code != 422 or field not in named(refused):
                wrong.append(f"POST {path} {bad_body}: {refused.status_code} {refused.text}")
            if taken.status_code == 422:
                wrong.append(f"POST {path} {good_body} refused: {taken.text}")
        assert not wrong, "\n".join(wrong)
