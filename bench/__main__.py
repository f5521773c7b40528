"""Run the benchmarks: ``python -m bench [--only NAME] [--output FILE]``.

Discovers ``bench/bench_*.py`` (see :mod:`bench` for the contract), runs them in name
order, prints a table of figures and writes them, with machine information and a
timestamp, to a flat JSON object. ``--only`` merges into the existing file so figures of
the other benchmarks survive.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bench
from bench.machine import machine_info

DEFAULT_OUTPUT = Path(bench.__file__).parent / "results.json"

Figures = dict[str, float]
Results = dict[str, float | int | str]


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    run: Callable[[], Mapping[str, float]]


class BenchmarkError(Exception):
    """A benchmark module broke the contract or failed."""


def discover() -> tuple[list[Benchmark], list[str]]:
    """Import every ``bench.bench_*`` module, sorted by module name.

    Returns the benchmarks and one message per module that failed to import or breaks the
    contract, so a half-written benchmark does not stop the others from running.
    """
    found: list[Benchmark] = []
    broken: list[str] = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        module_name = f"bench.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            broken.append(f"{module_name} does not import: {type(exc).__name__}: {exc}")
            continue
        name = getattr(module, "NAME", None)
        run = getattr(module, "run", None)
        if not isinstance(name, str) or not name or not callable(run):
            broken.append(f"{module_name} must define NAME: str and run() -> dict[str, float]")
        elif any(b.name == name for b in found):
            broken.append(f"{module_name} reuses the NAME {name!r}")
        else:
            found.append(Benchmark(name=name, module=module_name, run=run))
    return found, broken


def run_one(benchmark: Benchmark) -> Figures:
    """Run one benchmark and check that it returned flat, finite, named numbers."""
    raw = benchmark.run()
    if not isinstance(raw, Mapping):
        raise BenchmarkError(f"{benchmark.module}.run() returned {type(raw).__name__}, not dict")
    figures: Figures = {}
    for key, value in raw.items():
        # bool is an int subclass, but True/False is never a measurement.
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise BenchmarkError(f"{benchmark.module}.run() returned {key!r}: {value!r}")
        figures[key] = float(value)
    return figures


def format_table(figures: Mapping[str, float]) -> str:
    if not figures:
        return "(no figures)"
    width = max(len("figure"), *(len(key) for key in figures))
    lines = [f"{'figure':<{width}}  {'value':>16}", f"{'-' * width}  {'-' * 16}"]
    lines += [f"{key:<{width}}  {_format_value(value):>16}" for key, value in figures.items()]
    return "\n".join(lines)


def _format_value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def load_results(path: Path) -> Results:
    """The existing results, or nothing if the file is missing or unreadable."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {k: v for k, v in document.items() if isinstance(v, int | float | str)}


def write_results(path: Path, results: Results) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(dict(sorted(results.items())), indent=2) + "\n")
    # Atomic, so an interrupted run never leaves half a file behind.
    temporary.replace(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the estatewatch benchmarks (bench/bench_*.py) and record the figures.",
    )
    parser.add_argument(
        "--only", metavar="NAME", help="run only the benchmark with this NAME (merge results)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="FILE",
        help="JSON file to write (default: bench/results.json)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    benchmarks, broken = discover()
    for message in broken:
        print(f"bench: error: {message}", file=sys.stderr)
    if not benchmarks:
        if broken:
            return 1
        print("bench: no benchmarks yet (add bench/bench_<topic>.py)")
        return 0
    if args.only is not None:
        selected = [b for b in benchmarks if b.name == args.only]
        if not selected:
            known = ", ".join(b.name for b in benchmarks)
            print(
                f"bench: error: no benchmark named {args.only!r} (known: {known})", file=sys.stderr
            )
            return 2
        benchmarks = selected

    figures: Figures = {}
    failed: list[str] = []
    for benchmark in benchmarks:
        print(f"running {benchmark.name} ({benchmark.module}) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            figures.update(run_one(benchmark))
        except BenchmarkError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            failed.append(benchmark.name)
            continue
        except Exception:
            # One broken benchmark should not cost the figures of all the others.
            traceback.print_exc()
            failed.append(benchmark.name)
            continue
        print(f"  {benchmark.name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)

    print(format_table(figures))
    results: Results = load_results(args.output) if args.only is not None else {}
    results.update(figures)
    results.update(machine_info())
    results["run.timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_results(args.output, results)
    print(f"wrote {args.output}", file=sys.stderr)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    # With --only, a broken unrelated module is reported but does not fail the run.
    return 1 if failed or (broken and args.only is None) else 0


if __name__ == "__main__":
    sys.exit(main())
