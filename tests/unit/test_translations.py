"""The Chinese catalogue: compiled from its source, and complete for every error code the code can answer with."""

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "api" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
PACKAGES = ("api", "c2b", "economy", "forum", "jobs", "kernel", "moderation", "operations")


def _catalogue():
    with (MESSAGES / "messages.po").open("rb") as source:
        return read_po(source)


def _entries(catalogue) -> dict:
    return {(m.context, m.id): m.string for m in catalogue if m.id}


def test_the_compiled_catalogue_is_the_source_compiled():
    with (MESSAGES / "messages.mo").open("rb") as compiled:
        assert _entries(read_mo(compiled)) == _entries(_catalogue()), "run: make translations"


def test_every_error_code_has_a_chinese_message():
    translated = {m.id for m in _catalogue() if m.context == "error" and m.string}
    used = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            used |= set(re.findall(r'\bcode="([a-z_]+)"', text))
            used |= set(re.findall(r'error_response\(\s*\d+,\s*"([a-z_]+)"', text))
            used |= set(re.findall(r'unauthenticated\("([a-z_]+)"', text))
    missing = {code for code in used - translated if not code.endswith("_not_found")}
    assert not missing, missing
    assert len(used) > 100
