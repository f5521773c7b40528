"""``estatewatch catalogue``: list, show and check device profiles, and write their docs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from estatewatch.catalogue import Profile, builtin_catalogue, load_profile
from estatewatch.catalogue.markdown import (
    Block,
    field_count,
    profile_blocks,
    profile_summary,
    render_catalogue,
    render_profile,
)
from estatewatch.errors import ConfigError

DEFAULT_DOCS = Path("docs/devices.md")


def _text_table(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]


def _text_block(block: Block) -> list[str]:
    title = block.title.replace("`", "")
    lines = ["", title, "-" * len(title)]
    if block.note:
        lines.append(block.note.replace("`", ""))
    return lines + _text_table(block.headers, block.rows)


def render_text(profile: Profile) -> str:
    """A profile as aligned plain-text tables, for reading in a terminal."""
    lines = [profile.name, "=" * len(profile.name)]
    if profile.description:
        lines.append(profile.description)
    lines += [f"{label}: {value}" for label, value in profile_summary(profile)]
    for block in profile_blocks(profile):
        lines += _text_block(block)
    return "\n".join(lines) + "\n"


def _list(args: argparse.Namespace) -> int:
    profiles = sorted(builtin_catalogue().profiles.values(), key=lambda p: p.name)
    rows = tuple((p.name, p.device_type, p.protocol, str(field_count(p))) for p in profiles)
    for line in _text_table(("name", "device type", "protocol", "fields"), rows):
        print(line)
    return 0


def _show(args: argparse.Namespace) -> int:
    profile = builtin_catalogue()[args.name]
    sys.stdout.write(render_profile(profile, level=1) if args.markdown else render_text(profile))
    return 0


def _profile_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def _check(args: argparse.Namespace) -> int:
    files = _profile_files(args.files)
    if not files:
        raise ConfigError(f"no *.yaml profile files in {', '.join(map(str, args.files))}")
    failed = 0
    # Check every file rather than stopping at the first, so one run lists all problems.
    for path in files:
        try:
            profile = load_profile(path)
        except ConfigError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        else:
            print(f"ok: {path} ({field_count(profile)} fields)")
    return 2 if failed else 0


def _docs(args: argparse.Namespace) -> int:
    text = render_catalogue(builtin_catalogue())
    if str(args.output) == "-":
        sys.stdout.write(text)
        return 0
    output: Path = args.output
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        # The failing path may be a parent directory, which the operator needs to see.
        culprit = f" ({exc.filename})" if exc.filename and exc.filename != str(output) else ""
        raise ConfigError(f"{output}: cannot write: {exc.strerror or exc}{culprit}") from exc
    print(f"wrote {output} ({len(builtin_catalogue().profiles)} profiles)")
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cat = subparsers.add_parser(
        "catalogue",
        help="list, show and check device profiles (register maps, payloads)",
        # Line breaks by hand: the raw formatter that keeps the examples apart
        # does not wrap the description either.
        description=(
            "The device catalogue: one YAML profile per kind of device, describing its\n"
            "Modbus registers (address, type, scale, unit, poll group) or its MQTT JSON\n"
            "payload. The gateway decodes and the simulators encode with these profiles."
        ),
        epilog=(
            "examples:\n"
            "  estatewatch catalogue list\n"
            "  estatewatch catalogue show elevator-nice3000\n"
            "  estatewatch catalogue check my-profiles/*.yaml\n"
            "  estatewatch catalogue docs"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cat.set_defaults(handler=lambda _args: _usage(cat))
    actions = cat.add_subparsers(dest="catalogue_command", metavar="<action>")

    actions.add_parser(
        "list",
        help="the built-in profiles: name, device type, protocol, field count",
        description="List the device profiles shipped with estatewatch.",
    ).set_defaults(handler=_list)

    show = actions.add_parser(
        "show",
        help="one profile's registers or payload, faults and poll groups",
        description=(
            "Print one built-in profile: every register field sorted by address (repeated "
            "groups such as charger ports once, with their stride), or the MQTT payload "
            "keys, then the fault codes."
        ),
    )
    show.add_argument("name", metavar="NAME", help="profile name, as 'catalogue list' shows it")
    show.add_argument(
        "--markdown", action="store_true", help="print Markdown instead of plain-text tables"
    )
    show.set_defaults(handler=_show)

    check = actions.add_parser(
        "check",
        help="validate profile files before using them",
        description=(
            "Load each profile file as the gateway would and report it: 'ok: FILE (N fields)' "
            "or one line naming the file and the field that is wrong. Exits 2 if any "
            "file fails."
        ),
    )
    check.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        type=Path,
        help="a profile YAML file, or a directory whose *.yaml files are checked",
    )
    check.set_defaults(handler=_check)

    docs = actions.add_parser(
        "docs",
        help=f"write the Markdown reference of all built-in profiles ({DEFAULT_DOCS})",
        description=(
            "Render every built-in profile as Markdown. Run it after editing a profile and "
            "commit the result: a unit test fails while the committed file is out of date."
        ),
    )
    docs.add_argument(
        "--output",
        metavar="PATH",
        type=Path,
        default=DEFAULT_DOCS,
        help=f"where to write it; '-' prints it instead (default: {DEFAULT_DOCS})",
    )
    docs.set_defaults(handler=_docs)
