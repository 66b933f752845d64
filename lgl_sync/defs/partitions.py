"""Each retailer is a partition: its key is the retailer's slug (``nationwide-plants``)."""

import dagster as dg

from lgl_sync.flows import FLOW_TAG, Flow

retailers = dg.DynamicPartitionsDefinition(name="retailers")


def freshness(flow: Flow) -> dg.FreshnessPolicy:
    """Fails when the flow has not succeeded within its window (``Flow.fresh_window``), warns
    at half of it: the Dagster UI then shows stale assets without anyone writing a query."""
    fail = flow.fresh_window()
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=fail / 2)


def retailer_asset(flow: Flow, **kwargs):
    """``@dg.asset`` for a per-retailer asset of ``flow``: its partitions, group, kind, flow
    tag and freshness policy, written once."""
    return dg.asset(
        partitions_def=retailers,
        group_name=flow.value,
        tags={FLOW_TAG: flow.value},
        freshness_policy=freshness(flow),
        **{"kinds": {"shopify"}, **kwargs},
    )
