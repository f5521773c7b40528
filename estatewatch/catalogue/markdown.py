"""Device profiles as reference tables: Markdown for ``docs/devices.md``, data for the CLI.

:func:`profile_blocks` turns a profile into titled tables of plain strings;
:func:`render_profile` and :func:`render_catalogue` lay those out as Markdown, and the
CLI lays the same blocks out as plain text, so the two never describe a profile
differently. Pure functions: no I/O, and no machine-specific paths in the output, so the
committed document can be compared with a fresh rendering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from estatewatch.catalogue.loader import Catalogue, Profile
from estatewatch.catalogue.model import (
    DataType,
    DerivedFieldSpec,
    PayloadFieldSpec,
    RegisterField,
    Table,
)
from estatewatch.gbt24476 import describe

_TABLE_TITLES = {
    Table.HOLDING: "Holding registers (read 03, write 06/16)",
    Table.INPUT: "Input registers (read 04)",
    Table.COIL: "Coils (read 01, write 05/15)",
    Table.DISCRETE: "Discrete inputs (read 02)",
}
_REGISTER_HEADERS = ("address", "key", "type", "scale", "unit", "poll", "description", "values")
_INTRO = (
    "What estatewatch reads from each kind of device. Addresses are Modbus protocol"
    " addresses (0-based); a value is the raw register times its scale (blank: 1)."
    " 32-bit types span two registers in the word order shown; `u32_base10k` holds two"
    " base-10000 digits (`value = high*10000 + low`). Addresses from 0xF000 up also carry"
    " the controller's parameter name (Fx-yy = 0xFx00 + yy, yy in decimal)."
)
# Parameters "Fx-yy" live at 0xFx00 + yy on NICE3000-style controllers (yy in decimal).
_PARAMETER_BASE = 0xF000


@dataclass(frozen=True)
class Block:
    """One titled table: a heading, an optional note, a header row and rows of text."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    # Column indexes holding identifiers, which Markdown shows as code.
    code_columns: frozenset[int] = frozenset()


def field_count(profile: Profile) -> int:
    """Register fields (repeats expanded) of a Modbus profile, payload keys of an MQTT one."""
    return len(profile.fields) if profile.protocol == "modbus" else len(profile.payload)


def parameter_name(address: int) -> str | None:
    """``F9-11`` for 0xF90B; None below the parameter area."""
    if address < _PARAMETER_BASE:
        return None
    return f"F{(address >> 8) & 0xF:X}-{address & 0xFF:02d}"


def _number(value: float) -> str:
    return f"{value:g}"


def _hex(address: int) -> str:
    return f"0x{address:04X}"


def describe_address(address: int, length: int, *, relative: bool = False) -> str:
    """``0x1010``, ``0x2003-0x2004``, ``0xF90B-0xF90C (F9-11/F9-12)``; ``+0x0005`` if relative."""
    last = address + length - 1
    if relative:
        return f"+{_hex(address)}" + (f"-{_hex(last)}" if length > 1 else "")
    text = _hex(address) + (f"-{_hex(last)}" if length > 1 else "")
    names = [n for n in (parameter_name(address), parameter_name(last)) if n]
    if names:
        text += f" ({'/'.join(dict.fromkeys(names))})"
    return text


def describe_type(field: RegisterField) -> str:
    """The data type with what it takes to decode it: bits, word order, string length."""
    if field.bits is not None:
        low, high = field.bits.low, field.bits.high
        return f"{field.type}, bit {low}" if low == high else f"{field.type}, bits {low}-{high}"
    if field.type is DataType.STRING:
        return f"string, {field.length} registers ({2 * field.length} ASCII chars)"
    if field.length == 2:
        first = "high" if field.word_order == "big" else "low"
        return f"{field.type}, {first} word first"
    return str(field.type)


def describe_enum(enum: dict[int, str] | None) -> str:
    """``1=up, 2=down, 3=stopped``."""
    if not enum:
        return ""
    return ", ".join(f"{code}={label}" for code, label in sorted(enum.items()))


