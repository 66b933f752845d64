"""offboarding: a disabled retailer's retention timer, and when its personal data was purged.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import offboarding

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if offboarding.name not in set(sa.inspect(bind).get_table_names()):
        offboarding.create(bind)
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE "offboarding" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("offboarding")
