"""What happens in the forum, for whoever reacts (notifications here; points, badges, tiers and stats elsewhere)."""

from kernel.events import declare

POST_PUBLISHED = declare(
    "post_published", fields=("board_id", "mentions"), beneficiary="actor", about="a post became public"
)
POST_REMOVED = declare(
    "post_removed",
    fields=("author_id", "by_author", "status", "reason"),
    about="a post was deleted by its author or removed by a moderator",
)
POST_RESTORED = declare("post_restored", fields=("author_id", "reason"), about="a removed post came back")
REPLY_CREATED = declare(
    "reply_created",
    fields=("post_id", "post_author_id", "floor", "quoted_author_id", "mentions"),
    beneficiary="actor",
    about="a reply (楼层) was published under a post",
)
REPLY_REMOVED = declare(
    "reply_removed",
    fields=("post_id", "author_id", "by_author", "status", "reason"),
    about="a reply was deleted by its author or removed by a moderator",
)
REPLY_RESTORED = declare("reply_restored", fields=("post_id", "author_id", "reason"), about="a removed reply came back")
LIKE_RECEIVED = declare(
    "like_received",
    fields=("recipient_id", "post_id"),
    beneficiary="recipient_id",
    about="a member liked someone's post or reply",
)
LIKE_WITHDRAWN = declare(
    "like_withdrawn", fields=("recipient_id", "post_id"), about="a member took back a like on a post"
)
APPLAUSE_RECEIVED = declare(
    "applause_received",
    fields=("recipient_id", "post_id"),
    beneficiary="recipient_id",
    about="a member applauded (拍一拍) someone's reply",
)
