"""Everyone who backed an idea hears each step from idea to doorstep: reactions to the c2b events that tell the
creator, the supporters, the voters and the buyers, in the app and (where configured and consented) as WeChat
subscribe messages. Large audiences go out in batches; each member hears of an event once."""

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from c2b import events
from c2b.ideas import Idea, supporter_ids
from c2b.polls import PollVote
from c2b.presale import Campaign, Order, eligible_early
from forum.members import User
from forum.notifications import notify
from kernel import clock, fanout, outbox
from kernel.db import db
from kernel.outbox import Event

# Topics name the kinds of notice that WECHAT_SUBSCRIBE_TEMPLATES may map to templates.
TOPICS = (
    "idea_milestone",
    "idea_decision",
    "poll_opened",
    "presale_opened",
    "early_access",
    "presale_result",
    "balance_due",
    "order_shipped",
    "refund_completed",
)


def _local(moment: str | datetime | None) -> str:
    if moment is None:
        return ""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(clock.community_zone()).strftime("%m月%d日 %H:%M")


def _tell_all(event: Event, member_ids: list[int], *, kind: str, topic: str, title: str, message: str) -> None:
    recipients = list(dict.fromkeys(member_ids))
    context = {"event_id": event.id, "kind": kind, "topic": topic, "title": title, "message": message}
    fanout.spread("c2b.notice", context, recipients)


@fanout.batch("c2b.notice")
def _notice_batch(context: dict[str, Any], member_ids: list[int]) -> None:
    event = db.session.get_one(Event, context["event_id"])
    for user_id in member_ids:
        notify(
            user_id,
            context["kind"],
            event=event,
            subject=event.subject,
            message=context["message"],
            topic=context["topic"],
            title=context["title"],
        )


@outbox.subscribe(events.IDEA_MILESTONE_REACHED, name="c2b.notify_milestone")
def _on_milestone(event: Event) -> None:
    idea = db.session.get_one(Idea, event.subject[1])
    supporters, creator = event.payload["supporters"], event.payload["creator_id"]
    _tell_all(
        event,
        [creator],
        kind="idea",
        topic="idea_milestone",
        title=idea.title,
        message=f"你的创意「{idea.title}」已获得 {supporters} 位支持者，达成第 {event.payload['milestone']} 个里程碑",
    )
    _tell_all(
        event,
        [member for member in supporter_ids(idea.id) if member != creator],
        kind="idea",
        topic="idea_milestone",
        title=idea.title,
        message=f"你支持的创意「{idea.title}」已获得 {supporters} 位支持者",
    )


@outbox.subscribe(events.IDEA_MERGED, name="c2b.notify_idea_merged")
def _on_idea_merged(event: Event) -> None:
    payload = event.payload
    _tell_all(
        event,
        supporter_ids(event.subject[1]),
        kind="idea",
        topic="idea_decision",
        title=payload["into_title"],
        message=f"你支持的创意「{payload['title']}」与「{payload['into_title']}」合并，你的支持已计入后者",
    )


@outbox.subscribe(events.POLL_OPENED, name="c2b.notify_poll_opened")
def _on_poll_opened(event: Event) -> None:
    if event.payload["idea_id"] is None:
        return  # a poll of the product team's own: members find it in the list
    title = event.payload["title"]
    _tell_all(
        event,
        supporter_ids(event.payload["idea_id"]),
        kind="idea",
        topic="poll_opened",
        title=title,
        message=f"你支持的创意开始样品投票：「{title}」，快来选出你想要的样子",
    )


@outbox.subscribe(events.PRESALE_PUBLISHED, name="c2b.notify_presale_published")
def _on_presale_published(event: Event) -> None:
    campaign = db.session.get_one(Campaign, event.subject[1])
    backers: list[int] = []
    if campaign.idea_id:
        backers += supporter_ids(campaign.idea_id)
    if campaign.poll_id:
        backers += db.session.scalars(select(PollVote.user_id).where(PollVote.poll_id == campaign.poll_id)).all()
    backers = list(dict.fromkeys(backers))
    early: list[int] = []
    if campaign.early_access_at is not None:
        early = [member.id for member in _members(backers) if eligible_early(member, campaign)]
        _tell_all(
            event,
            early,
            kind="order",
            topic="early_access",
            title=campaign.title,
            message=f"你获得「{campaign.title}」优先购买资格：{_local(campaign.early_access_at)} 起可下单，"
            f"{_local(campaign.opens_at)} 正式开售",
        )
    _tell_all(
        event,
        [member for member in backers if member not in set(early)],
        kind="order",
        topic="presale_opened",
        title=campaign.title,
        message=f"你支持的创意开启预售：「{campaign.title}」，{_local(campaign.opens_at)} 开售",
    )


