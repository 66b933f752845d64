"""return_links: retailer returns of goods LGL shipped, mirrored once onto the LGL order.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import return_links

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if return_links.name not in set(sa.inspect(bind).get_table_names()):
        return_links.create(bind)
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE "return_links" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("return_links")
