"""Every string the web app shows is translated: the msgids Babel extracts from the code
and templates (api/web/babel.cfg, as ``make messages`` does) each have a non-empty,
non-fuzzy translation in both catalogues, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.web.i18n import LOCALE_DIR, LOCALES, load_catalogues

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """api/web/babel.cfg, read the way pybabel reads it."""
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "api" / "web" / "babel.cfg").open() as cfg:
        return parse_mapping_cfg(cfg)


def extracted() -> dict[str, list[str]]:
    method_map, options_map = _method_map()
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def test_extraction_finds_the_pages_strings() -> None:
    found = extracted()
    assert "Log in" in found  # a template
    assert "Wrong username or password." in found  # code
    assert "The password must be at least 10 characters long." in found  # api/passwords.py


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_is_translated(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=locale)
    translated = {
        message.id if isinstance(message.id, str) else message.id[0]: message
        for message in catalogue
        if message.id
    }
    problems = []
    for msgid, where in sorted(extracted().items()):
        message = translated.get(msgid)
        strings = (
            []
            if message is None
            else [message.string]
            if isinstance(message.string, str)
            else list(message.string)
        )
        if message is None or not all(strings) or not strings:
            problems.append(f"untranslated: {msgid!r} ({where[0]})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(msgid)) for s in strings):
            problems.append(f"placeholders differ: {msgid!r}")
    assert not problems, f"{locale}: add to api/web/locale/{locale}:\n" + "\n".join(problems)


def test_the_chinese_catalogue_is_chinese() -> None:
    chinese = load_catalogues()["zh_CN"]
    assert chinese.gettext("Log in") == "登录"
    assert re.search(r"[\u4e00-\u9fff]", chinese.gettext("Wrong username or password."))