def _members(ids: list[int]) -> list[User]:
    found: list[User] = []
    for start in range(0, len(ids), 500):
        found += db.session.scalars(select(User).where(User.id.in_(ids[start : start + 500]))).all()
    return found


def _buyers(campaign_id: int, statuses: tuple[str, ...]) -> dict[str, list[int]]:
    rows = db.session.execute(
        select(Order.status, Order.user_id).where(Order.campaign_id == campaign_id, Order.status.in_(statuses))
    ).all()
    by_status: dict[str, list[int]] = defaultdict(list)
    for status, user_id in rows:
        by_status[status].append(user_id)
    return by_status


@outbox.subscribe(events.PRESALE_BALANCE_DUE, name="c2b.notify_balance_due")
def _on_balance_due(event: Event) -> None:
    title, due = event.payload["title"], _local(event.payload["balance_due_at"])
    _tell_all(
        event,
        _buyers(event.subject[1], ("deposit_paid",))["deposit_paid"],
        kind="order",
        topic="balance_due",
        title=title,
        message=f"「{title}」已成团，请在 {due} 前支付尾款",
    )


@outbox.subscribe(events.PRESALE_BALANCE_REMINDER, name="c2b.notify_balance_reminder")
def _on_balance_reminder(event: Event) -> None:
    title, due = event.payload["title"], _local(event.payload["balance_due_at"])
    campaign = db.session.get_one(Campaign, event.subject[1])
    fate = "定金将不予退还" if campaign.deposit_policy == "forfeit" else "定金将原路退回，订单取消"
    _tell_all(
        event,
        _buyers(campaign.id, ("deposit_paid",))["deposit_paid"],
        kind="order",
        topic="balance_due",
        title=title,
        message=f"「{title}」尾款将于 {due} 截止；逾期未付，{fate}",
    )


SETTLED_MESSAGES = {
    "confirmed": "预售「{title}」成团成功，订单已确认，我们会尽快安排生产",
    "forfeited": "预售「{title}」尾款已截止，你的订单未付尾款已关闭，定金按规则不予退还",
    "refund_pending": "预售「{title}」{why}，你支付的款项将原路全额退回",
}


@outbox.subscribe(events.PRESALE_SETTLED, name="c2b.notify_presale_settled")
def _on_presale_settled(event: Event) -> None:
    title, succeeded = event.payload["title"], event.payload["succeeded"]
    why = "尾款未付订单已取消" if succeeded else "未达起订量"
    buyers = _buyers(event.subject[1], tuple(SETTLED_MESSAGES))
    for status, member_ids in buyers.items():
        _tell_all(
            event,
            member_ids,
            kind="order",
            topic="presale_result",
            title=title,
            message=SETTLED_MESSAGES[status].format(title=title, why=why),
        )
    if event.payload["idea_id"]:
        told = {member for member_ids in buyers.values() for member in member_ids}
        outcome = "成团成功，即将投产" if succeeded else "未达起订量，本次未能成团"
        _tell_all(
            event,
            [member for member in supporter_ids(event.payload["idea_id"]) if member not in told],
            kind="idea",
            topic="presale_result",
            title=title,
            message=f"你支持的创意预售「{title}」{outcome}",
        )


@outbox.subscribe(events.ORDER_SHIPPED, name="c2b.notify_order_shipped")
def _on_order_shipped(event: Event) -> None:
    payload = event.payload
    notify(
        payload["buyer_id"],
        "order",
        event=event,
        subject=event.subject,
        message=f"你的订单已发货：{payload['carrier']} {payload['tracking_no']}",
        topic="order_shipped",
        title=f"订单 {event.subject[1]}",
    )


@outbox.subscribe(events.REFUND_COMPLETED, name="c2b.notify_refund_completed")
def _on_refund_completed(event: Event) -> None:
    payload = event.payload
    amount = f"{payload['amount_cents'] / 100:.2f} {payload['currency']}"
    notify(
        payload["buyer_id"],
        "order",
        event=event,
        subject=event.subject,
        message=f"退款已完成：{amount} 已原路退回",
        topic="refund_completed",
        title=f"订单 {event.subject[1]}",
    )
