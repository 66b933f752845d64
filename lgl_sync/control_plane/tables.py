"""The control-plane tables: Supabase's existing four, column for column, plus the ledgers.

The ledgers make writes to Shopify exactly-once: a unique constraint turns a second attempt at
the same write into a refused insert, not a duplicate row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _now() -> sa.sql.elements.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    ]


retailers = sa.Table(
    "retailers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("api_token", sa.Text, nullable=False),
    sa.Column("target_location_id", sa.Text),
    sa.Column("lgl_location_id", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("import_orders", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("push_fulfillments", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("sync_inventory", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("lookback_hours", sa.Integer, nullable=False, server_default="6"),
    sa.Column("fulfillment_lookback_hours", sa.Integer, nullable=False, server_default="72"),
    sa.Column("custom_include_note", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("custom_include_tags", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("billing_email", sa.Text),
    sa.Column("billing_first_name", sa.Text),
    sa.Column("billing_last_name", sa.Text),
    sa.Column("billing_phone", sa.Text),
    sa.Column("billing_address1", sa.Text),
    sa.Column("billing_address2", sa.Text),
    sa.Column("billing_city", sa.Text),
    sa.Column("billing_province", sa.Text),
    sa.Column("billing_zip", sa.Text),
    sa.Column("billing_country", sa.Text),
    *_timestamps(),
    # Added by LGL Sync (nullable, so the old system's rows stay valid).
    sa.Column("inventory_safety_buffer", sa.Integer, server_default="0"),
    sa.Column("activate_missing_inventory", sa.Boolean, server_default=sa.false()),
    sa.Column("location_model", sa.Text, server_default="merchant_managed"),
    # Added by 0013: stock insight's thresholds and who else gets the monthly usage report.
    sa.Column("low_stock_days", sa.Integer, server_default="14"),
    sa.Column("reorder_cover_days", sa.Integer, server_default="30"),
    sa.Column("usage_copy_to", sa.Text),
    # Added by 0016: the retailer's shipping services mapped to LGL's (Retailer.ship_methods).
    sa.Column("ship_methods", sa.Text),
)

sync_jobs = sa.Table(
    "sync_jobs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # the Dagster run id
    sa.Column("retailer_id", sa.Text),
    sa.Column("job_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("results", JSON),
    sa.Column("error_message", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
)

activity_logs = sa.Table(
    "activity_logs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("retailer_id", sa.Text),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("details", JSON),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    # Added by LGL Sync: the event this row mirrors, so a replayed mirror adds nothing twice.
    sa.Column("dagster_event_id", sa.BigInteger, unique=True),
)

email_notifications = sa.Table(
    "email_notifications",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("retailer_id", sa.Text),
    sa.Column("notification_type", sa.Text, nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # sent | suppressed | failed
    sa.Column("reason", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    # Added by LGL Sync (migration 0002): the flow, the error fingerprint that collapses
    # repeats, and a key that makes "one email per failed run" exactly once.
    sa.Column("flow", sa.Text),
    sa.Column("fingerprint", sa.Text),
    sa.Column("dedupe_key", sa.Text, unique=True),
)

order_links = sa.Table(
    "order_links",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("source_order_id", sa.Text, primary_key=True),
    sa.Column("source_order_name", sa.Text),
    sa.Column("lgl_order_id", sa.Text, unique=True),
    sa.Column("status", sa.Text, nullable=False),  # pending | created | tagged
    sa.Column("run_id", sa.Text),
    # {sku: units} at the retailer's LGL location when imported (what LGL's stock now holds
    # for it while the retailer still counts it as committed).
    sa.Column("units", JSON),
    # When orderCreate's answer for it arrived (a proof order for the lookup's freshness).
    sa.Column("answered_at", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text),  # unconfirmed: lost_answer | custom_id_taken
    # Added by 0007: a digest of the shipping address the LGL order was given.
    sa.Column("address_fp", sa.Text),
    # Added by 0008: a digest of the retailer's LGL lines the LGL order was last matched to.
    sa.Column("lines_fp", sa.Text),
    sa.Column("reminded", sa.Integer),  # held: reminder steps sent (LGL_HELD_REMINDER_HOURS)
    # Added by 0014: {sku: units} fulfilled at the LGL location before import (by the
    # retailer): never part of what the LGL order is to ship, whatever edits follow.
    sa.Column("prefulfilled", JSON),
    # Added by 0021: the date the retailer's fulfillment order must be fulfilled by, and when a
    # person was told it passed with nothing shipped.
    sa.Column("fulfill_by", sa.DateTime(timezone=True)),
    sa.Column("overdue_told_at", sa.DateTime(timezone=True)),
    # Added by 0022: LGL Sync may have put its mirror of the retailer's hold on the LGL order
    # (set before the hold is placed); NULL when not known (older or rebuilt rows).
    sa.Column("lgl_hold", sa.Boolean),
    *_timestamps(),
)

fulfillment_links = sa.Table(
    "fulfillment_links",
    metadata,
    sa.Column("lgl_fulfillment_id", sa.Text, primary_key=True),
    sa.Column("retailer_id", sa.Text, nullable=False),
    sa.Column("lgl_order_id", sa.Text, nullable=False),
    sa.Column("retailer_fulfillment_id", sa.Text, unique=True),
    sa.Column("tracking_fingerprint", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # pending | created | skipped | failed
    sa.Column("reason", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Column("units", JSON),  # {sku: units} fulfilled at the retailer by this push
    *_timestamps(),
)

inventory_writes = sa.Table(
    "inventory_writes",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("retailer_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending | applied | rejected
    *_timestamps(),
)

# Added by migration 0004: a person's one-shot permission for a run that zeroes many SKUs.
inventory_allowances = sa.Table(
    "inventory_allowances",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("used_by_run", sa.Text),
)

# Added by migration 0005: each retailer's units in paid orders not yet in the LGL store, as
# last read, so one retailer that cannot be read leaves the others' targets right.
unimported_units = sa.Table(
    "unimported_units",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("units", JSON, nullable=False),  # {sku: units}
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.Column("failed_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
)

SUPABASE_TABLES = (retailers, sync_jobs, activity_logs, email_notifications)
LEDGER_TABLES = (order_links, fulfillment_links, inventory_writes)

# Added by migration 0007: how far each retailer's orders have been read by ``updated_at``.
order_watermarks = sa.Table(
    "order_watermarks",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    # The oldest order that may be imported: the first run less LGL_MAX_ORDER_AGE_HOURS.
    sa.Column("horizon", sa.DateTime(timezone=True), nullable=False),
    sa.Column("mark", sa.DateTime(timezone=True)),  # every change before it has been imported
    sa.Column("proposed", sa.DateTime(timezone=True)),  # the read in progress; mark after import
    sa.Column("swept_at", sa.DateTime(timezone=True)),  # the last read by created_at
    # How far imported orders' changes (cancellations, addresses) have been applied.
    sa.Column("changes_mark", sa.DateTime(timezone=True)),
)

# Added by 0009: a store's app credentials and the tokens Shopify issued for them, every secret
# encrypted with LGL_SECRET_KEY. One row per store domain; a refresh rewrites the row at once.
store_credentials = sa.Table(
    "store_credentials",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("grant", sa.Text, nullable=False),  # client_credentials | authorization_code
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("client_secret", sa.Text, nullable=False),  # enc:v1:...
    sa.Column("access_token", sa.Text),  # enc:v1:...
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # None: does not expire
    sa.Column("refresh_token", sa.Text),  # enc:v1:... (authorization code, expiring tokens)
    sa.Column("refresh_expires_at", sa.DateTime(timezone=True)),
    sa.Column("scopes", sa.Text),  # as granted
    *_timestamps(),
)

# What one asset hands the next (orders read, outcomes), kept in the control plane rather than
# in pickles under DAGSTER_HOME: webserver, daemon and run workers may be on different machines,
# and customers' addresses never sit on a local disk. One row per asset and partition (the latest
# value), encrypted with LGL_SECRET_KEY when it is set, deleted after LGL_HANDOFF_RETENTION_HOURS.
asset_handoffs = sa.Table(
    "asset_handoffs",
    metadata,
    sa.Column("asset_key", sa.Text, primary_key=True),
    sa.Column("partition_key", sa.Text, primary_key=True),  # "" when unpartitioned
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Added by 0013: the history reports stand on (usage for billing, stock insight, anomalies),
# written by the sync as it goes, never re-read from Shopify; kept LGL_HISTORY_RETENTION_DAYS.
# One row per imported order: when the LGL order was created (Shopify's createdAt, the billing
# month's clock), its lines and units, and when it was cancelled before any shipment.
order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("source_order_id", sa.Text, primary_key=True),
    sa.Column("source_order_name", sa.Text),
    sa.Column("lgl_order_id", sa.Text),
    sa.Column("ordered_at", sa.DateTime(timezone=True)),  # at the retailer
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),  # the LGL order
    sa.Column("lines", sa.Integer, nullable=False),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("skus", JSON, nullable=False),  # {sku: units}
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),  # cancelled before shipping
    sa.Index("ix_order_history_received", "received_at"),
    sa.Index("ix_order_history_lgl_order", "lgl_order_id"),
)

# One row per LGL shipment of an imported order (Shopify's createdAt), boxes = tracking numbers.
shipment_history = sa.Table(
    "shipment_history",
    metadata,
    sa.Column("lgl_fulfillment_id", sa.Text, primary_key=True),
    sa.Column("retailer_id", sa.Text, nullable=False),
    sa.Column("lgl_order_id", sa.Text, nullable=False),
    sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("carrier", sa.Text),
    sa.Column("boxes", sa.Integer, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_shipment_history_retailer_shipped", "retailer_id", "shipped_at"),
    sa.Index("ix_shipment_history_lgl_order", "lgl_order_id"),
)

# What LGL can ship of each retailer SKU: the level now, and its changes only (not one row per
# cycle), so 50 retailers x 5,000 SKUs x 90 days stays small (README "Reports").
stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("available", sa.Integer, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
)

stock_history = sa.Table(
    "stock_history",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("available", sa.Integer, nullable=False),
)

HISTORY_TABLES = (order_history, shipment_history, stock_levels, stock_history)

# Added by 0015: each webhook delivery once (by X-Shopify-Event-Id), until a run took it. Only
# object ids are kept (no customer data): ``objects`` is {"order_ids": [...], ...}.
webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("webhook_id", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("shop", sa.Text, nullable=False),
    sa.Column("retailer_id", sa.Text),  # None: the LGL store
    sa.Column("flow", sa.Text),  # the flow it wakes; None: handled without a run
    sa.Column("objects", JSON, nullable=False),
    sa.Column("triggered_at", sa.DateTime(timezone=True)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("run_key", sa.Text),
    sa.Column("duplicates", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_webhook_inbox_waiting", "taken_at", "retailer_id", "flow"),
)

# Added by 0017: what a webhook's scoped inventory run read of LGL's stock, item by item, newer
# than the snapshot a full sync may still be using (the full sync takes the newer of the two),
# and each retailer's inventory item per SKU at its LGL location as its last full sync read it
# (the scoped run reads those items by id, not through search, whose index lags).
lgl_stock_reads = sa.Table(
    "lgl_stock_reads",
    metadata,
    sa.Column("inventory_item_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("available", sa.Integer, nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
)

retailer_stock_items = sa.Table(
    "retailer_stock_items",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("inventory_item_id", sa.Text, nullable=False),
    sa.Column("lgl_item_id", sa.Text),  # LGL's inventory item of the SKU, when LGL has it
    sa.Index("ix_retailer_stock_items_lgl_item", "lgl_item_id"),
)

# SKUs LGL no longer sells (its product archived, or deleted from the LGL store), as first seen
# by a retailer's sync: each is zeroed at every retailer carrying it and told once.
lgl_discontinued = sa.Table(
    "lgl_discontinued",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),  # archived | deleted
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
)

# How far a retailer's reads of the shared LGL store have got, per read ("pushback": LGL orders
# changed since the mark; "duplicates": LGL orders created since the mark): each run reads only
# what changed, and a full re-read (``full_at``) repeats now and then for what a read missed.
lgl_read_marks = sa.Table(
    "lgl_read_marks",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("read", sa.Text, primary_key=True),
    sa.Column("mark", sa.DateTime(timezone=True)),
    sa.Column("proposed", sa.DateTime(timezone=True)),
    sa.Column("full_at", sa.DateTime(timezone=True)),
    sa.Column("proposed_full", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Added by 0019: each retailer return of goods LGL shipped, mirrored once onto the LGL order as
# an expected receipt (a return LGL's warehouse disposes when the goods arrive).
return_links = sa.Table(
    "return_links",
    metadata,
    sa.Column("retailer_return_id", sa.Text, primary_key=True),
    sa.Column("retailer_id", sa.Text, nullable=False),
    sa.Column("source_order_id", sa.Text, nullable=False),
    sa.Column("return_name", sa.Text),
    sa.Column("lgl_order_id", sa.Text),
    sa.Column("lgl_return_id", sa.Text, unique=True),
    # pending | created | failed | received | skipped (reason says why)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Column("units", JSON),  # {sku: units} expected back at LGL
    sa.Column("received", JSON),  # {disposition: {sku: units}} once the warehouse took them in
    *_timestamps(),
)

# Added by 0020: a disabled retailer's retention timer. Disabling (by hand, or by Shopify's
# app/uninstalled) starts it; enabling again stops it; LGL_PII_RETENTION_DAYS later the
# retailer's personal data still held is purged, once (``purged_at``).
offboarding = sa.Table(
    "offboarding",
    metadata,
    sa.Column("retailer_id", sa.Text, primary_key=True),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),  # disabled | app_uninstalled | shop_redact
    sa.Column("purged_at", sa.DateTime(timezone=True)),
)

# Added by 0023: what LGL Sync last read of a store that rarely changes (``store`` is its
# Admin API endpoint), read again once older than a day (``control_plane.store_facts``).
store_facts = sa.Table(
    "store_facts",
    metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
)
