"""Skip reasons in ``fulfillment_links.reason``, not in ``tracking_fingerprint``.

Before this revision a skipped shipment's reason was written into ``tracking_fingerprint`` and
``reason`` stayed empty. Moves each such reason over; every row is kept.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

links = sa.table(
    "fulfillment_links",
    sa.column("status", sa.Text),
    sa.column("reason", sa.Text),
    sa.column("tracking_fingerprint", sa.Text),
)


def upgrade() -> None:
    # A skipped shipment was never pushed, so its fingerprint column can only hold the reason.
    op.execute(
        links.update()
        .where(links.c.status == "skipped", links.c.reason.is_(None))
        .values(reason=links.c.tracking_fingerprint, tracking_fingerprint=None)
    )


def downgrade() -> None:
    op.execute(
        links.update()
        .where(links.c.status == "skipped", links.c.tracking_fingerprint.is_(None))
        .values(tracking_fingerprint=links.c.reason, reason=None)
    )
