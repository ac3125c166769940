"""The sensitive-word list (operator-managed) and screening of member text against it.

Text is normalised before matching — NFKC folds full-width to half-width, casefold folds case, OpenCC folds
Traditional to Simplified Chinese — and invisible characters and whitespace are skipped, so "ＢＡＤ", "bad" and
"b a d" all match "bad", and "賭博" matches "赌博". Matches map back to the original characters, so masking
replaces exactly what the member wrote.
"""

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from opencc import OpenCC
from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User
from kernel import audit, clock
from kernel.catalogue import Catalogue
from kernel.db import Model, UTCDateTime, db
from kernel.errors import ValidationFailed
from moderation.automaton import Automaton

ACTIONS = ("block", "review", "mask")
MASK = "＊"
_SKIPPED = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}


class SensitiveWord(Model):
    __tablename__ = "sensitive_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(64))
    word_key: Mapped[str] = mapped_column(String(128), unique=True)
    action: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def normalise(text: str) -> tuple[str, list[int]]:
    """The matching form of `text` and, for each of its characters, the index of the original character."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char in _SKIPPED or char.isspace():
            continue
        for folded in unicodedata.normalize("NFKC", char).casefold():
            if not folded.isspace():
                chars.append(folded)
                origin.append(index)
    return _simplified("".join(chars)), origin


_TO_SIMPLIFIED = OpenCC("t2s")


def _simplified(text: str) -> str:
    """Traditional → Simplified, character for character (so offsets still map to what the member wrote)."""
    folded = _TO_SIMPLIFIED.convert(text)
    if len(folded) == len(text):
        return folded
    # A phrase rule changed the length: fold one character at a time instead.
    return "".join(single if len(single := _TO_SIMPLIFIED.convert(char)) == 1 else char for char in text)


@dataclass
class Screening:
    text: str
    blocked: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)


class WordList:
    def __init__(self, words: list[tuple[str, str]]) -> None:
        self.words = [w for w, _ in words]
        self.actions = [a for _, a in words]
        self.automaton = Automaton([normalise(w)[0] for w in self.words])

    def screen(self, text: str) -> Screening:
        normalised, origin = normalise(text)
        result = Screening(text=text)
        to_mask: set[int] = set()
        for start, end, index in self.automaton.find(normalised):
            word, action = self.words[index], self.actions[index]
            bucket = {"block": result.blocked, "review": result.review, "mask": result.masked}[action]
            if word not in bucket:
                bucket.append(word)
            if action == "mask":
                to_mask.update(range(origin[start], origin[end - 1] + 1))
        if to_mask:
            result.text = "".join(MASK if i in to_mask and not ch.isspace() else ch for i, ch in enumerate(text))
        return result


def _load_list() -> WordList:
    rows = db.session.execute(select(SensitiveWord.word, SensitiveWord.action).order_by(SensitiveWord.id))
    return WordList([(word, action) for word, action in rows])


# Every post, reply and comment is screened: the list is a catalogue cached in each process (kernel.catalogue).
WORDS = Catalogue("sensitive_words", _load_list)


def screen(text: str) -> Screening:
    return WORDS.get().screen(text)


def refuse_blocked(screenings: dict[str, Screening]) -> None:
    """422 naming the offending terms per field, if any field hit a block word."""
    offending = {name: s.blocked for name, s in screenings.items() if s.blocked}
    if offending:
        terms = sorted({t for ts in offending.values() for t in ts})
        raise ValidationFailed(
            "the text contains words that are not allowed",
            code="sensitive_content",
            details={"terms": terms, "fields": offending},
        )


def list_words() -> list[SensitiveWord]:
    return list(db.session.scalars(select(SensitiveWord).order_by(SensitiveWord.word_key)))


def replace_words(actor: User, entries: list[tuple[str, str]]) -> list[SensitiveWord]:
    """PUT semantics: the list becomes exactly `entries` (duplicates by normalised form keep the last)."""
    wanted: dict[str, tuple[str, str]] = {}
    for word, action in entries:
        key = normalise(word)[0]
        if not key or action not in ACTIONS:
            raise ValidationFailed("invalid word entry", details={"words": [f"bad entry: {word!r}"]})
        wanted[key] = (word.strip(), action)
    db.session.execute(delete(SensitiveWord))
    now = clock.now()
    for key, (word, action) in wanted.items():
        db.session.add(SensitiveWord(word=word, word_key=key, action=action, created_by=actor.id, created_at=now))
    db.session.flush()
    WORDS.changed()
    audit.record(actor, "words.replace", "word_list", None, count=len(wanted))
    return list_words()
