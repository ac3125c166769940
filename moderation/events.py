"""What moderators do that others react to."""

from kernel.events import declare

POST_FEATURED = declare(
    "post_featured", fields=("author_id",), beneficiary="author_id", about="a moderator featured (加精) a post"
)
POST_UNFEATURED = declare("post_unfeatured", fields=("author_id",), about="a moderator withdrew a post's feature")
