"""store_facts: what LGL Sync last read of a store that rarely changes (the LGL store's
currency, whether its custom-ID definition exists), so each import run does not read it again.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "store_facts" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "store_facts",
            sa.Column("store", sa.Text, primary_key=True),
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("store_facts")