def _register_row(field: RegisterField, address: str, key: str) -> tuple[str, ...]:
    return (
        address,
        key,
        describe_type(field),
        "" if field.scale == 1 else _number(field.scale),
        field.unit,
        f"{field.poll} (urgent)" if field.urgent else field.poll,
        field.description,
        describe_enum(field.enum),
    )


def _single_fields(profile: Profile, table: Table) -> Block | None:
    fields = sorted(
        (f for f in profile.fields if f.table is table and f.group is None),
        key=lambda f: (f.address, f.bits.low if f.bits else 0),
    )
    if not fields:
        return None
    rows = tuple(_register_row(f, describe_address(f.address, f.length), f.key) for f in fields)
    return Block(_TABLE_TITLES[table], _REGISTER_HEADERS, rows, code_columns=frozenset({1}))


def _repeat_note(group: str, count: int, base: int, stride: int | None) -> str:
    keys = f"keys `{group}1.<name>` to `{group}{count}.<name>`"
    if stride is None:
        return f"One {group} at base {_hex(base)}; {keys}."
    last = base + (count - 1) * stride
    return (
        f"{count} instances: {group} N at `base + (N-1)*stride + offset`, with base {_hex(base)}"
        f" and stride {_hex(stride)} ({group}1 at {_hex(base)}, {group}{count} at {_hex(last)});"
        f" {keys}."
    )


def _repeated_fields(profile: Profile, table: Table, group: str) -> Block | None:
    first = sorted(
        (f for f in profile.fields if f.table is table and f.group == group and f.instance == 1),
        key=lambda f: (f.address, f.bits.low if f.bits else 0),
    )
    if not first:
        return None
    instances = profile.instances(group)
    # The loader keeps only resolved addresses, so base and stride are read back from
    # the first two instances; the layout is the same whichever way a file split them.
    base = first[0].address
    stride = None
    if len(instances) > 1:
        second = profile.field(f"{group}{instances[1]}.{first[0].name}")
        stride = second.address - first[0].address
    rows = tuple(
        _register_row(f, describe_address(f.address - base, f.length, relative=True), f.name)
        for f in first
    )
    return Block(
        f"{_TABLE_TITLES[table]}: repeated group `{group}`",
        ("offset", "name", *_REGISTER_HEADERS[2:]),
        rows,
        note=_repeat_note(group, len(instances), base, stride),
        code_columns=frozenset({1}),
    )


def _fault_block(profile: Profile) -> Block | None:
    if not profile.faults:
        return None
    rows = tuple(
        (str(code), fault.name, str(fault.level), fault.description)
        for code, fault in sorted(profile.faults.items())
    )
    return Block(
        "Fault codes",
        ("code", "name", "level", "description"),
        rows,
        note="Level 1 is minor; level 5 stops the equipment.",
    )


def _gbt24476_block(profile: Profile) -> Block | None:
    rows = tuple(
        (str(code), fault.name, gbt, describe(gbt).name)
        for code, fault in sorted(profile.faults.items())
        if (gbt := fault.gbt24476) is not None
    )
    if not rows:
        return None
    return Block(
        "GB/T 24476 fault codes",
        ("code", "name", "GB/T 24476", "reported to regulators as"),
        rows,
        note=(
            "The code regulators' lift platforms know the fault by (estatewatch/gbt24476.py):"
            " what an alarm carries when its rule takes the code from the fault code"
            " (gbt24476: {field: fault_code})."
        ),
    )


def _payload_range(spec: PayloadFieldSpec | DerivedFieldSpec) -> str:
    if isinstance(spec, PayloadFieldSpec) and spec.choices:
        return ", ".join(spec.choices)
    if spec.minimum is not None and spec.maximum is not None:
        return f"{_number(spec.minimum)} to {_number(spec.maximum)}"
    if spec.minimum is not None:
        return f">= {_number(spec.minimum)}"
    if spec.maximum is not None:
        return f"<= {_number(spec.maximum)}"
    return ""


def _payload_block(profile: Profile) -> Block:
    rows = tuple(
        (
            spec.key,
            spec.name,
            spec.type,
            _payload_range(spec),
            spec.unit,
            "yes" if spec.required else "no",
            spec.description,
        )
        for spec in profile.payload
    )
    return Block(
        "Payload",
        ("vendor key", "name", "type", "range / choices", "unit", "required", "description"),
        rows,
        note=(
            f'A JSON object published to `{profile.topic}`. Types are strict ("87" is not'
            " an int, true is not a number); keys not listed here are ignored."
        ),
        code_columns=frozenset({0, 1}),
    )


