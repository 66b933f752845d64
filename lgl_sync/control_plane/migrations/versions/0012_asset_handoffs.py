"""asset_handoffs: what one asset hands the next, in the control plane (no pickles on disk),
with row-level security on Postgres like LGL Sync's other tables.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import asset_handoffs

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "asset_handoffs" not in sa.inspect(bind).get_table_names():
        asset_handoffs.create(bind)
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE "asset_handoffs" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("asset_handoffs")
