"""Interest tags (贴标签): members tag themselves and each other; operators keep their own, internal tags.

A tagged member may remove any tag shown on them. Operator tags ("bought X", "curious about new products") are
never shown to members and only operators change them.
"""

import re
import unicodedata
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User, get_user
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Forbidden, ValidationFailed
from kernel.sql import insert_if_absent, rows_changed
from moderation import words

KINDS = ("self", "friend", "operator")
TAG_RE = re.compile(r"^[\w·\-+# ]{1,20}$")
CURIOUS = "好奇新品"  # the operator tag given to experience-officer applicants not selected


class MemberTag(Model):
    __tablename__ = "member_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(20))
    tag_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(8))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "tag_key", "kind", "added_by", name="uq_member_tags_once"),
        Index("ix_member_tags_lookup", "tag_key", "kind", "user_id"),
    )


def clean(tag: str) -> tuple[str, str]:
    name = unicodedata.normalize("NFKC", tag).strip().lstrip("#")
    if not TAG_RE.fullmatch(name):
        raise ValidationFailed("invalid tag", details={"tags": [f"bad tag: {tag!r}"]})
    return name, name.casefold()


def set_tags(actor: User, user_id: int, tags: list[str], kind: str) -> None:
    """Replace the set of tags of one kind that `actor` has put on the member."""
    target = get_user(user_id)
    if kind == "operator" and not actor.has_role("operator"):
        raise Forbidden("only operators keep operator tags", code="role_required")
    if kind == "self" and actor.id != target.id:
        raise Forbidden("self tags are the member's own", code="not_yourself")
    if kind == "friend" and actor.id == target.id:
        raise ValidationFailed("tag yourself with kind=self", details={"kind": ["self for your own tags"]})
    cleaned = dict(clean(t)[::-1] for t in tags)  # key → display name, duplicates collapse
    if len(cleaned) > 20:
        raise ValidationFailed("too many tags", details={"tags": ["at most 20"]})
    if kind != "operator":
        words.refuse_blocked({"tags": words.screen(" ".join(cleaned.values()))})
    db.session.execute(
        delete(MemberTag).where(MemberTag.user_id == target.id, MemberTag.kind == kind, MemberTag.added_by == actor.id)
    )
    now = clock.now()
    for key, name in cleaned.items():
        insert_if_absent(
            MemberTag,
            {"user_id": target.id, "tag": name, "tag_key": key, "kind": kind, "added_by": actor.id, "created_at": now},
        )


def add_operator_tag(user_id: int, tag: str, by: int | None = None) -> None:
    name, key = clean(tag)
    insert_if_absent(
        MemberTag,
        {
            "user_id": user_id,
            "tag": name,
            "tag_key": key,
            "kind": "operator",
            "added_by": by,
            "created_at": clock.now(),
        },
    )


def remove_tag(member: User, tag: str) -> int:
    """The tagged member removes a tag from themselves (self or friend tags)."""
    _, key = clean(tag)
    return rows_changed(
        delete(MemberTag).where(
            MemberTag.user_id == member.id, MemberTag.tag_key == key, MemberTag.kind.in_(("self", "friend"))
        )
    )


def tags_of(user_id: int, viewer: User | None) -> list[dict]:
    """Tags with how many people gave each; operator tags only for operators."""
    kinds = KINDS if viewer is not None and viewer.has_role("operator") else ("self", "friend")
    rows = db.session.execute(
        select(MemberTag.tag_key, func.min(MemberTag.tag), MemberTag.kind, func.count(MemberTag.id))
        .where(MemberTag.user_id == user_id, MemberTag.kind.in_(kinds))
        .group_by(MemberTag.tag_key, MemberTag.kind)
        .order_by(func.count(MemberTag.id).desc(), MemberTag.tag_key)
    ).all()
    return [{"tag": name, "kind": kind, "count": count} for _, name, kind, count in rows]
