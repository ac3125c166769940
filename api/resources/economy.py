"""Points, check-in, tasks, levels, leaderboards, earning rules and staff grants."""

import marshmallow as ma
from sqlalchemy import select

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.idempotency import IdempotencyHeader, key_or_new
from api.pagination import PageArgs, page_body, page_of
from api.schemas import MemberSummary
from economy import checkin, earning, grants, leaderboards, ledger, levels, tasks
from economy.earning import EarningRule
from economy.ledger import Entry, LedgerTransaction
from forum.members import User
from kernel import clock
from kernel.db import db
from kernel.pagination import keyset_page

blp = Blueprint("economy", __name__, url_prefix="/api/v1", description="Points, levels, check-in and tasks")


class LevelOut(ma.Schema):
    number = ma.fields.Integer()
    name = ma.fields.String()
    threshold = ma.fields.Integer(metadata={"description": "contribution needed"})
    privileges = BoundedList(ma.fields.String())


class CheckinStatus(ma.Schema):
    checked_in_today = ma.fields.Boolean()
    streak = ma.fields.Integer()
    day = ma.fields.String(metadata={"description": "today in the community's timezone"})


class PointsOut(ma.Schema):
    balance = ma.fields.Integer(metadata={"description": "spendable points"})
    contribution = ma.fields.Integer(metadata={"description": "经验/成长值: drives levels, never spent"})
    level = ma.fields.Nested(LevelOut)
    next_level = ma.fields.Nested(LevelOut, allow_none=True)
    to_next_level = ma.fields.Integer(allow_none=True)
    checkin = ma.fields.Nested(CheckinStatus)


class LedgerLine(ma.Schema):
    id = ma.fields.Integer()
    transaction_id = ma.fields.Integer()
    source = ma.fields.String()
    reason_code = ma.fields.String()
    memo = ma.fields.String()
    measure = ma.fields.String(metadata={"description": "points or contribution"})
    amount = ma.fields.Integer()
    created_at = ma.fields.DateTime()


class CheckinOut(ma.Schema):
    day = ma.fields.String()
    streak = ma.fields.Integer()
    points_awarded = ma.fields.Integer()
    balance = ma.fields.Integer()


class TaskTerms(ma.Schema):
    """What a task asks and pays."""

    code = ma.fields.String()
    title = ma.fields.String()
    period = ma.fields.String(metadata={"description": "daily, weekly or once"})
    target = ma.fields.Integer()
    points = ma.fields.Integer()
    contribution = ma.fields.Integer()


class TaskOut(TaskTerms):
    progress = ma.fields.Integer()
    completed = ma.fields.Boolean()
    rewarded = ma.fields.Boolean()


class TaskList(ma.Schema):
    items = BoundedList(ma.fields.Nested(TaskOut), required=True)


class TaskDefinition(TaskTerms):
    metric = ma.fields.String(metadata={"description": "the contribution event the task counts"})
    position = ma.fields.Integer(metadata={"description": "order in the tasks centre"})
    enabled = ma.fields.Boolean()


class TaskDefinitionList(ma.Schema):
    items = BoundedList(ma.fields.Nested(TaskDefinition), required=True)


class TaskPatch(ma.Schema):
    title = ma.fields.String(validate=ma.validate.Length(min=1, max=80))
    target = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10000))
    points = ma.fields.Integer(validate=ma.validate.Range(min=0, max=10000))
    contribution = ma.fields.Integer(validate=ma.validate.Range(min=0, max=10000))
    position = ma.fields.Integer(validate=ma.validate.Range(min=0, max=1000))
    enabled = ma.fields.Boolean()


class LevelTable(ma.Schema):
    items = BoundedList(ma.fields.Nested(LevelOut), required=True)


class LeaderboardArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class LeaderboardRow(ma.Schema):
    rank = ma.fields.Integer()
    user = ma.fields.Nested(MemberSummary)
    score = ma.fields.Integer()


class MyRank(ma.Schema):
    rank = ma.fields.Integer(allow_none=True)
    score = ma.fields.Integer()


