"""e-mail alerts on any search (issue 21)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00

An alert saves a search (text, filters, commune and radius, mode) for an address, without an account: confirmed
by a one-time link (its token stored hashed), removed by the link every alert e-mail carries.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('search_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('query', sa.String(length=1500), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('radius_km', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('exact', sa.Boolean(), nullable=False),
    sa.Column('include_weak', sa.Boolean(), nullable=False),
    sa.Column('search_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirm_token_hash', sa.String(length=64), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('unsubscribe_nonce', sa.String(length=32), nullable=False),
    sa.Column('last_notified_at', sa.DateTime(), nullable=False),
    sa.Column('notified_ids', sa.JSON(), nullable=True),
    sa.Column('last_checked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('confirm_token_hash'),
    sa.UniqueConstraint('email', 'search_key', name='uq_search_alerts_email_search')
    )
    with op.batch_alter_table('search_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_alerts_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_alerts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_alerts_confirmed_at'), ['confirmed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('search_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_alerts_confirmed_at'))
        batch_op.drop_index(batch_op.f('ix_search_alerts_created_at'))
        batch_op.drop_index(batch_op.f('ix_search_alerts_email'))
    op.drop_table('search_alerts')
