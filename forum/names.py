"""Validation and canonical forms for usernames and display names (Chinese included)."""

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
