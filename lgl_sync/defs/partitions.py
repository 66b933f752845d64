"""Each retailer is a partition: its key is the retailer's slug (``nationwide-plants``)."""

import dagster as dg

from lgl_sync.freshness import window

retailers = dg.DynamicPartitionsDefinition(name="retailers")


def freshness(flow: str) -> dg.FreshnessPolicy:
    """Fails when the flow has not succeeded within its window (lgl_sync/freshness.py), warns
    at half of it: the Dagster UI then shows stale assets without anyone writing a query."""
    fail = window(flow)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=fail / 2)
