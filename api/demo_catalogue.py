"""Demo badges, ideas, a sample poll and a pre-sale in progress, so a newcomer sees the whole C2B path.

Idempotent: each piece is created once, found by its slug or title afterwards.
"""

import io
from datetime import timedelta

from flask import current_app
from PIL import Image
from sqlalchemy import select

from c2b import ideas, polls, presale
from c2b.ideas import Idea
from c2b.polls import SamplePoll
from c2b.presale import Campaign
from economy import badges
from economy.badges import Badge
from forum import posts
from forum.media import Media, store_upload
from forum.members import User
from kernel import clock
from kernel.db import db
from kernel.unit_of_work import transactional

DEMO_BADGES = [
    # slug, name, description, tier, category, metric, threshold
    ("first-post", "初来乍到", "发布第一篇帖子", "bronze", "community", "post_published", 1),
    ("chatterbox", "热心回复", "发表 50 条回复", "bronze", "community", "reply_created", 50),
    ("checkin-7", "连签七天", "连续签到 7 天", "bronze", "community", "checkin_streak", 7),
    ("liked-100", "人气作者", "获得 100 个赞", "silver", "creation", "like_received", 100),
    ("applause-20", "拍案叫绝", "回复被拍一拍 20 次", "silver", "creation", "applause_received", 20),
    ("featured-1", "精华作者", "帖子被设为精华", "silver", "creation", "post_featured", 1),
    ("checkin-30", "月度全勤", "连续签到 30 天", "silver", "community", "checkin_streak", 30),
    ("level-5", "资深花粉", "达到 5 级", "gold", "community", "level", 5),
    ("idea-milestone", "创意先锋", "你的创意达到支持里程碑", "gold", "ideas", "idea_milestone_reached", 1),
    ("idea-approved", "梦想成真", "你的创意被产品团队采纳", "gold", "ideas", "idea_approved", 1),
    ("officer", "体验官", "完成一次新品体验官活动", "gold", "operations", "campaign_completed", 1),
    ("early-fan", "元老花粉", "社区内测期间加入（由运营颁发）", "gold", "community", None, None),
]

DEMO_IDEAS = [
    # title, creator, category, state the demo shows, description
    (
        "中国传统节日拼装系列：端午龙舟",
        "xiaohong",
        "building_sets",
        "approved",
        "以端午龙舟为主题的拼装套装，可与中秋、春节模块互相拼接，附带可动船桨与鼓手人仔。",
    ),
    (
        "城市街景模块：街角咖啡店",
        "xiaoming",
        "building_sets",
        "supporting",
        "可与其他街景模块拼接的咖啡店，带室内灯光和可打开的遮阳棚，适合做城市场景。",
    ),
    (
        "可收纳零件的桌面分拣盒",
        "alice",
        "accessories",
        "supporting",
        "按颜色和尺寸分格的桌面分拣盒，盖子可以当搭建底板，适合大型作品的零件整理。",
    ),
    (
        "熊猫主题人仔系列",
        "alice",
        "figures",
        "pending_review",
        "十二款不同职业的熊猫人仔：厨师、宇航员、医生……每款带专属配件和展示底座。",
    ),
    (
        "纯数字藏品盲盒",
        "xiaoming",
        "digital",
        "rejected",
        "只存在于线上的数字藏品盲盒，购买后在社区主页展示，没有实体产品。",
    ),
]


def _demo_image(owner: User, color: tuple[int, int, int]) -> Media:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(buffer, "PNG")
    storage = current_app.extensions["media_storage"]
    return store_upload(owner, buffer.getvalue(), storage, current_app.config["MEDIA_MAX_PIXELS"])


@transactional
def seed_badges(people: dict[str, User]) -> None:
    for slug, name, description, tier, category, metric, threshold in DEMO_BADGES:
        if db.session.scalar(select(Badge.id).where(Badge.slug == slug)) is None:
            badges.create_badge(
                people["operator"],
                slug=slug,
                name=name,
                description=description,
                tier=tier,
                category=category,
                rule_metric=metric,
                rule_threshold=threshold,
                reward_points=10 if tier == "bronze" else 50,
            )
    early = db.session.execute(select(Badge).where(Badge.slug == "early-fan")).scalar_one()
    for name in ("alice", "xiaoming", "xiaohong"):
        if not any(a.badge_id == early.id for a in badges.earned(people[name].id)):
            badges.award_manually(people["operator"], early.id, people[name].id, "社区内测期间加入")


@transactional
def seed_ideas(people: dict[str, User]) -> None:
    colors = [(200, 40, 40), (40, 120, 200), (60, 160, 80), (20, 20, 20), (160, 80, 200)]
    supporters = [people[n] for n in ("alice", "xiaoming", "xiaohong", "moderator", "operator")]
    for (title, creator, category, shown, description), color in zip(DEMO_IDEAS, colors, strict=True):
        if db.session.scalar(select(Idea.id).where(Idea.title == title)) is not None:
            continue
        author = people[creator]
        image = _demo_image(author, color)
        idea = ideas.submit(author, title=title, description=description, category=category, image_ids=[image.id])
        if shown == "rejected":
            ideas.reject(idea, "社区只做实体产品，数字藏品不在范围内")
        elif shown != "pending_review":
            ideas.publish(idea)
            for number, member in enumerate(m for m in supporters if m.id != author.id):
                ideas.support(member, idea.id, would_buy=6 + number, price_cents=19900 + 5000 * number)
        if shown == "approved":
            # The demo stands for an idea that reached 10,000 supporters and passed the review round.
            idea.status = "qualified"
            db.session.flush()
            ideas.decide(people["product"], idea.id, "start_review", "进入第一轮评审")
            ideas.decide(people["product"], idea.id, "approve", "评审通过：计划明年端午前上市，先做样品投票")


