"""People's passwords: argon2 hashes (pwdlib) and the strength rule, one place for the
web login, invite and reset pages and ``estatewatch users add --password-prompt``.

:func:`weakness` returns why a password is refused as an English message that is also a
gettext msgid (the pages translate it, the command line prints it as is), or None.
:func:`verify` spends the same time on an unknown user as on a known one, so the login
answer does not tell which usernames exist.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from pwdlib import PasswordHash

from api.web.i18n import N_

__all__ = ["MIN_LENGTH", "hash_password", "verify", "weakness"]

MIN_LENGTH: Final = 10

# The most common passwords in leaked lists (and their Chinese-keyboard favourites): the
# length rule stops most of them, these are the ones that pass it.
_COMMON: Final = frozenset(
    {
        "1234567890",
        "0123456789",
        "1111111111",
        "0000000000",
        "123456789a",
        "a123456789",
        "qwertyuiop",
        "1q2w3e4r5t",
        "password12",
        "password123",
        "iloveyou12",
        "woaini1314",
        "5201314520",
        "abcdefghij",
        "1234qwerasdf",
        "qwerty12345",
    }
)


@cache
def _hasher() -> PasswordHash:
    # Built on first use, not at import: the argon2 parameters are pwdlib's recommended ones.
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; None (no password or no such user) still
    hashes once, so both answers take as long."""
    if stored is None:
        _hasher().hash(password)
        return False
    return _hasher().verify(password, stored)


def weakness(password: str, username: str) -> str | None:
    """Why ``password`` is too weak for ``username``, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return N_("The password must be at least 10 characters long.")
    if len(password) > 200:
        return N_("The password must be at most 200 characters long.")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        return N_("This password is too easy to guess; choose another.")
    if username and username.lower() in lowered:
        return N_("The password must not contain the username.")
    return None