def _derived_block(profile: Profile) -> Block | None:
    if not profile.derived:
        return None
    rows = tuple(
        (spec.name, spec.type, _payload_range(spec), spec.unit, spec.description)
        for spec in profile.derived
    )
    return Block(
        "Derived fields",
        ("name", "type", "range", "unit", "description"),
        rows,
        note=(
            "Computed by the gateway from successive polls and sent with the register"
            " fields; the central services refuse them outside these types and ranges."
        ),
        code_columns=frozenset({0}),
    )


def profile_blocks(profile: Profile) -> list[Block]:
    """The tables that describe ``profile``, in reading order."""
    if profile.protocol == "mqtt":
        blocks: list[Block | None] = [_payload_block(profile)]
    else:
        groups = list(dict.fromkeys(f.group for f in profile.fields if f.group))
        blocks = []
        for table in Table:
            blocks.append(_single_fields(profile, table))
            blocks.extend(_repeated_fields(profile, table, g) for g in groups)
        blocks.append(_derived_block(profile))
    blocks.append(_fault_block(profile))
    blocks.append(_gbt24476_block(profile))
    return [b for b in blocks if b is not None]


def describe_poll_groups(profile: Profile) -> str:
    """``fast every 1 s, slow every 60 s``."""
    return ", ".join(f"{name} every {_number(s)} s" for name, s in profile.poll_groups.items())


def profile_summary(profile: Profile) -> list[tuple[str, str]]:
    """The facts shown above a profile's tables, as (label, value) pairs."""
    if profile.protocol == "modbus":
        summary = [("protocol", "Modbus"), ("poll groups", describe_poll_groups(profile))]
    else:
        assert profile.topic is not None  # the model requires a topic for MQTT profiles
        summary = [
            ("protocol", "MQTT (JSON)"),
            ("topic", profile.topic),
            ("reporting", describe_poll_groups(profile)),
        ]
    return [
        ("device type", profile.device_type),
        *summary,
        ("fields", str(field_count(profile))),
        ("file", f"estatewatch/catalogue/profiles/{profile.source.name}"),
    ]


def _cell(text: str, code: bool) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return f"`{text}`" if code and text else text


def _markdown_table(block: Block) -> list[str]:
    lines = [f"| {' | '.join(block.headers)} |", f"|{'---|' * len(block.headers)}"]
    for row in block.rows:
        cells = (_cell(c, i in block.code_columns) for i, c in enumerate(row))
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def render_profile(profile: Profile, *, level: int = 2) -> str:
    """One profile as Markdown; ``level`` is the heading level of its title."""
    lines = [f"{'#' * level} {profile.name}", ""]
    if profile.description:
        lines += [profile.description, ""]
    for label, value in profile_summary(profile):
        code = label in ("topic", "file")
        lines.append(f"- {label}: {_cell(value, code)}")
    for block in profile_blocks(profile):
        lines += ["", f"{'#' * (level + 1)} {block.title}", ""]
        if block.note:
            lines += [block.note, ""]
        lines += _markdown_table(block)
    return "\n".join(lines) + "\n"


def render_catalogue(catalogue: Catalogue | Iterable[Profile]) -> str:
    """Every profile, sorted by name, under a title and a table of contents."""
    source: Iterable[Profile] = (
        catalogue.profiles.values() if isinstance(catalogue, Catalogue) else catalogue
    )
    profiles: Sequence[Profile] = sorted(source, key=lambda p: p.name)
    lines = [
        "# Device catalogue",
        "",
        "<!-- Generated by `estatewatch catalogue docs` from"
        " estatewatch/catalogue/profiles/*.yaml; edit the profiles, not this file. -->",
        "",
        _INTRO,
        "",
    ]
    lines += [f"- [{p.name}](#{p.name}): {p.description}" for p in profiles]
    for profile in profiles:
        lines += ["", render_profile(profile).rstrip("\n")]
    return "\n".join(lines) + "\n"
