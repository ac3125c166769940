"""Many threads against PostgreSQL, then the invariants: floors unique and dense, counts equal rows."""

from sqlalchemy import func, select

from kernel.db import db
from tests.conftest import postgres_only
from tests.support import run_concurrently


@postgres_only
def test_concurrent_replies_get_unique_dense_floors(app, client, members, forum):
    board = forum.board()
    repliers = [members.create() for _ in range(24)]
    post = forum.post(repliers[0], board["id"])
    statuses = []

    def reply_as(member):
        def job(c):
            statuses.append(
                c.post(
                    f"/api/v1/posts/{post['id']}/replies", json={"body": "沙发?"}, headers=member.headers
                ).status_code
            )

        return job

    run_concurrently(app, [reply_as(m) for m in repliers])
    assert statuses == [201] * 24
    with app.app_context():
        from forum.posts import Post
        from forum.replies import Reply

        floors = sorted(db.session.scalars(select(Reply.floor).where(Reply.post_id == post["id"])))
        assert floors == list(range(1, 25))
        stored = db.session.get(Post, post["id"])
        assert stored.reply_count == 24 and stored.last_floor == 24


@postgres_only
def test_concurrent_likes_and_applause_keep_counts_exact(app, client, members, forum):
    board = forum.board()
    author = members.create()
    fans = [members.create() for _ in range(15)]
    post = forum.post(author, board["id"])
    reply = forum.reply(author, post["id"])
    jobs = []
    for fan in fans:  # every fan fires each request twice at once: duplicates must not count
        for _ in range(2):
            jobs.append(lambda c, h=fan.headers: c.put(f"/api/v1/posts/{post['id']}/like", headers=h))
            jobs.append(lambda c, h=fan.headers: c.put(f"/api/v1/replies/{reply['id']}/applause", headers=h))
    run_concurrently(app, jobs)
    # Half the fans withdraw their like, twice each, concurrently.
    run_concurrently(
        app,
        [
            lambda c, h=fan.headers: c.delete(f"/api/v1/posts/{post['id']}/like", headers=h)
            for fan in fans[:7]
            for _ in range(2)
        ],
    )
    with app.app_context():
        from forum.posts import Post
        from forum.reactions import PostLike, ReplyApplause
        from forum.replies import Reply

        likes = db.session.scalar(select(func.count()).where(PostLike.post_id == post["id"]))
        applause = db.session.scalar(select(func.count()).where(ReplyApplause.reply_id == reply["id"]))
        assert likes == 8 and db.session.get(Post, post["id"]).like_count == 8
        assert applause == 15 and db.session.get(Reply, reply["id"]).applause_count == 15
        from forum.notifications import Notification

        applause_notes = db.session.scalar(
            select(func.count()).where(Notification.user_id == author.id, Notification.kind == "applause")
        )
        assert applause_notes == 15
