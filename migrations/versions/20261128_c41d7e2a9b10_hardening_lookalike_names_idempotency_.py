"""hardening: look-alike username skeletons, idempotency keys with request fingerprints

Revision ID: c41d7e2a9b10
Revises: 5eaf0d46b3de
Create Date: 2026-11-28 11:00:00

"""
from alembic import op
import sqlalchemy as sa

import kernel.db


revision = 'c41d7e2a9b10'
down_revision = '5eaf0d46b3de'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_skeleton', sa.String(length=160), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_username_skeleton'), ['username_skeleton'], unique=False)

    # Existing members get their skeleton now, so new look-alikes are refused from the first request on.
    from forum.names import skeleton

    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String),
                     sa.column('username_skeleton', sa.String))
    for user_id, username in conn.execute(sa.select(users.c.id, users.c.username)).all():
        conn.execute(users.update().where(users.c.id == user_id).values(username_skeleton=skeleton(username)))

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=80), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'scope', 'key', name='uq_idempotency_keys_user_scope_key')
    )


def downgrade():
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_skeleton'))
        batch_op.drop_column('username_skeleton')
