"""estatewatch: building sensors and facility maintenance for residential compounds.

This package is the small shared kernel: the device catalogue and its codec, the wire
schema, settings and the CLI entry point. It does no I/O of its own beyond reading the
files it is asked to load.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
