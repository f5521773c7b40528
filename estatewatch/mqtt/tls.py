"""TLS for MQTT links: an ``ssl.SSLContext`` from certificate files, loaded once at start."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

from estatewatch.errors import ConfigError

__all__ = ["TlsFiles", "tls_context"]


class TlsFiles(Protocol):
    """What a link's TLS settings name (the gateway's ``TlsConfig`` is one)."""

    @property
    def ca_file(self) -> Path | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...
    @property
    def insecure(self) -> bool: ...


def tls_context(tls: TlsFiles, where: str) -> ssl.SSLContext:
    """An SSL context verifying the broker against ``ca_file`` (the system's CAs if None),
    with a client certificate when ``cert_file`` is set.

    Reads files, so call it once when a link starts, not at every reconnect. A file that
    cannot be loaded is a :class:`~estatewatch.errors.ConfigError` starting with ``where``
    (the setting's name), not an outage to retry.
    """
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except OSError as exc:  # ssl.SSLError is one
        raise ConfigError(f"{where}: cannot load CA file {tls.ca_file}: {exc}") from exc
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot load client certificate {tls.cert_file}"
                f" (key {tls.key_file}): {exc}"
            ) from exc
    if tls.insecure:
        # For test benches only: the certificate is still verified, the host name is not.
        context.check_hostname = False
    return context
