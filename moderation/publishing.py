"""The way member text enters the forum: screened by the word filter, held for review when rules say so."""

from flask import current_app
from sqlalchemy import func, select

from c2b import ideas
from c2b.ideas import Idea, IdeaComment, IdeaUpdate
from forum import members, posts, replies
from forum.members import User
from forum.permissions import ensure_can_contribute
from forum.posts import Post
from forum.replies import Reply
from kernel import clock
from kernel.db import db
from kernel.errors import DependencyDown
from moderation import content_security, queue, words


def _screen_fields(**fields: str | None) -> dict[str, words.Screening]:
    screenings = {name: words.screen(text) for name, text in fields.items() if text is not None}
    words.refuse_blocked(screenings)
    return screenings


def _review_terms(screenings: dict[str, words.Screening]) -> list[str]:
    return sorted({term for s in screenings.values() for term in s.review})


def _wechat_hold(author: User, scene: str, **fields: str | None) -> str | None:
    """WeChat's check after the local filter: risky is refused here, review or an outage holds (the reason)."""
    verdict = content_security.check_text(author, scene, **fields)
    content_security.refuse_risky(verdict)
    return content_security.hold_reason(verdict)


def needs_new_member_review(author: User) -> bool:
    """Members below the trust level have their first few topics checked before they appear."""
    cfg = current_app.config
    if author.is_staff or author.level >= cfg["NEW_MEMBER_LEVEL"] or cfg["NEW_MEMBER_REVIEW_POSTS"] <= 0:
        return False
    earlier = db.session.scalar(
        select(func.count(Post.id)).where(Post.author_id == author.id, Post.published_at.is_not(None))
    )
    return earlier < cfg["NEW_MEMBER_REVIEW_POSTS"]


def submit_post(
    author: User,
    *,
    board_id: int,
    title: str,
    body: str,
    tags: list[str] | None = None,
    image_ids: list[int] | None = None,
) -> Post:
    ensure_can_contribute(author, clock.now(), "post")
    screened = _screen_fields(title=title, body=body, tags=" ".join(tags or []))
    held = _review_terms(screened)
    wechat = _wechat_hold(author, "forum", title=screened["title"].text, body=screened["body"].text)
    reason = "filter" if held else wechat or ("new_member" if needs_new_member_review(author) else None)
    post = posts.create_post(
        author,
        board_id=board_id,
        title=screened["title"].text,
        body=screened["body"].text,
        tags=tags,
        image_ids=image_ids,
        status="pending_review" if reason else "published",
    )
    if reason:
        queue.enqueue("post", post.id, reason=reason, author_id=author.id, board_id=post.board_id, terms=held)
    return post


def edit_post(
    editor: User,
    post_id: int,
    *,
    title: str | None = None,
    body: str | None = None,
    tags: list[str] | None = None,
    image_ids: list[int] | None = None,
) -> Post:
    screened = _screen_fields(title=title, body=body, tags=" ".join(tags) if tags is not None else None)
    wechat = _wechat_hold(
        editor,
        "forum",
        title=screened["title"].text if title is not None else None,
        body=screened["body"].text if body is not None else None,
    )
    post = posts.update_post(
        editor,
        post_id,
        title=screened["title"].text if title is not None else None,
        body=screened["body"].text if body is not None else None,
        tags=tags,
        image_ids=image_ids,
    )
    held = _review_terms(screened)
    if held or wechat:  # the edit stays visible; a moderator looks at it
        reason = "filter" if held else wechat or "filter"
        queue.enqueue("post", post.id, reason=reason, author_id=editor.id, board_id=post.board_id, terms=held)
    return post


def submit_reply(author: User, post_id: int, body: str, quote_reply_id: int | None = None) -> Reply:
    ensure_can_contribute(author, clock.now(), "reply")
    screened = _screen_fields(body=body)
    held = _review_terms(screened)
    reason = "filter" if held else _wechat_hold(author, "comment", body=screened["body"].text)
    reply = replies.create_reply(
        author, post_id, screened["body"].text, quote_reply_id, status="pending_review" if reason else "published"
    )
    if reason:
        post = db.session.get_one(Post, reply.post_id)
        queue.enqueue("reply", reply.id, reason=reason, author_id=author.id, board_id=post.board_id, terms=held)
    return reply


