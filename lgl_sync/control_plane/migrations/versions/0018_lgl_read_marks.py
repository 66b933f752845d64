"""lgl_read_marks: how far each retailer's reads of the shared LGL store have got, so a run
reads what changed instead of the whole lookback.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import lgl_read_marks

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if lgl_read_marks.name not in set(sa.inspect(bind).get_table_names()):
        lgl_read_marks.create(bind)
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE "lgl_read_marks" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("lgl_read_marks")
