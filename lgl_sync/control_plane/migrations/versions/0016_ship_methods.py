"""retailers.ship_methods: the retailer's shipping services mapped to LGL's carrier services.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("retailers")}
    if "ship_methods" not in columns:
        op.add_column("retailers", sa.Column("ship_methods", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("retailers") as batch:
        batch.drop_column("ship_methods")
