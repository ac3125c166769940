"""Boards (版块) and their moderators (版主)."""

import re
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User, get_user
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, ValidationFailed
from kernel.sql import get_or_404, unique_or_refuse

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class Board(Model):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    staff_only: Mapped[bool] = mapped_column(default=False)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BoardModerator(Model):
    __tablename__ = "board_moderators"

    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _clean_slug(slug: str) -> str:
    # Taken as given: a slug is part of URLs, so it is never silently rewritten.
    if not SLUG_RE.fullmatch(slug):
        raise ValidationFailed("invalid slug", details={"slug": ["2-40 of a-z, 0-9 and -"]})
    return slug


def get_board(board_id: int) -> Board:
    return get_or_404(Board, board_id, "board")


def list_boards() -> list[Board]:
    return list(db.session.scalars(select(Board).order_by(Board.position, Board.id)))


def moderators_of(board_ids: list[int]) -> dict[int, list[User]]:
    rows = db.session.execute(
        select(BoardModerator.board_id, User)
        .join(User, User.id == BoardModerator.user_id)
        .where(BoardModerator.board_id.in_(board_ids))
        .order_by(BoardModerator.created_at)
    ).all()
    found: dict[int, list[User]] = {board_id: [] for board_id in board_ids}
    for board_id, user in rows:
        found[board_id].append(user)
    return found


def create_board(
    actor: User, *, slug: str, name: str, description: str = "", position: int = 0, staff_only: bool = False
) -> Board:
    actor.ensure_role("admin", doing="manage boards")
    board = Board(
        slug=_clean_slug(slug),
        name=name.strip(),
        description=description.strip(),
        position=position,
        staff_only=staff_only,
        post_count=0,
        created_at=clock.now(),
    )
    with unique_or_refuse(_slug_taken):
        db.session.add(board)
    audit.record(actor, "board.create", "board", board.id, slug=board.slug)
    return board


def _slug_taken(_exc: IntegrityError) -> Conflict:
    return Conflict("a board with this slug exists", code="slug_taken")


def update_board(actor: User, board_id: int, **changes) -> Board:
    actor.ensure_role("admin", doing="manage boards")
    board = get_board(board_id)
    if "slug" in changes:
        changes["slug"] = _clean_slug(changes["slug"])
    with unique_or_refuse(_slug_taken):
        for field in ("slug", "name", "description", "position", "staff_only"):
            if field in changes:
                value = changes[field]
                setattr(board, field, value.strip() if isinstance(value, str) else value)
    audit.record(actor, "board.update", "board", board.id, **changes)
    return board


def assign_moderator(actor: User, board_id: int, user_id: int) -> BoardModerator:
    actor.ensure_role("admin", doing="manage boards")
    get_board(board_id)
    get_user(user_id)
    existing = db.session.get(BoardModerator, (board_id, user_id))
    if existing is not None:
        return existing
    assignment = BoardModerator(board_id=board_id, user_id=user_id, assigned_by=actor.id, created_at=clock.now())
    db.session.add(assignment)
    db.session.flush()
    audit.record(actor, "board.moderator_assign", "board", board_id, user_id=user_id)
    return assignment


def remove_moderator(actor: User, board_id: int, user_id: int) -> bool:
    actor.ensure_role("admin", doing="manage boards")
    assignment = db.session.get(BoardModerator, (board_id, user_id))
    if assignment is None:
        return False
    db.session.delete(assignment)
    db.session.flush()
    audit.record(actor, "board.moderator_remove", "board", board_id, user_id=user_id)
    return True


def can_moderate(user: User | None, board_id: int) -> bool:
    """Global moderators and admins moderate everywhere; a board moderator only in their own boards."""
    if user is None:
        return False
    if user.has_role("moderator"):
        return True
    return db.session.get(BoardModerator, (board_id, user.id)) is not None