@transactional
def seed_presale(people: dict[str, User]) -> None:
    product = people["product"]
    idea = db.session.execute(select(Idea).where(Idea.title == DEMO_IDEAS[0][0])).scalar_one()
    now = clock.now()
    poll = db.session.scalar(select(SamplePoll).where(SamplePoll.idea_id == idea.id))
    if poll is None:
        poll = polls.create_poll(
            product,
            title="龙舟套装选哪个配色？",
            description="投票选出量产配色",
            closes_at=now + timedelta(days=14),
            idea_id=idea.id,
            options=[{"name": "朱红金边"}, {"name": "青绿山水"}, {"name": "墨黑描金"}],
        )
        for member, choice in zip((people["alice"], people["xiaoming"], people["xiaohong"]), (0, 0, 1), strict=True):
            polls.vote(member, poll.id, poll.options[choice].id, now)
    if db.session.scalar(select(Campaign.id).where(Campaign.idea_id == idea.id)) is None:
        campaign = presale.create_campaign(
            product,
            title="端午龙舟拼装套装 首发预售",
            description="定金 50 元，满 200 套开产并开放尾款；未成团全额退款，逾期未付尾款定金不退。",
            idea_id=idea.id,
            poll_id=poll.id,
            unit_price_cents=39900,
            deposit_cents=5000,
            moq=200,
            stock_cap=2000,
            per_member_limit=3,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=20),
            balance_due_at=now + timedelta(days=27),
            deposit_policy="forfeit",
            options=[
                {"sku": "DRAGON-RED", "name": "朱红金边"},
                {"sku": "DRAGON-GREEN", "name": "青绿山水", "price_cents": 42900, "stock_cap": 500},
            ],
        )
        presale.publish(product, campaign.id)
        for member, option in ((people["alice"], 0), (people["xiaoming"], 1)):
            presale.place_order(
                member, campaign.id, campaign.options[option].id, 1, f"demo-{member.username}", "上海", clock.now()
            )


HELD_POST_TITLE = "第一次来，晒一下我的星舰"
OFFICER_CAMPAIGN_TITLE = "龙舟套装体验官招募"


@transactional
def seed_console(people: dict[str, User]) -> None:
    """What the staff console shows on first start: a held post, a report, spent points, an experience-officer
    campaign with applicants, activity tiers."""
    from economy import checkin, mall
    from economy.mall import RewardItem
    from forum.boards import Board
    from forum.posts import Post
    from moderation import queue, reports
    from operations import campaigns, tiers
    from operations.campaigns import Campaign as OfficerCampaign

    now = clock.now()
    if db.session.scalar(select(Post.id).where(Post.title == HELD_POST_TITLE)) is None:
        board = db.session.execute(select(Board).where(Board.slug == "showcase")).scalar_one()
        held = posts.create_post(
            people["xiaohong"],
            board_id=board.id,
            title=HELD_POST_TITLE,
            body="花了一个月搭完，欢迎拍砖！",
            tags=["星舰"],
            status="pending_review",
        )
        queue.enqueue("post", held.id, reason="new_member", author_id=held.author_id, board_id=board.id)
        target = db.session.scalar(select(Post.id).where(Post.title == "零件缺了一块怎么办？"))
        if target is not None:
            reports.file_report(people["alice"], "post", target, "spam", "和官方客服渠道重复")
        sticker = db.session.scalar(select(RewardItem).where(RewardItem.name == "品牌贴纸套装"))
        for name in ("alice", "xiaoming"):
            checkin.check_in(people[name], now)
            if sticker is not None:
                mall.redeem(people[name], sticker.id, 1, f"demo-sticker-{name}", now)
    if db.session.scalar(select(OfficerCampaign.id).where(OfficerCampaign.title == OFFICER_CAMPAIGN_TITLE)) is None:
        campaign = campaigns.create(
            people["operator"],
            title=OFFICER_CAMPAIGN_TITLE,
            product_name="端午龙舟拼装套装",
            description="抢先体验样品，连续打卡 7 天并分享体验。",
            questions=[],
            audience={},
            slots=2,
            checkin_days=7,
            apply_closes_at=now + timedelta(days=7),
        )
        for name in ("alice", "xiaoming", "xiaohong"):
            campaigns.apply(people[name], campaign.id, {}, now)
    # The second demo idea stands for one that reached its support goal: it waits in the product team's review.
    waiting = db.session.execute(select(Idea).where(Idea.title == DEMO_IDEAS[1][0])).scalar_one_or_none()
    if waiting is not None and waiting.status == "supporting":
        waiting.status, waiting.qualified_at, waiting.deadline_at = "qualified", now, None
    tiers.recompute(now)
