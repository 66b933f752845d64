"""order_links.units / answered_at / reason and fulfillment_links.units.

- ``units``: the {sku: units} each import and each push moved. An imported order's units are in
  LGL's stock numbers but still committed at the retailer until its shipment is pushed back;
  the inventory sync needs them to tell a sale search has not shown yet from an order LGL already
  has. Existing rows keep NULL (counted as no units).
- ``order_links.answered_at``: when orderCreate's answer arrived. An order answered after a lost
  answer that the custom-ID lookup shows proves the lookup has caught up past that lost answer.
- ``order_links.reason``: why an order is unconfirmed (``lost_answer`` or ``custom_id_taken``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import JSON

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "order_links": {
        "units": JSON,
        "answered_at": sa.DateTime(timezone=True),
        "reason": sa.Text(),
    },
    "fulfillment_links": {"units": JSON},
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for name, kind in columns.items():
            if name not in present:
                op.add_column(table, sa.Column(name, kind))


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name in columns:
                batch.drop_column(name)
