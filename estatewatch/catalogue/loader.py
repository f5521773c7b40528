"""Loading and checking profile files.

Beyond what the pydantic models check field by field, a profile must be coherent as a
whole: keys unique, no two fields claiming the same register bits, every poll group
declared. Errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from estatewatch.catalogue.model import (
    DerivedFieldSpec,
    FaultSpec,
    FieldSpec,
    PayloadFieldSpec,
    ProfileSpec,
    RegisterField,
    Table,
    register_width,
)
from estatewatch.errors import ConfigError
from estatewatch.validation import load_yaml_model

PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_POLL_GROUP = "default"


@dataclass(frozen=True)
class Profile:
    """A loaded, checked device profile."""

    name: str
    device_type: str
    protocol: str
    description: str
    poll_groups: dict[str, float]
    fields: tuple[RegisterField, ...]
    payload: tuple[PayloadFieldSpec, ...]
    faults: dict[int, FaultSpec]
    topic: str | None
    source: Path
    derived: tuple[DerivedFieldSpec, ...] = ()
    _by_key: dict[str, RegisterField] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_key.update({f.key: f for f in self.fields})

    def field(self, key: str) -> RegisterField:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"profile {self.name} has no field {key!r}") from None

    def instances(self, group: str) -> list[int]:
        return sorted({f.instance for f in self.fields if f.group == group and f.instance})


def _resolve(
    spec: FieldSpec,
    profile: ProfileSpec,
    *,
    key: str,
    group: str | None = None,
    instance: int | None = None,
    base: int = 0,
) -> RegisterField:
    return RegisterField(
        key=key,
        name=spec.name,
        group=group,
        instance=instance,
        table=spec.table,
        address=base + spec.address,
        type=spec.type,
        word_order=spec.word_order or profile.word_order,
        bits=spec.bits,
        length=register_width(spec.type, spec.length),
        scale=spec.scale,
        unit=spec.unit,
        poll=spec.poll or next(iter(profile.poll_groups), DEFAULT_POLL_GROUP),
        enum=spec.enum,
        description=spec.description,
        urgent=spec.urgent,
    )


def _expand(spec: ProfileSpec) -> list[RegisterField]:
    fields = [_resolve(f, spec, key=f.name) for f in spec.fields]
    for rep in spec.repeats:
        for n in range(1, rep.count + 1):
            base = rep.base + (n - 1) * rep.stride
            fields.extend(
                _resolve(
                    f, spec, key=f"{rep.name}{n}.{f.name}", group=rep.name, instance=n, base=base
                )
                for f in rep.fields
            )
    return fields


def _poll_groups(spec: ProfileSpec) -> dict[str, float]:
    return dict(spec.poll_groups) or {DEFAULT_POLL_GROUP: 1.0}


def _check_payload(spec: ProfileSpec, source: str) -> None:
    # The payload model is keyed by name and parsed by key: a repeat would silently
    # drop one of the two fields.
    names: set[str] = set()
    keys: set[str] = set()
    for p in spec.payload:
        if p.name in names:
            raise ConfigError(f"{source}: payload {p.name}: the name is used twice")
        if p.key in keys:
            raise ConfigError(f"{source}: payload {p.name}.key: {p.key!r} is used twice")
        names.add(p.name)
        keys.add(p.key)


def _check_whole(fields: list[RegisterField], spec: ProfileSpec, source: str) -> None:
    seen: set[str] = set()
    claimed: dict[tuple[Table, int], list[tuple[int, str]]] = {}
    groups = _poll_groups(spec)
    for f in fields:
        if f.key in seen:
            raise ConfigError(f"{source}: field {f.key}: the name is used twice")
        seen.add(f.key)
        if f.end > 0x10000:
            raise ConfigError(f"{source}: field {f.key}: runs past address 0xFFFF")
        if f.poll not in groups:
            raise ConfigError(
                f"{source}: field {f.key}.poll: unknown poll group {f.poll!r}"
                f" (declared: {', '.join(groups)})"
            )
        mask = f.bits.mask if f.bits else 0xFFFF
        for addr in range(f.address, f.end):
            for other_mask, other_key in claimed.get((f.table, addr), []):
                if other_mask & mask:
                    raise ConfigError(
                        f"{source}: field {f.key}.address: overlaps field {other_key}"
                        f" at {f.table} register {addr:#06x}"
                    )
            claimed.setdefault((f.table, addr), []).append((mask, f.key))


def _check_derived(fields: list[RegisterField], spec: ProfileSpec, source: str) -> None:
    # A derived field shares the readings' key space with the register fields.
    taken = {f.key for f in fields} | {p.name for p in spec.payload}
    for derived in spec.derived:
        if derived.name in taken:
            raise ConfigError(f"{source}: derived {derived.name}: the name is used twice")
        taken.add(derived.name)


def load_profile(path: Path) -> Profile:
    """Load one profile file; raise ConfigError naming file and field when it is wrong."""
    spec = load_yaml_model(ProfileSpec, path)
    fields = _expand(spec)
    _check_whole(fields, spec, str(path))
    _check_payload(spec, str(path))
    _check_derived(fields, spec, str(path))
    return Profile(
        name=spec.profile,
        device_type=spec.device_type,
        protocol=spec.protocol,
        description=spec.description,
        poll_groups=_poll_groups(spec),
        fields=tuple(fields),
        payload=tuple(spec.payload),
        faults=dict(spec.faults),
        topic=spec.topic,
        source=path,
        derived=tuple(spec.derived),
    )


@dataclass(frozen=True)
class Catalogue:
    profiles: dict[str, Profile]

    def __getitem__(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"unknown device profile {name!r} (known: {known})") from None

    def enum_labels(self, device_type: str) -> dict[str, dict[int, str]]:
        """Field -> number -> label, for the enumerated fields of ``device_type``'s own
        measurement (a repeat's fields, which have a measurement of their own, left out):
        what a reader shows for ``car_state: 6``. The data does not say which profile
        sent it, so a field two profiles of the type label differently is left out."""
        labels: dict[str, dict[int, str]] = {}
        clashing: set[str] = set()
        for profile in self.profiles.values():
            if profile.device_type != device_type:
                continue
            for spec in profile.fields:
                if spec.enum is None or spec.group is not None:
                    continue
                if labels.setdefault(spec.key, spec.enum) != spec.enum:
                    clashing.add(spec.key)
        return {key: enum for key, enum in labels.items() if key not in clashing}


def load_catalogue(directory: Path = PROFILES_DIR) -> Catalogue:
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yaml")):
        profile = load_profile(path)
        if profile.name in profiles:
            raise ConfigError(f"{path}: profile: {profile.name!r} is already defined")
        profiles[profile.name] = profile
    return Catalogue(profiles)


@cache
def builtin_catalogue() -> Catalogue:
    """The profiles shipped with estatewatch, loaded once per process."""
    return load_catalogue(PROFILES_DIR)
