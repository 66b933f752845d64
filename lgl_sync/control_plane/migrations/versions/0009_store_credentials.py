"""store_credentials: a store's app credentials and its issued tokens, encrypted.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import store_credentials

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "store_credentials" not in sa.inspect(op.get_bind()).get_table_names():
        store_credentials.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("store_credentials")
