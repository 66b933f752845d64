"""Checks that reconcile two stores: what the LGL store holds against what the ledger says."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from lgl_sync.defs.orders import imported_lgl_orders
from lgl_sync.defs.resources import ShopifyStoreResource

DUPLICATE_WINDOW_DAYS = 30


@dg.asset_check(
    asset=imported_lgl_orders,
    blocking=False,
    description="No retailer order has more than one LGL order (last 30 days).",
)
def one_lgl_order_per_source_order(
    context: dg.AssetCheckExecutionContext, lgl_shopify: ShopifyStoreResource
) -> dg.AssetCheckResult:
    """Reads the LGL orders imported from this run's retailer in the window (its tag
    ``imported-from-<slug>``; Shopify may drop an app's ``sourceName``, so that is never relied
    on) and counts source identifiers."""
    since = (datetime.now(UTC) - timedelta(days=DUPLICATE_WINDOW_DAYS)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    client = lgl_shopify.get_client()
    retailer_id = context.run.tags.get("dagster/partition")
    scope = f"tag:'imported-from-{retailer_id}'" if retailer_id else "source_identifier:*"
    query = f"{scope} created_at:>='{since}'"
    counts = Counter(
        node["sourceIdentifier"]
        for node in client.paginate("LglOrdersBySource", {"query": query}, path="orders")
        if node.get("sourceIdentifier") and node.get("cancelledAt") is None
    )
    duplicates = {key: n for key, n in counts.items() if n > 1}
    return dg.AssetCheckResult(
        passed=not duplicates,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "lgl_orders_checked": sum(counts.values()),
            "duplicated_source_orders": len(duplicates),
            "examples": dg.MetadataValue.json(dict(list(duplicates.items())[:20])),
        },
    )
