"""how each source record joined its supplier

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00

A record that joined a profile by SIREN alone never says who the company is (name, website, contacts), and only
the websites of identifying records prove who owns a profile (issue: profile takeover through a directory page
listing someone's SIREN with another website). Records stored before are taken as identifying ("key"), as they
were treated until now.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joined_by', sa.String(length=20), server_default='key', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.drop_column('joined_by')