class LeaderboardOut(ma.Schema):
    period = ma.fields.String()
    items = BoundedList(ma.fields.Nested(LeaderboardRow))
    me = ma.fields.Nested(MyRank, allow_none=True)
    source = ma.fields.String(metadata={"description": "store, or ledger while the store is down"})


class RuleOut(ma.Schema):
    event_type = ma.fields.String()
    points = ma.fields.Integer()
    contribution = ma.fields.Integer()
    daily_cap = ma.fields.Integer(allow_none=True)
    lifetime_cap = ma.fields.Integer(allow_none=True)
    enabled = ma.fields.Boolean()
    description = ma.fields.String()


class RuleList(ma.Schema):
    items = BoundedList(ma.fields.Nested(RuleOut), required=True)


class RulePatch(ma.Schema):
    points = ma.fields.Integer(validate=ma.validate.Range(min=0, max=10000))
    contribution = ma.fields.Integer(validate=ma.validate.Range(min=0, max=10000))
    daily_cap = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=10000))
    lifetime_cap = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=1000000))
    enabled = ma.fields.Boolean()
    description = ma.fields.String(validate=ma.validate.Length(max=200))


class GrantIn(ma.Schema):
    points = ma.fields.Integer(
        required=True,
        validate=[ma.validate.Range(min=-100000, max=100000), ma.validate.NoneOf([0], error="non-zero")],
        metadata={"not": {"enum": [0]}, "description": "non-zero: positive grants, negative deducts"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class GrantOut(ma.Schema):
    transaction_id = ma.fields.Integer()
    points = ma.fields.Integer()
    balance = ma.fields.Integer()


def _level_dict(level: levels.Level | None) -> dict | None:
    if level is None:
        return None
    return {
        "number": level.number,
        "name": level.name,
        "threshold": level.threshold,
        "privileges": levels.privileges_of(level),
    }


def _balance(user_id: int) -> int:
    return db.session.scalar(select(ledger.Account.balance).where(ledger.Account.user_id == user_id)) or 0


@blp.route("/me/points", methods=["GET"])
@auth_required(blp)
@blp.response(200, PointsOut)
def my_points() -> dict:
    """Spendable balance, contribution score, level with its privileges, and progress to the next level."""
    member = current_member()
    account = db.session.scalar(select(ledger.Account).where(ledger.Account.user_id == member.id))
    contribution = account.contribution if account else 0
    upcoming = levels.next_level(contribution)
    return {
        "balance": account.balance if account else 0,
        "contribution": contribution,
        "level": _level_dict(levels.level_for(contribution)),
        "next_level": _level_dict(upcoming),
        "to_next_level": upcoming.threshold - contribution if upcoming else None,
        "checkin": checkin.status(member, clock.now()),
    }


@blp.route("/me/points/ledger", methods=["GET"])
@auth_required(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(LedgerLine))
@documented_errors(blp, 400)
def my_ledger(args) -> dict:
    """Every movement of your points and contribution, newest first."""
    member = current_member()
    account_id = db.session.scalar(select(ledger.Account.id).where(ledger.Account.user_id == member.id))
    query = (
        select(
            Entry.id,
            Entry.transaction_id,
            Entry.measure,
            Entry.amount,
            Entry.created_at,
            LedgerTransaction.source,
            LedgerTransaction.reason_code,
            LedgerTransaction.memo,
        )
        .join(LedgerTransaction, LedgerTransaction.id == Entry.transaction_id)
        .where(Entry.account_id == (account_id or -1))
    )
    page = keyset_page(query, [Entry.id], args["limit"], args["cursor"], columns=True)
    return page_body(page, lambda row: dict(row._mapping))


@blp.route("/me/checkin", methods=["POST"])
@auth_required(blp)
@blp.response(201, CheckinOut, example={"day": "2026-11-28", "streak": 7, "points_awarded": 25, "balance": 1280})
@documented_errors(blp, 409)
def check_in() -> dict:
    """签到 once per community day (Asia/Shanghai by default); a bonus on every 7th consecutive day."""
    done = checkin.check_in(current_member(), clock.now())
    return {
        "day": done.record.day.isoformat(),
        "streak": done.record.streak,
        "points_awarded": done.record.points,
        "balance": done.balance,
    }


@blp.route("/me/tasks", methods=["GET"])
@auth_required(blp)
@blp.response(200, TaskList)
def my_tasks() -> dict:
    """Daily, weekly and one-time tasks with your progress ("reply 3 times today 1/3")."""
    return {"items": tasks.progress(current_member(), clock.now())}


@blp.route("/economy/levels", methods=["GET"])
@blp.response(200, LevelTable)
def level_table() -> dict:
    """The level table: contribution thresholds and what each level unlocks."""
    return {"items": [_level_dict(level) for level in levels.LEVELS]}


@blp.route("/leaderboards/<string:period>", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(LeaderboardArgs, location="query")
@blp.response(200, LeaderboardOut)
@documented_errors(blp, 404)
def leaderboard(args, period: str) -> dict:
    """Contribution leaderboard for week, month or all; includes your own rank when signed in."""
    if period not in leaderboards.PERIODS:
        from kernel.errors import NotFound

        raise NotFound("no such leaderboard", code="leaderboard_not_found", details={"periods": leaderboards.PERIODS})
    now = clock.now()
    rows, from_store = leaderboards.top(period, now, args["limit"])
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([u for u, _ in rows])))}
    viewer = current_viewer()
    me = None
    if viewer is not None:
        rank, score = leaderboards.rank_of(period, now, viewer.id)
        me = {"rank": rank, "score": score}
    return {
        "period": period,
        "items": [{"rank": i + 1, "user": users[u], "score": s} for i, (u, s) in enumerate(rows) if u in users],
        "me": me,
        "source": "store" if from_store else "ledger",
    }


