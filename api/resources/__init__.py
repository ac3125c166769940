"""HTTP resources: one blueprint per area, registered (and documented) in this order."""

from api.resources import (
    addresses,
    auth,
    badges,
    boards,
    economy,
    health,
    ideas,
    jobs,
    media,
    members,
    metrics,
    moderation,
    notifications,
    operations,
    posts,
    presale,
    privacy,
    replies,
    rewards,
    wechat_push,
)

BLUEPRINTS = (
    health.blp,
    metrics.blp,
    auth.blp,
    members.blp,
    boards.blp,
    posts.blp,
    replies.blp,
    media.blp,
    notifications.blp,
    moderation.blp,
    economy.blp,
    rewards.blp,
    badges.blp,
    ideas.blp,
    ideas.me_blp,
    ideas.rounds_blp,
    presale.blp,
    addresses.blp,
    privacy.blp,
    operations.blp,
    jobs.blp,
    wechat_push.blp,
)

# The views whose pages are cached for signed-out readers, whose repeats are answered before Flask
# (api/anonymous_pages.py), each with what must still happen when it is: a post's view counts.
CACHED_PAGES = {
    "posts.list_posts": None,
    "posts.user_posts": None,
    "boards.board_posts": None,
    "posts.get_post": posts.count_cached_view,
}
