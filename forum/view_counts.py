"""View counts are buffered in the store and flushed to the database in batches.

A view is one store increment instead of a row write on the hottest table; when the store is down, the view is
written straight to the database (slower, still counted).
"""

from sqlalchemy import update

from forum.posts import Post
from kernel.db import db
from kernel.store import Store, StoreUnavailable, current_store
from kernel.unit_of_work import transaction

DIRTY = "views:dirty"
FLUSH_EVERY = 50  # a post's buffer is flushed inline once it holds this many views


def _key(post_id: int) -> str:
    return f"views:post:{post_id}"


def buffered(store: Store, post_id: int) -> int | None:
    """One view into the store's buffer (one round trip): how many views it now holds for the post, or None when the
    store is down and the view still has to be written."""
    try:
        return store.incr_marking(_key(post_id), DIRTY, str(post_id))
    except StoreUnavailable:
        return None


def needs_database(pending: int | None) -> bool:
    """Whether a buffered view still needs the database: its buffer is due to be flushed, or it was not buffered."""
    return pending is None or pending >= FLUSH_EVERY


def settle(post_id: int, pending: int | None) -> None:
    """What a buffered view still needs from the database (see needs_database), inside the caller's transaction."""
    if pending is None:
        write_through(post_id)
    elif pending >= FLUSH_EVERY:
        flush_one(post_id)


def record_view(post_id: int) -> int:
    """Count one view; returns how many views the post's row did not hold when this request began (buffered, or
    just flushed by this view), so the page can show the true count."""
    pending = buffered(current_store(), post_id)
    settle(post_id, pending)
    return pending or 0


def write_through(post_id: int) -> None:
    """A view counted straight into the post's row, when the store is down."""
    db.session.execute(update(Post).where(Post.id == post_id).values(view_count=Post.view_count + 1))


def flush_one(post_id: int) -> int:
    count = int(current_store().getdel(_key(post_id)) or 0)
    if count:
        db.session.execute(update(Post).where(Post.id == post_id).values(view_count=Post.view_count + count))
    return count


def flush_views(batch: int = 500) -> int:
    """Move buffered views into the database; returns how many views were written."""
    store = current_store()
    written = 0
    while True:
        post_ids = store.spop(DIRTY, batch)
        if not post_ids:
            break
        with transaction():
            for post_id in post_ids:
                written += flush_one(int(post_id))
    return written
