"""Staff actions write their audit entry inside the service, in the same unit of work as the action."""

import pytest
from sqlalchemy import select

from economy import badges, earning, mall
from forum import boards, members
from kernel.audit import AuditEntry
from kernel.db import db
from kernel.errors import Conflict, Forbidden
from kernel.unit_of_work import transaction


def _staff(name: str, role: str):
    with transaction():
        user = members.register(name, "correct horse battery")
        user.role = role
    return user


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_services_called_without_http_audit_themselves(ctx):
    admin, operator = _staff("auditadmin", "admin"), _staff("auditop", "operator")
    with transaction():
        boards.create_board(admin, slug="audited", name="Audited")
        badges.create_badge(operator, slug="audited-badge", name="Audited", tier="bronze")
        earning.update_rule(operator, "post_published", points=7)
        mall.create_item(operator, name="Mug", price_points=10, stock=1)
    assert _actions() == ["board.create", "badge.create", "economy.rule", "mall.create"]


def test_a_refused_action_leaves_no_audit_entry(ctx):
    admin = _staff("auditadmin2", "admin")
    with transaction():
        boards.create_board(admin, slug="taken", name="Taken")
    with pytest.raises(Conflict), transaction():
        boards.create_board(admin, slug="taken", name="Again")
    assert _actions() == ["board.create"]


def test_services_check_the_role_themselves(ctx):
    member = _staff("plainmember", "member")
    with pytest.raises(Forbidden) as refused, transaction():
        badges.create_badge(member, slug="nope", name="Nope", tier="bronze")
    assert refused.value.code == "role_required"
    assert _actions() == []
