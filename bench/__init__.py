"""Benchmarks: ``python -m bench [--only NAME]`` (or ``make bench [BENCH=NAME]``).

Each module ``bench/bench_<topic>.py`` is one benchmark and exposes:

- ``NAME: str``, the short name ``--only`` selects, e.g. ``"catalogue"``;
- ``def run() -> dict[str, float]``, which measures and returns flat named figures whose
  keys start with the name, e.g. ``{"catalogue.decode_per_s": 412000.0}``.

The runner prints the figures and merges them, with the machine they were measured on,
into ``bench/results.json``.
"""
