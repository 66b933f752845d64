"""Notifications: flow, fingerprint and dedupe_key on email_notifications.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("flow", "fingerprint", "dedupe_key")


def upgrade() -> None:
    # 0001 creates tables from the current metadata, so a new database has them already.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("email_notifications")}
    for name in COLUMNS:
        if name not in present:
            op.add_column("email_notifications", sa.Column(name, sa.Text))
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("email_notifications")}
    uniques = sa.inspect(op.get_bind()).get_unique_constraints("email_notifications")
    if "uq_email_notifications_dedupe_key" not in indexes and not any(
        u["column_names"] == ["dedupe_key"] for u in uniques
    ):
        op.create_index(
            "uq_email_notifications_dedupe_key", "email_notifications", ["dedupe_key"], unique=True
        )


def downgrade() -> None:
    op.drop_index("uq_email_notifications_dedupe_key", "email_notifications")
    for name in reversed(COLUMNS):
        op.drop_column("email_notifications", name)
