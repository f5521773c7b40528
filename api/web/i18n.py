"""The web app's languages: gettext catalogues (Babel) and choosing one per request.

The catalogues are the ``.po`` files under ``api/web/locale/<locale>/LC_MESSAGES/``,
compiled in memory when the app is built (no ``.mo`` build step, nothing to forget to
commit). msgids are English; ``zh_CN`` is the default language, ``en`` the second.

:func:`negotiate` picks, first match wins: the logged-in user's setting, the ``ew_lang``
cookie the language switch sets, the browser's ``Accept-Language``, then ``zh_CN``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGE_COOKIE",
    "LOCALES",
    "LOCALE_DIR",
    "N_",
    "load_catalogues",
    "negotiate",
]

LOCALES: Final = ("zh_CN", "en")
DEFAULT_LOCALE: Final = "zh_CN"
LANGUAGE_COOKIE: Final = "ew_lang"
LOCALE_DIR: Final = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "translate later"
    """Mark a msgid for extraction where it is defined (a label in a table, a message a
    function returns); the page translates it with ``_()`` when it shows it."""
    return message


def load_catalogues(directory: Path = LOCALE_DIR) -> dict[str, Translations]:
    """Each locale's compiled catalogue; a missing or broken ``.po`` stops the app."""
    catalogues = {}
    for locale in LOCALES:
        path = directory / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalogue = read_po(po, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalogue)
        compiled.seek(0)
        catalogues[locale] = Translations(compiled)
    return catalogues


def _known(tag: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``zh`` -> ``zh_CN``; ``en-GB`` -> ``en``; else None."""
    if not tag:
        return None
    try:
        parsed = Locale.parse(tag.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if parsed.language == "zh":
        # Traditional-script readers get the simplified catalogue too: it is the only one.
        return "zh_CN"
    return parsed.language if parsed.language in LOCALES else None


def _accepted(header: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (q=0 dropped)."""
    weighted = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _q, _p, tag in sorted(weighted)]


def negotiate(
    user_setting: str | None, cookies: Mapping[str, str], accept_language: str | None
) -> str:
    """The locale to render in (see the module docstring for the order)."""
    for candidate in (user_setting, cookies.get(LANGUAGE_COOKIE)):
        if candidate in LOCALES:
            return candidate
    for tag in _accepted(accept_language or ""):
        found = _known(tag)
        if found is not None:
            return found
    return DEFAULT_LOCALE
