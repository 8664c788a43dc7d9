"""Translations: gettext catalogs (Babel), the language of the request, ISO 8601 dates in the site's zone.

Notes
-----
English is the source language (the msgids); ``locale/zh_Hans/LC_MESSAGES/messages.po`` holds the Simplified
Chinese catalog. The ``.po`` files are the only committed form: they are compiled to ``.mo`` in memory when
the web layer starts (:func:`load_catalogs`), so no build step and no binary file in the repository.
CTCAE terms are shown in NCI's English wording and are never passed through the catalogs.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from contextvars import ContextVar
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "format_datetime",
    "gettext",
    "load_catalogs",
    "ngettext",
    "use_language",
]

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT_LANGUAGE = "en"
_current: ContextVar[_gettext.NullTranslations] = ContextVar("oligotrial_web_translations")


@functools.cache
def load_catalogs() -> dict[str, _gettext.NullTranslations]:
    """Every language's translations, compiled from its ``.po`` file in memory (English: the msgids)."""
    catalogs: dict[str, _gettext.NullTranslations] = {"en": _gettext.NullTranslations()}
    for language in LANGUAGES:
        po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
        if language == "en" or not po.exists():
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        catalogs[language] = _gettext.GNUTranslations(buffer)
    return catalogs


def use_language(language: str) -> None:
    """Make ``language`` the language of the current request (a context variable: safe across requests)."""
    catalogs = load_catalogs()
    _current.set(catalogs.get(language, catalogs[DEFAULT_LANGUAGE]))


def _translations() -> _gettext.NullTranslations:
    return _current.get(load_catalogs()[DEFAULT_LANGUAGE])


def gettext(message: str, **variables: Any) -> str:
    """The translation of ``message`` in the request's language, ``%(name)s`` placeholders filled."""
    text = _translations().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """Plural-aware translation; ``%(num)d`` is ``n``."""
    text = _translations().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def format_datetime(value: datetime | date | str | None, zone: str) -> str:
    """ISO 8601, unambiguous: a date as ``YYYY-MM-DD``; a timestamp in ``zone`` with its UTC offset
    (``2024-05-01T18:05+08:00``). Timestamps are stored in UTC; naive ones are taken as UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")
    return value.isoformat()
