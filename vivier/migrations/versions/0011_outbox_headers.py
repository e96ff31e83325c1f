"""outbox messages keep their extra headers (List-Unsubscribe, List-Unsubscribe-Post)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:00:00

A search alert's digest carries RFC 2369's List-Unsubscribe link and RFC 8058's one-click unsubscribe; the outbox
row keeps them for the worker that delivers it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('headers')
