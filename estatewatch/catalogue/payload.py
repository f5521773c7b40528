"""Validation of vendor JSON payloads described by an MQTT profile.

The profile file is the single source of truth for a payload's keys, types and ranges;
a pydantic model is built from it once, so the simulator (which writes such payloads) and
the gateway (which reads them) can never disagree with the documentation.

Parsing is bounded: payloads come from devices and the local network, so the JSON is read
by pydantic-core's parser (jiter), which refuses nesting deeper than a fixed limit with a
ValueError, where ``json.loads`` recurses until a RecursionError ends the process that
called it (a 30 KB ``[[[...]]]`` is enough). The size bound is the caller's (the gateway
refuses a payload above ``gateway.smoke_normalise.MAX_PAYLOAD_BYTES`` before parsing).
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import from_json

from estatewatch.catalogue.codec import Value
from estatewatch.catalogue.loader import Profile
from estatewatch.catalogue.model import PayloadFieldSpec
from estatewatch.errors import EstatewatchError
from estatewatch.validation import format_validation_error

_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


class PayloadError(EstatewatchError):
    """A payload is not what the device's profile says it must be."""


def _annotation(spec: PayloadFieldSpec) -> tuple[Any, Any]:
    inner: Any
    if spec.choices:
        inner = Literal[tuple(spec.choices)]
    else:
        # strict: a vendor sending "true" or "87" as text is a fault worth seeing.
        limits = Field(ge=spec.minimum, le=spec.maximum, strict=True)
        inner = Annotated[_TYPES[spec.type], limits]
    if spec.required:
        return inner, Field(alias=spec.key)
    return inner | None, Field(alias=spec.key, default=None)


class PayloadSchema:
    """Parses and builds the vendor payloads of one MQTT profile."""

    def __init__(self, profile: Profile) -> None:
        if profile.protocol != "mqtt":
            raise ValueError(f"profile {profile.name} does not describe an MQTT payload")
        self.profile = profile

    @cached_property
    def _model(self) -> type[BaseModel]:
        # Typed as Any: mypy would otherwise match the tuples against create_model's
        # own double-underscore keyword parameters and reject the call.
        fields: dict[str, Any] = {spec.name: _annotation(spec) for spec in self.profile.payload}
        # Vendors add keys over firmware versions; unknown keys are ignored, not errors.
        config = ConfigDict(extra="ignore", populate_by_name=False)
        return create_model(f"Payload_{self.profile.name}", __config__=config, **fields)

    def parse(self, payload: bytes | str) -> dict[str, Value]:
        """Validate a raw payload; return normalised names and values, absent optionals left out."""
        try:
            raw = from_json(payload)
        except ValueError as exc:  # also too deep, and bytes that are not UTF-8
            raise PayloadError(f"{self.profile.name}: payload is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise PayloadError(f"{self.profile.name}: payload must be a JSON object")
        try:
            model = self._model.model_validate(raw)
        except ValidationError as exc:
            raise PayloadError(format_validation_error(self.profile.name, exc, raw)) from exc
        return {k: v for k, v in model.model_dump().items() if v is not None}

    def build(self, values: dict[str, Value]) -> bytes:
        """The vendor JSON for normalised ``values``, validated on the way out too."""
        keys = {spec.name: spec.key for spec in self.profile.payload}
        unknown = set(values) - set(keys)
        if unknown:
            raise PayloadError(f"{self.profile.name}: no payload field {sorted(unknown)}")
        body = json.dumps({keys[k]: v for k, v in values.items()}, separators=(",", ":"))
        self.parse(body)
        return body.encode()
