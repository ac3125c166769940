"""Event types by name: the catalogue of what happened, declared once by the package that emits it.

Each emitting package keeps its events in its own `events` module (`forum.events`, `c2b.events`, …). Emitters and
subscribers import the declared constants, so a misspelt event fails at import time; `outbox.emit` refuses a payload
that does not carry exactly the declared fields. `beneficiary` says who an event benefits, for the reactions that
reward someone: "actor" (whoever acted) or the payload field holding that member's id.
"""

import sys
from dataclasses import dataclass
from typing import Any, Protocol


class Emitted(Protocol):
    type: str
    actor_id: int | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventType:
    name: str
    package: str
    fields: tuple[str, ...]
    beneficiary: str | None
    about: str

    def beneficiary_of(self, event: Emitted) -> int | None:
        if self.beneficiary is None:
            return None
        if self.beneficiary == "actor":
            return event.actor_id
        return event.payload.get(self.beneficiary)

    def check_payload(self, payload: dict[str, Any]) -> None:
        if set(payload) != set(self.fields):
            raise ValueError(f"event {self.name} carries {sorted(self.fields)}, not {sorted(payload)}")

    def __str__(self) -> str:
        return self.name


_catalogue: dict[str, EventType] = {}


def declare(name: str, *, fields: tuple[str, ...] = (), beneficiary: str | None = None, about: str) -> EventType:
    """Declare an event type in the calling package's catalogue."""
    if beneficiary not in (None, "actor") and beneficiary not in fields:
        raise ValueError(f"event {name}: the beneficiary field {beneficiary!r} is not one of its fields")
    if name in _catalogue:
        raise ValueError(f"event {name} is declared twice")
    package = sys._getframe(1).f_globals["__name__"].split(".")[0]
    declared = EventType(name=name, package=package, fields=fields, beneficiary=beneficiary, about=about)
    _catalogue[name] = declared
    return declared


def named(name: str) -> EventType:
    """The declared type of a stored event's name (KeyError for a name nobody declares)."""
    return _catalogue[name]


def catalogue() -> list[EventType]:
    return sorted(_catalogue.values(), key=lambda event_type: (event_type.package, event_type.name))