def edit_reply(editor: User, reply_id: int, body: str) -> Reply:
    screened = _screen_fields(body=body)
    wechat = _wechat_hold(editor, "comment", body=screened["body"].text)
    reply = replies.update_reply(editor, reply_id, screened["body"].text)
    held = _review_terms(screened)
    if held or wechat:
        post = db.session.get_one(Post, reply.post_id)
        reason = "filter" if held else wechat or "filter"
        queue.enqueue("reply", reply.id, reason=reason, author_id=editor.id, board_id=post.board_id, terms=held)
    return reply


def submit_idea(creator: User, *, title: str, description: str, category: str, image_ids: list[int]) -> Idea:
    """Every idea waits for a moderator before it is public; listed words are masked, blocked or flagged, and
    WeChat's risky verdict refuses it at once."""
    screened = _screen_fields(title=title, description=description)
    _wechat_hold(creator, "forum", title=screened["title"].text, description=screened["description"].text)
    idea = ideas.submit(
        creator,
        title=screened["title"].text,
        description=screened["description"].text,
        category=category,
        image_ids=image_ids,
    )
    queue.enqueue("idea", idea.id, reason="idea", author_id=creator.id, terms=_review_terms(screened))
    return idea


def edit_idea(creator: User, idea_id: int, **changes) -> Idea:
    screened = _screen_fields(title=changes.get("title"), description=changes.get("description"))
    for field, screening in screened.items():
        changes[field] = screening.text
    _wechat_hold(creator, "forum", title=changes.get("title"), description=changes.get("description"))
    was_rejected = ideas.get_idea(idea_id).status == "rejected"
    idea = ideas.edit(creator, idea_id, **changes)
    if was_rejected:  # the edit resubmits it
        queue.enqueue(
            "idea", idea.id, reason="idea", author_id=creator.id, terms=_review_terms(screened), resubmitted=True
        )
    return idea


def submit_idea_comment(author: User, idea_id: int, body: str) -> IdeaComment:
    """Idea comments pass the same word filter, WeChat check and review queue as replies."""
    ensure_can_contribute(author, clock.now(), "comment")
    screened = _screen_fields(body=body)
    held = _review_terms(screened)
    reason = "filter" if held else _wechat_hold(author, "comment", body=screened["body"].text)
    comment = ideas.add_comment(
        author, idea_id, screened["body"].text, status="pending_review" if reason else "published"
    )
    if reason:
        queue.enqueue("idea_comment", comment.id, reason=reason, author_id=author.id, terms=held)
    return comment


def submit_idea_update(creator: User, idea_id: int, title: str, body: str) -> IdeaUpdate:
    """A creator's update passes the filter too; supporters hear of it once it is published."""
    ensure_can_contribute(creator, clock.now())
    screened = _screen_fields(title=title, body=body)
    held = _review_terms(screened)
    reason = (
        "filter" if held else _wechat_hold(creator, "forum", title=screened["title"].text, body=screened["body"].text)
    )
    update_row = ideas.add_update(
        creator,
        idea_id,
        screened["title"].text,
        screened["body"].text,
        status="pending_review" if reason else "published",
    )
    if reason:
        queue.enqueue("idea_update", update_row.id, reason=reason, author_id=creator.id, terms=held)
    return update_row


# Profiles cannot wait in a queue: any listed word in a name is refused; a bio is masked unless blocked.


def _refuse_in_names(**names: str | None) -> None:
    hits = {}
    for field, text in names.items():
        if text is None:
            continue
        s = words.screen(text)
        terms = s.blocked + s.review + s.masked
        if terms:
            hits[field] = terms
    if hits:
        words.refuse_blocked({f: words.Screening(text="", blocked=t) for f, t in hits.items()})


def register(username: str, password: str, display_name: str | None = None) -> User:
    _refuse_in_names(username=username, display_name=display_name)
    return members.register(username, password, display_name)


def update_profile(
    user: User, *, display_name: str | None = None, bio: str | None = None, region: str | None = None
) -> User:
    _refuse_in_names(display_name=display_name, region=region)
    if bio is not None:
        bio = _screen_fields(bio=bio)["bio"].text
    verdict = content_security.check_text(user, "profile", display_name=display_name, bio=bio, region=region)
    # A profile cannot wait in a queue: what WeChat would hold for review is refused like what it calls risky,
    # and a profile WeChat could not check is not taken now.
    content_security.refuse_risky(content_security.RISKY if verdict == content_security.REVIEW else verdict)
    if verdict == content_security.UNAVAILABLE:
        raise DependencyDown("the profile could not be checked, try again", code="content_check_unavailable")
    return members.update_profile(user, display_name=display_name, bio=bio, region=region)
