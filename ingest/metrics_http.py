"""Prometheus text exposition of the ingest counters on a small HTTP endpoint.

Only ``GET /metrics`` is served; asyncio streams are enough for a scrape every few
seconds, so no web framework is pulled into the hot process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from estatewatch.errors import ServiceError

Sample = tuple[str, str, str, float]  # name, type, help, value


def render(samples: Iterable[Sample]) -> bytes:
    lines: list[str] = []
    for name, kind, help_text, value in samples:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
    return ("\n".join(lines) + "\n").encode()


async def serve_metrics(
    host: str, port: int, samples: Callable[[], Iterable[Sample]]
) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            if request.startswith(b"GET /metrics "):
                body, status = render(samples()), b"200 OK"
                kind = b"text/plain; version=0.0.4"
            else:
                body, status, kind = b"only GET /metrics here\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
                + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        writer.close()

    try:
        return await asyncio.start_server(on_client, host, port)
    except OSError as exc:
        raise ServiceError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