@blp.route("/economy/rules", methods=["GET"])
@auth_required(blp, "operator")
@blp.response(200, RuleList)
def list_rules() -> dict:
    """Earning rules: which contribution pays what, with daily and lifetime caps (operators)."""
    return {"items": earning.list_rules()}


@blp.route("/economy/rules/<string:event_type>", methods=["PATCH"])
@auth_required(blp, "operator")
@blp.arguments(RulePatch)
@blp.response(200, RuleOut)
@documented_errors(blp, 404)
def update_rule(body, event_type: str) -> EarningRule:
    """Change an earning rule (operators; audited). Rules only ever pay for contribution events."""
    rule = earning.update_rule(current_member(), event_type, **body)
    return rule


@blp.route("/economy/tasks", methods=["GET"])
@auth_required(blp, "operator")
@blp.response(200, TaskDefinitionList)
def list_tasks() -> dict:
    """Every task of the tasks centre, disabled ones too (operators)."""
    return {"items": tasks.list_tasks()}


@blp.route("/economy/tasks/<string:code>", methods=["PATCH"])
@auth_required(blp, "operator")
@blp.arguments(TaskPatch)
@blp.response(200, TaskDefinition)
@documented_errors(blp, 404)
def update_task(body, code: str) -> tasks.Task:
    """Tune a task: its title, target, reward, order, or switch it off (operators; audited). Every worker uses the
    change within a second; a reward already paid stays paid."""
    return tasks.update_task(current_member(), code, **body)


@blp.route("/users/<int:user_id>/points/grants", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(IdempotencyHeader, location="headers")
@blp.arguments(GrantIn)
@blp.response(201, GrantOut)
@documented_errors(blp, 404, 409)
def grant_points(headers, body, user_id: int) -> dict:
    """Grant (or, negative, deduct) points by hand with a reason (operators/admins; audited; never for money)."""
    transaction, _ = grants.grant(current_member(), user_id, body["points"], body["reason"], key_or_new(headers))
    return {"transaction_id": transaction.id, "points": body["points"], "balance": _balance(user_id)}
