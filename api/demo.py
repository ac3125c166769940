"""Idempotent demo data so `make run` shows a living community."""

from sqlalchemy import select

from forum import members
from forum.members import User
from forum.names import canonical
from kernel import outbox
from kernel.db import db

DEMO_PASSWORD = "demo-password"
DEMO_MEMBERS = [
    ("admin", "社区管理员", "admin"),
    ("moderator", "版主小花", "moderator"),
    ("operator", "运营阿杰", "operator"),
    ("product", "产品经理Lee", "product"),
    ("alice", "Alice", "member"),
    ("xiaoming", "小明", "member"),
]


def _member(username: str, display_name: str, role: str) -> tuple[User, bool]:
    user = db.session.scalar(select(User).where(User.username_key == canonical(username)))
    if user is not None:
        return user, False
    user = members.register(username, DEMO_PASSWORD, display_name)
    user.role = role
    return user, True


def seed_demo() -> int:
    created = 0
    for username, display_name, role in DEMO_MEMBERS:
        _, new = _member(username, display_name, role)
        created += new
    outbox.commit()
    return created
