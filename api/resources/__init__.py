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

# The views whose pages are post_page's: a signed-out reader's repeat is answered before Flask (api/anonymous_pages.py).
FEED_PAGE_ENDPOINTS = ("posts.list_posts", "posts.user_posts", "boards.board_posts")
