"""How fresh each flow must be: the one setting behind the assets' freshness policies (the
Dagster UI's stale partitions) and `lgl-sync health`."""

from __future__ import annotations

import os
from datetime import timedelta

DEFAULTS = {"orders": 30, "fulfillments": 30, "inventory": 15}  # minutes
FLAGS = {
    "orders": "import_orders",
    "fulfillments": "push_fulfillments",
    "inventory": "sync_inventory",
}


def window(flow: str) -> timedelta:
    """``LGL_FRESH_<FLOW>_MINUTES`` or the default: the longest a flow may go without success."""
    raw = os.environ.get(f"LGL_FRESH_{flow.upper()}_MINUTES", str(DEFAULTS[flow]))
    try:
        minutes = int(raw)
    except ValueError:
        raise ValueError(f"LGL_FRESH_{flow.upper()}_MINUTES must be a number of minutes") from None
    return timedelta(minutes=minutes)
