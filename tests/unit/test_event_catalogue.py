"""The event catalogue: every event is declared once, by name, and docs/events.md is generated from it."""

from pathlib import Path

from api.cli.events import catalogue_page
from kernel import outbox
from kernel.events import catalogue

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_the_events_page_is_generated_from_the_catalogue(app):
    assert DOCS.read_text(encoding="utf-8") == catalogue_page(), "run: flask events catalogue > docs/events.md"


def test_every_subscription_is_to_a_declared_event(app):
    declared = {event_type.name for event_type in catalogue()}
    assert set(outbox._subscriptions) <= declared


def test_a_beneficiary_is_the_actor_or_one_of_the_payload_fields(app):
    for event_type in catalogue():
        assert event_type.beneficiary in (None, "actor", *event_type.fields), event_type.name
