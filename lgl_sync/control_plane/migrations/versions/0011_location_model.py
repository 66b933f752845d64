"""retailers.location_model: merchant_managed (the retailer routes orders to an ordinary
location) or fulfillment_service (LGL's own fulfillment service in the retailer's store).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("retailers")}
    if "location_model" not in columns:
        op.add_column(
            "retailers",
            sa.Column("location_model", sa.Text, server_default="merchant_managed"),
        )


def downgrade() -> None:
    with op.batch_alter_table("retailers") as batch:
        batch.drop_column("location_model")
