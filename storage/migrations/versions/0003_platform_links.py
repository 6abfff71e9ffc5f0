"""platform links: longer ids, private link tokens, send windows

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


import storage.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('private_links',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('used_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('private_thread_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.ForeignKeyConstraint(['private_thread_id'], ['threads.id'], ),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ),
    sa.PrimaryKeyConstraint('token')
    )
    with op.batch_alter_table('private_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_private_links_thread_id'), ['thread_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private_link_token', sa.String(length=64), nullable=True))
        batch_op.alter_column('external_id',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=160),
               existing_nullable=False)
        batch_op.alter_column('in_reply_to_external_id',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=160),
               existing_nullable=True)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private_link', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('source_created_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.alter_column('target_external_id',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=160),
               existing_nullable=False)

    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked_thread_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_threads_linked_thread_id', 'threads', ['linked_thread_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_constraint('fk_threads_linked_thread_id', type_='foreignkey')
        batch_op.drop_column('linked_thread_id')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('target_external_id',
               existing_type=sa.String(length=160),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
        batch_op.drop_column('source_created_at')
        batch_op.drop_column('private_link')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('in_reply_to_external_id',
               existing_type=sa.String(length=160),
               type_=sa.VARCHAR(length=64),
               existing_nullable=True)
        batch_op.alter_column('external_id',
               existing_type=sa.String(length=160),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
        batch_op.drop_column('private_link_token')

    with op.batch_alter_table('private_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_private_links_thread_id'))

    op.drop_table('private_links')
