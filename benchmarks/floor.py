"""The floor of a signed-in write on this stack, served beside the API during the bench's bursts.

The application itself (its token and session checks, unit of work, hooks and access line) with one more route that
does the least a support must: check the member's session, add the support row and count it in one statement, commit
and answer JSON. No rule, no event, no presenter. A support's distance from this floor is the application's own work;
the floor's distance from bare Flask is the stack's (Flask, SQLAlchemy, psycopg and PostgreSQL on the same cores).
"""

from flask_jwt_extended import current_user, verify_jwt_in_request
from sqlalchemy import text

from api import create_app
from kernel.db import db
from kernel.unit_of_work import transaction

app = create_app()

SUPPORT_AND_COUNT = text(
    """
    WITH added AS (
        INSERT INTO idea_supports (idea_id, user_id, verified, supporter_level, created_at)
        VALUES (:idea_id, :member_id, true, 1, timezone('utc', now()))
        ON CONFLICT DO NOTHING
        RETURNING idea_id
    )
    UPDATE ideas SET supporter_count = supporter_count + 1 FROM added WHERE ideas.id = added.idea_id
    RETURNING ideas.supporter_count
    """
)


@app.put("/floor/ideas/<int:idea_id>/support")
def support(idea_id: int) -> dict:
    with transaction():
        verify_jwt_in_request()
        count = db.session.execute(SUPPORT_AND_COUNT, {"idea_id": idea_id, "member_id": current_user.id}).scalar()
    return {"supporter_count": count}
