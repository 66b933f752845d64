"""Row-level security on LGL Sync's own tables (Postgres only), with no policies: Supabase's
public roles (anon, authenticated) read and write nothing there through its data APIs, while
LGL Sync, connecting as the tables' owner, is unaffected. Supabase's advisor flags tables in the
public schema without RLS. The four tables adopted from Supabase keep whatever they had.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OWN_TABLES = (
    "order_links",
    "fulfillment_links",
    "inventory_writes",
    "inventory_allowances",
    "unimported_units",
    "order_watermarks",
    "store_credentials",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    present = set(sa.inspect(bind).get_table_names())
    for table in OWN_TABLES:
        if table in present:
            op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in OWN_TABLES:
        op.execute(f'ALTER TABLE IF EXISTS "{table}" DISABLE ROW LEVEL SECURITY')
