"""Offboarding: a disabled retailer's retention timer and the purge of its personal data.

Disabling a retailer (``lgl-sync retailer disable``, Shopify's ``app/uninstalled``, or
``shop/redact``) starts the timer; enabling it again stops it. LGL_PII_RETENTION_DAYS after it
started, the daily maintenance job purges what LGL Sync still holds that names a person:

- orders in flight between assets (``asset_handoffs``: customers' addresses) and webhook
  deliveries not yet pruned (``webhook_inbox``: Shopify's payloads);
- the store's app credentials and tokens (``store_credentials``), and an encrypted token in the
  retailer's row (replaced by its environment variable's name, a reference, not a secret);
- the retailer's billing contact (name, email, phone, address) and report copy address;
- the addresses the retailer's notifications went to (``email_notifications.recipients``).

What stays is what billing and audit need and names no one: the ledger's ids, the sync history
(SKUs, quantities, order numbers) and the retailer's id and name. LGL's own Shopify orders
stay LGL's: Shopify redacts a customer there on ``customers/redact``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from lgl_sync.control_plane.tables import (
    asset_handoffs,
    email_notifications,
    offboarding,
    retailers,
    store_credentials,
    webhook_inbox,
)
from lgl_sync.secrets import ENCRYPTED_PREFIX

CONTACT = (
    "billing_email",
    "billing_first_name",
    "billing_last_name",
    "billing_phone",
    "billing_address1",
    "billing_address2",
    "billing_city",
    "billing_province",
    "billing_zip",
    "billing_country",
    "usage_copy_to",
)
PURGED = "[purged]"


@dataclass(frozen=True)
class Timer:
    retailer_id: str
    disabled_at: datetime
    reason: str


def timer(connection: Connection, retailer_id: str, *, running: bool, reason: str) -> None:
    """Starts the timer (kept from the first disabling) or stops it (enabled again)."""
    if not running:
        connection.execute(offboarding.delete().where(offboarding.c.retailer_id == retailer_id))
        return
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    values = {"retailer_id": retailer_id, "disabled_at": datetime.now(UTC), "reason": reason}
    connection.execute(dialect.insert(offboarding).values(**values).on_conflict_do_nothing())


def due(engine: Engine, now: datetime, days: float) -> list[Timer]:
    """The disabled retailers whose timer ran out and whose data is not purged yet."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(offboarding).where(
                offboarding.c.purged_at.is_(None),
                offboarding.c.disabled_at <= now - timedelta(days=days),
            )
        ).all()
    return [Timer(row.retailer_id, row.disabled_at, row.reason) for row in rows]


def purge(engine: Engine, retailer_id: str, now: datetime) -> dict[str, int] | None:
    """Purges one disabled retailer's personal data, once, in one transaction; the rows
    touched per table, or None when it is enabled again or was purged meanwhile."""
    with engine.begin() as connection:
        row = connection.execute(sa.select(retailers).where(retailers.c.id == retailer_id)).first()
        if row is None or row.enabled:
            return None
        claimed = connection.execute(
            offboarding.update()
            .where(offboarding.c.retailer_id == retailer_id, offboarding.c.purged_at.is_(None))
            .values(purged_at=now)
        ).rowcount
        return _purge(connection, row) if claimed else None


def _purge(connection: Connection, row) -> dict[str, int]:
    def count(statement) -> int:
        return connection.execute(statement).rowcount

    values = {column: None for column in CONTACT}
    if row.api_token.startswith(ENCRYPTED_PREFIX):
        values["api_token"] = f"SHOPIFY_{row.id.upper().replace('-', '_')}_TOKEN"
    return {
        "asset_handoffs": count(
            asset_handoffs.delete().where(asset_handoffs.c.partition_key == row.id)
        ),
        "webhook_inbox": count(webhook_inbox.delete().where(webhook_inbox.c.retailer_id == row.id)),
        "store_credentials": count(
            store_credentials.delete().where(store_credentials.c.domain == row.domain)
        ),
        "email_notifications": count(
            email_notifications.update()
            .where(email_notifications.c.retailer_id == row.id)
            .values(recipients=PURGED)
        ),
        "retailers": count(retailers.update().where(retailers.c.id == row.id).values(**values)),
    }
