"""Manual point grants and deductions by staff: a reason is required and each one is in the audit log."""

from economy import ledger
from economy.ledger import LedgerTransaction, Source
from forum.members import User, get_user
from kernel import audit
from kernel.errors import Forbidden, ValidationFailed

GRANT_ROLES = ("operator",)  # and admins, who hold every role


def grant(actor: User, user_id: int, points: int, reason: str, key: str) -> tuple[LedgerTransaction, bool]:
    actor.ensure_role(*GRANT_ROLES, doing="grant points")
    if not reason.strip():
        raise ValidationFailed("a reason is required", details={"reason": ["required"]})
    if points == 0:
        raise ValidationFailed("nothing to grant", details={"points": ["non-zero"]})
    target = get_user(user_id)
    if target.id == actor.id:
        raise Forbidden("staff cannot grant points to themselves", code="self_grant")
    if points > 0:
        credited = ledger.credit(
            target.id,
            points=points,
            contribution=0,
            source=Source.STAFF_GRANT,
            key=f"grant:{actor.id}:{key}",
            memo=reason.strip(),
            reason_code="staff_grant",
            details={"by": actor.id},
        )
        transaction, created = credited.transaction, credited.created
    else:
        transaction, created = ledger.debit(
            target.id,
            points=-points,
            to="issuance",
            source=Source.STAFF_DEDUCTION,
            key=f"grant:{actor.id}:{key}",
            memo=reason.strip(),
            reason_code="staff_deduction",
            details={"by": actor.id},
        )
    if created:
        audit.record(
            actor,
            "points.grant" if points > 0 else "points.deduct",
            "user",
            target.id,
            reason.strip(),
            points=points,
            transaction_id=transaction.id,
        )
    return transaction, created
