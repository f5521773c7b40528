"""Token secrets: ``ew_`` + 43 random URL-safe characters, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

__all__ = ["TOKEN_PREFIX", "hash_secret", "new_secret"]

TOKEN_PREFIX: Final = "ew_"


def new_secret() -> str:
    """A fresh token secret; the prefix lets secret scanners and people recognise it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What is stored: hex SHA-256. The secret has 256 random bits, so no salt or slow
    hash is needed (unlike a password, it cannot be guessed from a dictionary)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
