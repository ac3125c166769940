"""The privacy policy and the terms: which version each member accepted and when. When a new version is published
(PRIVACY_POLICY_VERSION, TERMS_VERSION), a member's next write waits until they accept it (reading never does)."""

from datetime import datetime

from flask import current_app
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden
from kernel.sql import insert_if_absent

POLICIES = ("privacy", "terms")


class PolicyAcceptance(Model):
    __tablename__ = "policy_acceptances"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)


def current_versions() -> dict[str, str]:
    cfg = current_app.config
    versions = {"privacy": cfg["PRIVACY_POLICY_VERSION"], "terms": cfg["TERMS_VERSION"]}
    return {policy: version for policy, version in versions.items() if version}


def accepted(member: User) -> dict[str, str | None]:
    """The newest version of each policy the member accepted."""
    rows = db.session.execute(
        select(PolicyAcceptance.policy, PolicyAcceptance.version)
        .where(PolicyAcceptance.user_id == member.id)
        .order_by(PolicyAcceptance.accepted_at)
    ).all()
    latest: dict[str, str | None] = dict.fromkeys(POLICIES)
    for policy, version in rows:
        latest[policy] = version
    return latest


def pending(member: User) -> dict[str, str]:
    """The current versions the member has not accepted."""
    current = current_versions()
    if not current:
        return {}
    done = {
        (policy, version)
        for policy, version in db.session.execute(
            select(PolicyAcceptance.policy, PolicyAcceptance.version).where(PolicyAcceptance.user_id == member.id)
        )
    }
    return {policy: version for policy, version in current.items() if (policy, version) not in done}


def accept(member: User, versions: dict[str, str]) -> None:
    """Record acceptance of the versions shown to the member; only current versions can be accepted."""
    current = current_versions()
    wrong = {policy: version for policy, version in versions.items() if current.get(policy) != version}
    if wrong:
        # The client showed a version that is no longer (or not yet) current: it should show the current one.
        raise Conflict("not the current version", code="policy_version_outdated", details={"current": current})
    for policy, version in versions.items():
        insert_if_absent(
            PolicyAcceptance,
            {"user_id": member.id, "policy": policy, "version": version, "accepted_at": clock.now()},
        )


def ensure_accepted(member: User) -> None:
    missing = pending(member)
    if missing:
        raise Forbidden(
            "accept the current privacy policy and terms first",
            code="policy_acceptance_required",
            details={"pending": missing},
        )
