"""background jobs; operators' session tokens; values a private link applies when opened; proposals outlive
their supplier; long search texts kept under a digest

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:00:00

Jobs: the slow work web requests leave to `vivier worker` (e-mail delivery, private links, index updates).
Operators' session tokens: a cookie copied before a sign-out no longer opens the back-office.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FK_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    op.create_table('search_texts',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    with op.batch_alter_table('search_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_texts_created_at'), ['created_at'], unique=False)
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('run_after', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('taken_by', sa.String(length=120), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_run_after'), ['run_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_finished_at'), ['finished_at'], unique=False)
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), server_default='', nullable=False))
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_value', sa.String(length=200), server_default='', nullable=False))
    # A received proposal outlives its supplier's profile (its foreign key sets NULL, its name is kept). The
    # foreign key was created unnamed: SQLite's batch mode names it through a naming convention, PostgreSQL named it.
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplier_name', sa.String(length=200), server_default='', nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('proposals', schema=None, naming_convention=FK_NAMING) as batch_op:
            batch_op.alter_column('supplier_id', existing_type=sa.Integer(), nullable=True)
            batch_op.drop_constraint('fk_proposals_supplier_id_suppliers', type_='foreignkey')
            batch_op.create_foreign_key('fk_proposals_supplier_id_suppliers', 'suppliers', ['supplier_id'], ['id'],
                                        ondelete='SET NULL')
    else:
        op.alter_column('proposals', 'supplier_id', existing_type=sa.Integer(), nullable=True)
        op.drop_constraint('proposals_supplier_id_fkey', 'proposals', type_='foreignkey')
        op.create_foreign_key('proposals_supplier_id_fkey', 'proposals', 'suppliers', ['supplier_id'], ['id'],
                              ondelete='SET NULL')
    op.execute("UPDATE proposals SET supplier_name = (SELECT name FROM suppliers WHERE suppliers.id = "
               "proposals.supplier_id) WHERE supplier_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('supplier_name')
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_column('pending_value')
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.drop_column('session_token')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_finished_at'))
        batch_op.drop_index(batch_op.f('ix_jobs_run_after'))
        batch_op.drop_index(batch_op.f('ix_jobs_kind'))
    op.drop_table('jobs')
    with op.batch_alter_table('search_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_texts_created_at'))
    op.drop_table('search_texts')
