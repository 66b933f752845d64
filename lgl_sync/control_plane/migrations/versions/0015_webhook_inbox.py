"""webhook_inbox: each Shopify webhook delivery once, until the sensor hands it to a run.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import webhook_inbox

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "webhook_inbox" not in set(sa.inspect(bind).get_table_names()):
        webhook_inbox.create(bind)
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE "webhook_inbox" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("webhook_inbox")
