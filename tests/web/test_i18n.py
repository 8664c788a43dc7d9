"""Every user-visible string of the pages is in the gettext catalogs, and translated into Simplified Chinese.

Two checks: (1) the messages extracted from the web package (Python ``_``/``gettext``/``N_`` and the Jinja2
templates' ``_()``/``ngettext``) all have a non-empty, non-fuzzy translation in the ``zh_Hans`` catalog;
(2) the templates hold no literal text outside translation calls (text between tags and the ``title``,
``alt``, ``aria-label`` and ``placeholder`` attributes), so no string escapes extraction.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import oligotrial.web

WEB = Path(oligotrial.web.__file__).parent
PO = WEB / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def _extracted() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        WEB, METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        key = tuple(message) if isinstance(message, tuple) else message
        if key:
            found.add(key)
    return found


def test_every_extracted_message_has_a_chinese_translation():
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans")
    translated = {
        (tuple(m.id) if isinstance(m.id, list | tuple) else m.id): m
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, list | tuple) else m.string)
    }
    extracted = _extracted()
    assert len(extracted) > 300
    missing = sorted(str(m) for m in extracted if m not in translated)
    assert not missing, f"messages without a zh_Hans translation (run pybabel extract/update): {missing}"


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ATTRS = re.compile(r'\b(title|alt|aria-label|placeholder)="([^"]*)"')
_ALLOWED_ATTRS = {"YYYY-MM-DD"}


def test_templates_have_no_untranslated_literal_text():
    offences = []
    for template in sorted((WEB / "templates").glob("*.html")):
        source = template.read_text(encoding="utf-8")
        for name, value in _ATTRS.findall(source):
            if re.search(r"[A-Za-z]", _JINJA.sub("", value)) and value not in _ALLOWED_ATTRS:
                offences.append(f"{template.name}: {name}={value!r}")
        without_code = _JINJA.sub(" ", source)
        without_code = re.sub(r"<script.*?</script>|<style.*?</style>", " ", without_code, flags=re.S)
        text = re.sub(r"<[^>]*>", "\n", without_code)
        for chunk in text.split("\n"):
            chunk = re.sub(r"\bGy\b", "", chunk.strip())  # SI unit symbols are not translated
            if re.search(r"[A-Za-z]", chunk) and chunk not in {"#"}:
                offences.append(f"{template.name}: {chunk!r}")
    assert not offences, f"literal text outside gettext in templates: {offences}"


def test_the_checker_sees_an_untranslated_literal():
    sample = "<p>Hello</p><p>{{ _('Hi') }}</p>"
    text = re.sub(r"<[^>]*>", "\n", _JINJA.sub(" ", sample))
    assert [c.strip() for c in text.split("\n") if re.search(r"[A-Za-z]", c)] == ["Hello"]
