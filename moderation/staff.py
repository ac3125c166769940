"""Staff administration that must leave a trace: role changes and manual notes."""

from forum import members
from forum.members import User
from kernel import audit


def set_role(actor: User, target_id: int, role: str) -> User:
    target = members.get_user(target_id)
    previous = target.role
    members.set_role(actor, target_id, role)
    audit.record(actor, "user.set_role", "user", target.id, "", previous=previous, role=role)
    return target
