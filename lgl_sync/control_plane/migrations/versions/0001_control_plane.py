"""The control plane: adopt Supabase's four tables as they are, add the ledgers.

On a database the old system created, the existing tables keep every row; only the columns
LGL Sync adds are added. On an empty database everything is created.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import LEDGER_TABLES, SUPABASE_TABLES

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in (*SUPABASE_TABLES, *LEDGER_TABLES):
        if table.name not in existing:
            table.create(bind)
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                added = column._copy()
                added.unique = False  # SQLite cannot add a UNIQUE column; an index does it
                op.add_column(table.name, added)
                if column.unique:
                    op.create_index(
                        f"uq_{table.name}_{column.name}", table.name, [column.name], unique=True
                    )


def downgrade() -> None:
    for table in reversed(LEDGER_TABLES):
        op.drop_table(table.name)
