"""unimported_units: each retailer's units not yet in the LGL store, as last read.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import unimported_units

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "unimported_units" not in sa.inspect(op.get_bind()).get_table_names():
        unimported_units.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("unimported_units")
