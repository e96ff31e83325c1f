"""guessed themes leave the profiles: the index guesses them now

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00

Themes used to be guessed while crawling and stored as the supplier's categories (credited to the source that gave
the text). They are guessed at index time now (vivier.themes) and shown as guesses. This clears the categories
of every supplier whose records declare none, and their provenance rows for categories. Nothing typed by a
company is touched: a submitted profile's themes are in its "submitted" record.
"""
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

suppliers = sa.table("suppliers", sa.column("id", sa.Integer), sa.column("categories", sa.JSON))
records = sa.table("source_records", sa.column("supplier_id", sa.Integer), sa.column("data", sa.JSON))
provenance = sa.table("field_provenance", sa.column("supplier_id", sa.Integer), sa.column("field", sa.String))


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def upgrade() -> None:
    connection = op.get_bind()
    declared = {supplier_id for supplier_id, data in connection.execute(sa.select(records.c.supplier_id,
                                                                                  records.c.data))
                if _decoded(data).get("categories")}
    guessed_only = [supplier_id for supplier_id, categories in connection.execute(
                        sa.select(suppliers.c.id, suppliers.c.categories))
                    if supplier_id not in declared and _decoded(categories)]
    for start in range(0, len(guessed_only), 500):
        chunk = guessed_only[start:start + 500]
        connection.execute(suppliers.update().where(suppliers.c.id.in_(chunk)).values(categories=[]))
        connection.execute(provenance.delete().where(provenance.c.supplier_id.in_(chunk),
                                                     provenance.c.field == "categories"))


def downgrade() -> None:
    """Nothing to restore: the next crawl would not guess themes again, and the index guesses them."""
