"""Checks that reconcile two stores: what the LGL store holds against what the ledger says."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from lgl_sync import settings
from lgl_sync.control_plane import ledger, read_marks
from lgl_sync.defs.orders import imported_lgl_orders
from lgl_sync.defs.resources import ControlPlaneResource, ShopifyStoreResource
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.orders.rules import source_identifier

DUPLICATE_WINDOW_DAYS = 30
SOURCES_PER_SEARCH = 25  # source identifiers ORed into one search


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(client: ShopifyClient, query: str) -> Counter:
    return Counter(
        node["sourceIdentifier"]
        for node in client.paginate("LglOrdersBySource", {"query": query}, path="orders")
        if node.get("sourceIdentifier") and node.get("cancelledAt") is None
    )


def _bulk_counts(client: ShopifyClient, retailer_id: str, since: datetime) -> Counter:
    literals = {"RETAILER": retailer_id, "SINCE": _stamp(since)}
    return Counter(
        node["sourceIdentifier"]
        for node in client.bulk_objects("LglOrdersBySourceBulk", literals=literals)
        if node.get("sourceIdentifier") and node.get("cancelledAt") is None
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _changed_counts(client: ShopifyClient, sources: list[str], window: str) -> Counter:
    """Every LGL order in the window carrying one of these source identifiers."""
    counts: Counter = Counter()
    for start in range(0, len(sources), SOURCES_PER_SEARCH):
        batch = sources[start : start + SOURCES_PER_SEARCH]
        named = " OR ".join(f"source_identifier:{_quoted(s)}" for s in batch)
        found = _counts(client, f"({named}) {window}")
        counts.update({s: n for s, n in found.items() if s in batch})
    return counts


def _read_plan(control_plane: ControlPlaneResource, retailer_id: str, now: datetime):
    return read_marks.plan(
        control_plane.engine(),
        retailer_id,
        read_marks.DUPLICATES,
        now=now,
        start=now - timedelta(days=DUPLICATE_WINDOW_DAYS),
        overlap=timedelta(minutes=settings.watermark_overlap_minutes()),
        full_every=timedelta(hours=settings.full_read_hours()),
    )


@dg.asset_check(
    asset=imported_lgl_orders,
    blocking=False,
    description="No retailer order has more than one LGL order (last 30 days).",
)
def one_lgl_order_per_source_order(
    context: dg.AssetCheckExecutionContext,
    lgl_shopify: ShopifyStoreResource,
    control_plane: ControlPlaneResource,
) -> dg.AssetCheckResult:
    """Reads the LGL orders imported from this run's retailer in the window (its tag
    ``imported-from-<slug>``; Shopify may drop an app's ``sourceName``, so that is never relied
    on) and counts source identifiers.

    Only a new LGL order can make a duplicate, so after its first run it takes the source
    orders LGL Sync tried to create since its last run (the ledger) and reads every LGL order
    in the window carrying one of them: its cost follows what changed, not 30 days of orders,
    and a quiet run reads nothing. Its first run, and every
    LGL_FULL_READ_HOURS after (what an index lag may have hidden), read the whole window as one
    bulk operation, whose cost does not grow with the orders."""
    now = datetime.now(UTC)
    client = lgl_shopify.get_client()
    retailer_id = context.run.tags.get("dagster/partition")
    scope = f"tag:'imported-from-{retailer_id}'" if retailer_id else "source_identifier:*"
    window = f"created_at:>='{_stamp(now - timedelta(days=DUPLICATE_WINDOW_DAYS))}'"
    read = _read_plan(control_plane, retailer_id, now) if retailer_id else None
    if read is None:
        counts = _counts(client, f"{scope} {window}")
    elif read.first or read.full:  # the whole window, one bulk operation
        counts = _bulk_counts(client, retailer_id, now - timedelta(days=DUPLICATE_WINDOW_DAYS))
    else:  # only a create LGL Sync tried since the last run can have made a duplicate
        attempted = ledger.orders_attempted_since(control_plane.engine(), retailer_id, read.since)
        sources = [source_identifier(retailer_id, order_id) for order_id in attempted]
        counts = _changed_counts(client, sources, window)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    if retailer_id and not duplicates:
        # A duplicate found keeps the mark where it was: every run reports it again until a
        # person cancels the extra LGL order.
        read_marks.commit(control_plane.engine(), retailer_id, read_marks.DUPLICATES)
    return dg.AssetCheckResult(
        passed=not duplicates,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "read": "new orders only" if read and not (read.first or read.full) else "full window",
            "lgl_orders_checked": sum(counts.values()),
            "duplicated_source_orders": len(duplicates),
            "examples": dg.MetadataValue.json(dict(list(duplicates.items())[:20])),
        },
    )
