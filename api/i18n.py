"""Messages in the reader's language. Flask-Babel picks the locale from `Accept-Language` among zh_CN and en, and
falls back to the community's own (COMMUNITY_LOCALE, zh_CN by default). Error codes never change: only messages are
translated, in one place (the error envelope), from api/translations/zh_Hans_CN/LC_MESSAGES/messages.po:

- context "error": one message per error code (a code's English message may carry values; its details keep them);
- context "validation": marshmallow's field messages as templates. A message is matched against the English
  templates and rebuilt from the Chinese one with the same values ("Length must be between 1 and 200." →
  "长度必须在 1 到 200 之间。"), so validators keep formatting their messages as they always do.

English is the source language: an English reader gets the messages exactly as written."""

import re
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, get_locale, pgettext

SUPPORTED = ("zh_CN", "en")
CATALOGUE = Path(__file__).resolve().parent / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
# Placeholders ending in _op hold words, not data, translated themselves (Range's "greater than or equal to"…).
_NUMERIC = {"min", "max", "equal"}

babel = Babel()


def _locale_from_request() -> str | None:
    if not has_request_context():
        return None
    return request.accept_languages.best_match(SUPPORTED)


def init_i18n(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["COMMUNITY_LOCALE"]
    babel.init_app(app, locale_selector=_locale_from_request)
    # Babel reads its locale data on first use, in every thread that gets there at once (its loader takes no lock):
    # read it here, once per process, rather than in a worker's first error answers (each of which waited on it).
    for tag in (app.config["COMMUNITY_LOCALE"], *SUPPORTED):
        Locale.parse(tag)


def current_language() -> str:
    """zh_CN or en (Babel itself would say zh_Hans_CN)."""
    locale = get_locale()
    if locale is None:
        return current_app.config["COMMUNITY_LOCALE"]
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


def _english() -> bool:
    return current_language().startswith("en")


def error_message(code: str, message: str) -> str:
    if _english():
        return message
    for key in (code, "not_found" if code.endswith("_not_found") else None):
        if key is not None and (translated := pgettext("error", key)) != key:
            return translated
    return message


def field_messages(details: Any) -> Any:
    """Per-field messages (nested by field name or list index) in the reader's language."""
    if _english():
        return details
    if isinstance(details, dict):
        return {key: field_messages(value) for key, value in details.items()}
    if isinstance(details, list):
        return [field_messages(item) for item in details]
    if isinstance(details, str):
        return _translate_field_message(details)
    return details


def _translate_field_message(text: str) -> str:
    exact, patterns = _templates()
    if text in exact:
        return pgettext("validation", text)
    for template, pattern, names in patterns:
        found = pattern.fullmatch(text)
        if found:
            values = {name: _value(name, found.group(name)) for name in names}
            return pgettext("validation", template).format(**values)
    return text


def _value(name: str, value: str) -> str:
    return pgettext("validation", value) if name.endswith("_op") else value


@cache
def _templates() -> tuple[frozenset[str], list[tuple[str, re.Pattern[str], list[str]]]]:
    """The English templates of context "validation": plain sentences, and those with {placeholders} as patterns."""
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source)
    sentences = [m.id for m in catalogue if m.context == "validation" and isinstance(m.id, str)]
    ops = sorted((s for s in sentences if s.endswith(("than", "to"))), key=len, reverse=True)
    exact, patterns = set(), []
    for sentence in sentences:
        names = re.findall(r"\{(\w+)\}", sentence)
        if not names:
            exact.add(sentence)
            continue
        regex = ""
        for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", sentence):
            regex += re.escape(literal)
            if name:
                if name.endswith("_op"):
                    value = "|".join(map(re.escape, ops))
                else:
                    value = r"\S+?" if name in _NUMERIC else ".+?"
                regex += f"(?P<{name}>{value})"
        patterns.append((sentence, re.compile(regex), names))
    return frozenset(exact), patterns
