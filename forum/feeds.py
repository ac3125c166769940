"""Post lists: global and per board, sorted hot | latest | featured, filtered by tag or keyword."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from forum.posts import Post, PostTag, find_tag, shown
from kernel.pagination import Page, keyset_page
from kernel.search import substring_match

SORTS = ("hot", "latest", "featured")


def list_posts(
    *,
    sort: str = "latest",
    board_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    author_id: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page:
    query = select(Post).options(*shown()).where(Post.status == "published")
    keys: list[InstrumentedAttribute[Any]] = []
    if board_id is not None:
        # Pinned posts lead a board's list, whatever the sort.
        query = query.where(Post.board_id == board_id)
        keys.append(Post.pinned)
    if author_id is not None:
        query = query.where(Post.author_id == author_id)
    if tag:
        found = find_tag(tag)
        if found is None:
            return Page([], None)
        query = query.where(Post.id.in_(select(PostTag.post_id).where(PostTag.tag_id == found.id)))
    if q:
        # Substring match, so Chinese words match inside sentences without a tokenizer.
        query = query.where(substring_match(Post.id, (Post.title, Post.body), "posts_search", q))
    if sort == "hot":
        keys += [Post.hot_score, Post.id]
    elif sort == "featured":
        query = query.where(Post.featured.is_(True))
        keys += [Post.featured_at, Post.id]
    else:
        keys += [Post.created_at, Post.id]
    return keyset_page(query, keys, limit, cursor)
