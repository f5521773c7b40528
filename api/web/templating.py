"""The pages' Jinja2 environments: one per locale, each with its gettext catalogue.

Autoescaping is on for every template. In templates ``_("...")`` (and ``{% trans %}``)
translate, ``ngettext`` plurals; ``{{ when | localtime }}`` shows an aware datetime in the
site's time zone (``site_tz`` in the context, Asia/Shanghai by default) or in the zone
given as the argument, ``{{ when | localtime(site.timezone, "medium") }}``, formatted for
the page's locale. Storage and SLA maths stay in UTC; only showing converts.
``{{ kind | fault_kind }}`` names a fault's kind (:mod:`api.web.faults`) in the page's
language; ``{{ alarm | alarm_message }}`` says an alarm (anything with ``rule`` and
``message``) in it, ``{{ order | order_title }}`` an order's title the platform made
(:mod:`api.web.alarm_messages`). ``{{ order.asset | asset_url }}`` is
the page of the device an asset key names (None for a key that names no device).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, Template, pass_context, select_autoescape
from jinja2.runtime import Context

from api.web.alarm_messages import alarm_message, order_title
from api.web.faults import fault_kind_name
from estatewatch.gbt24476 import CODES
from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND
from maintenance.domain.checklists import ChecklistItem
from maintenance.domain.site_time import DEFAULT_TIMEZONE

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_TIMEZONE",
    "TEMPLATE_DIR",
    "Templates",
    "asset_url",
    "localtime",
]

TEMPLATE_DIR: Final = Path(__file__).parent / "templates"
# Unambiguous in both languages (a Chinese office writes dates this way; "1/6/27" is not).
DEFAULT_FORMAT: Final = "yyyy-MM-dd HH:mm"


def localtime(value: datetime | None, tz: str, locale: str, fmt: str = DEFAULT_FORMAT) -> str:
    """``value`` in zone ``tz``, formatted for ``locale`` (a CLDR pattern, or Babel's
    short/medium/long); an empty string for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the pages show aware UTC times")
    return format_datetime(value, fmt, tzinfo=ZoneInfo(tz), locale=locale)


_DEVICE_TYPES: Final = frozenset(DEVICE_TYPE_OF_KIND.values())


def asset_url(key: str | None) -> str | None:
    """The device page (``/assets/<site>/<device_id>``) of an asset key
    (``site/device_type/device_id``); None for a key that names no registered kind of
    device (a building, a free-text place)."""
    parts = (key or "").split("/")
    if len(parts) != 3 or parts[1] not in _DEVICE_TYPES or not all(parts):
        return None
    return f"/assets/{quote(parts[0], safe='')}/{quote(parts[2], safe='')}"


class Templates:
    """``get(locale, name)``: the template, compiled once per locale."""

    def __init__(
        self,
        catalogues: Mapping[str, Translations],
        checklist_items: Iterable[ChecklistItem] = (),
        directory: Path = TEMPLATE_DIR,
    ) -> None:
        self._catalogues = dict(catalogues)
        # A checklist item's Chinese title by its code and English title: a defect order's
        # title names the item in English (see alarm_messages.order_title).
        zh_titles = {(item.name, item.title): item.title_zh for item in checklist_items}
        self._envs = {
            locale: self._environment(locale, translations, directory, zh_titles)
            for locale, translations in catalogues.items()
        }

    @staticmethod
    def _environment(
        locale: str,
        translations: Translations,
        directory: Path,
        zh_titles: Mapping[tuple[str, str], str],
    ) -> Environment:
        env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(default=True, default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]

        @pass_context
        def localtime_filter(
            context: Context,
            value: datetime | None,
            tz: str | None = None,
            fmt: str = DEFAULT_FORMAT,
        ) -> str:
            zone = tz or context.get("site_tz") or DEFAULT_TIMEZONE
            return localtime(value, zone, locale, fmt)

        env.filters["localtime"] = localtime_filter
        env.filters["asset_url"] = asset_url

        def fault_kind_filter(kind: str) -> str:
            return translations.gettext(fault_kind_name(kind))

        env.filters["fault_kind"] = fault_kind_filter

        def alarm_message_filter(alarm: Any) -> str:
            return alarm_message(alarm.rule, alarm.message, translations.gettext)

        env.filters["alarm_message"] = alarm_message_filter

        def item_title(code: str, title: str) -> str:
            return zh_titles.get((code, title), title) if locale == "zh_CN" else title

        def order_title_filter(order: Any) -> str:
            return order_title(order.title, order.asset, translations.gettext, item_title)

        env.filters["order_title"] = order_title_filter
        env.globals["locale"] = locale
        env.globals["lang"] = locale.replace("_", "-")
        env.globals["gbt24476"] = CODES  # names a fault's GB/T 24476 code (_gbt24476.html)
        return env

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._envs)

    def get(self, locale: str, name: str) -> Template:
        return self._envs[locale].get_template(name)

    def gettext(self, locale: str, message: str, **variables: Any) -> str:
        """``message`` in ``locale`` (for strings made in code: form errors, titles),
        ``%(name)s`` placeholders filled from ``variables`` as templates do."""
        translated = self._catalogues[locale].gettext(message)
        return translated % variables if variables else translated
