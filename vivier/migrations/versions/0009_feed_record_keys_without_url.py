"""feed records keyed by their row's key, not by the file's address

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:00:00

A feed row's record key was "<file URL>#<row key>": when a data portal uploaded the file again under a new URL,
every row came back as a new record, rows without a website as second suppliers. The key is now the row's key
alone (the source is the record's other half). Stored keys lose their URL prefix; where two files of one source
held the same row, the record seen last keeps the key and the others are left as they are (no longer refreshed).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_sources = sa.table('sources', sa.column('name', sa.String), sa.column('kind', sa.String))
_records = sa.table('source_records', sa.column('id', sa.Integer), sa.column('source_name', sa.String),
                    sa.column('record_key', sa.String), sa.column('last_seen', sa.DateTime))


def upgrade() -> None:
    connection = op.get_bind()
    feeds = [name for (name,) in connection.execute(sa.select(_sources.c.name).where(_sources.c.kind == 'feed'))]
    if not feeds:
        return
    rows = connection.execute(
        sa.select(_records.c.id, _records.c.source_name, _records.c.record_key)
        .where(_records.c.source_name.in_(feeds))
        .order_by(_records.c.last_seen.desc(), _records.c.id.desc())).all()
    old_style = ('http://', 'https://')
    taken = {(source, key) for _, source, key in rows if not key.startswith(old_style)}
    for record_id, source, key in rows:
        prefix, _, row_key = key.partition('#')
        if not row_key or not prefix.startswith(old_style) or (source, row_key) in taken:
            continue
        taken.add((source, row_key))
        connection.execute(sa.update(_records).where(_records.c.id == record_id).values(record_key=row_key))


def downgrade() -> None:
    # The file each row came from is in the record's url: the old keys can be rebuilt from it.
    connection = op.get_bind()
    feeds = [name for (name,) in connection.execute(sa.select(_sources.c.name).where(_sources.c.kind == 'feed'))]
    records = sa.table('source_records', sa.column('id', sa.Integer), sa.column('source_name', sa.String),
                       sa.column('record_key', sa.String), sa.column('url', sa.String))
    for record_id, key, url in connection.execute(
            sa.select(records.c.id, records.c.record_key, records.c.url).where(records.c.source_name.in_(feeds))):
        if url and not key.startswith(('http://', 'https://')):
            connection.execute(sa.update(records).where(records.c.id == record_id).values(record_key=f"{url}#{key}"))
