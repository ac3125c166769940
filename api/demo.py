"""Idempotent demo data so `make run` shows a living community."""

from sqlalchemy import select

from api import demo_catalogue
from forum import boards, posts, reactions, replies
from forum.boards import Board
from forum.members import User
from forum.names import canonical
from forum.posts import Post
from kernel import clock
from kernel.db import db
from kernel.unit_of_work import transactional

DEMO_PASSWORD = "demo-password"
DEMO_MEMBERS = [
    ("admin", "社区管理员", "admin"),
    ("moderator", "版主小花", "moderator"),
    ("operator", "运营阿杰", "operator"),
    ("product", "产品经理Lee", "product"),
    ("alice", "Alice", "member"),
    ("xiaoming", "小明", "member"),
    ("xiaohong", "小红", "member"),
]
DEMO_BOARDS = [
    ("announcements", "官方公告", "社区公告与活动通知", True),
    ("showcase", "作品秀", "晒出你的作品和搭建", False),
    ("ideas-talk", "创意讨论", "聊聊你希望我们做的新产品", False),
    ("help", "使用求助", "产品使用问题互助", False),
]
DEMO_POSTS = [
    (
        "announcements",
        "admin",
        "欢迎来到品牌社区！",
        "这里是大家交流作品、提出创意、参与新品预售的地方。\n\n请先阅读 **社区规范**，友善发言。",
        ["公告"],
    ),
    (
        "showcase",
        "alice",
        "My first MOC: a tiny tea house",
        "Took me two weekends. 用了 **312** 块零件，窗户是透明件拼的。Feedback welcome @xiaoming!",
        ["MOC", "建筑"],
    ),
    ("showcase", "xiaoming", "周末搭的城市街景", "街角咖啡店 + 公交站，灯光用了 LED 套件。", ["街景", "灯光"]),
    (
        "ideas-talk",
        "xiaohong",
        "希望出一套中国传统节日系列",
        "比如端午龙舟、中秋赏月，做成可以互相拼接的模块。",
        ["创意", "节日"],
    ),
    ("help", "xiaoming", "零件缺了一块怎么办？", "刚拆的套装少了一块 2x4 砖，请问怎么申请补件？", ["补件"]),
]


def _member(username: str, display_name: str, role: str) -> tuple[User, bool]:
    from forum import members

    user = db.session.scalar(select(User).where(User.username_key == canonical(username)))
    if user is not None:
        return user, False
    user = members.register(username, DEMO_PASSWORD, display_name)
    user.role = role
    return user, True


def seed_demo() -> int:
    """Each step is its own unit of work, so a later step sees what the earlier ones committed and reacted to."""
    people, created = _seed_members()
    created += _seed_forum(people)
    _seed_economy(people)
    demo_catalogue.seed_badges(people)
    demo_catalogue.seed_ideas(people)
    demo_catalogue.seed_presale(people)
    demo_catalogue.seed_console(people)
    _feature_showcase()
    return created


@transactional
def _seed_members() -> tuple[dict[str, User], int]:
    created = 0
    people: dict[str, User] = {}
    for username, display_name, role in DEMO_MEMBERS:
        people[username], new = _member(username, display_name, role)
        created += new
    return people, created


@transactional
def _seed_forum(people: dict[str, User]) -> int:
    created = 0
    admin = people["admin"]
    board_ids: dict[str, int] = {}
    for slug, name, description, staff_only in DEMO_BOARDS:
        board = db.session.scalar(select(Board).where(Board.slug == slug))
        if board is None:
            board = boards.create_board(
                admin, slug=slug, name=name, description=description, position=len(board_ids), staff_only=staff_only
            )
            created += 1
        board_ids[slug] = board.id
    boards.assign_moderator(admin, board_ids["showcase"], people["moderator"].id)

    for slug, author, title, body, tags in DEMO_POSTS:
        if db.session.scalar(select(Post.id).where(Post.title == title)) is not None:
            continue
        post = posts.create_post(people[author], board_id=board_ids[slug], title=title, body=body, tags=tags)
        created += 1
        if slug == "showcase":
            first = replies.create_reply(people["xiaohong"], post.id, "太好看了！窗户的做法求教程 🙏")
            replies.create_reply(people["moderator"], post.id, "同问，已加精候选。", quote_reply_id=first.id)
            for fan in ("xiaohong", "moderator", "operator"):
                reactions.like_post(people[fan], post.id)
            reactions.applaud_reply(people["alice"] if author != "alice" else people["xiaoming"], first.id)
            reactions.favorite_post(people["xiaohong"], post.id)
    return created


@transactional
def _feature_showcase() -> None:
    featured = db.session.scalar(select(Post).where(Post.title == DEMO_POSTS[1][2]))
    if featured is not None and not featured.featured:
        featured.featured, featured.featured_at = True, clock.now()
        posts.refresh_hot_score(featured)


@transactional
def _seed_economy(people: dict[str, User]) -> None:
    from datetime import timedelta

    from economy import grants, lottery, mall
    from economy.lottery import Lottery
    from economy.mall import RewardItem

    now = clock.now()
    if db.session.scalar(select(RewardItem.id).limit(1)) is None:
        mall.create_item(
            people["operator"],
            name="品牌贴纸套装",
            description="社区限定贴纸 6 枚",
            price_points=50,
            stock=500,
            per_member_limit=2,
        )
        mall.create_item(
            people["operator"],
            name="定制马克杯",
            description="印有社区 logo",
            price_points=300,
            stock=50,
            per_member_limit=1,
            min_level=2,
        )
        mall.create_item(
            people["operator"],
            name="新品体验券",
            description="新品上市前抢先体验",
            price_points=1000,
            stock=10,
            per_member_limit=1,
            min_level=3,
        )
    if db.session.scalar(select(Lottery.id).limit(1)) is None:
        lottery.create_lottery(
            people["operator"],
            "周末幸运抽奖",
            20,
            now,
            now + timedelta(days=30),
            [{"name": "限定人仔", "weight": 5, "stock": 10}, {"name": "贴纸一张", "weight": 30, "stock": 300}],
            miss_weight=65,
        )
    for name in ("alice", "xiaoming", "xiaohong"):
        grants.grant(people["admin"], people[name].id, 200, "社区内测感谢", f"demo-welcome-{name}")
