"""Capacity model: the cost points LGL Sync spends per 10 minutes at the shared LGL store and at
one retailer store, for N retailers x SKUs x orders a day, against each Shopify plan's refill
(``make capacity``; also run by ``make bench``, which saves it in ``results/bench.json``).

Nothing in the model is a guess at Shopify's prices: every per-operation cost is measured here,
first, by running the project's own Dagster jobs against the sandbox (whose costs are Shopify's
documented formula, the upper bound of what real Shopify charges, FACTS.md §1.2 and §9):

- importing and pushing back ``ORDERS`` orders for one retailer, per order;
- a quiet cycle (nothing new), per retailer;
- the full re-reads that repeat every LGL_FULL_READ_HOURS (the pushback's 72-hour lookback and
  the duplicate check's last 2 days, each against its 30-day window), per order re-read;
- one LGL stock snapshot, and one retailer stock sync, of a catalog past one page.

The cadence is the schedules' default (orders and pushback every 10 minutes, the LGL snapshot
every 5 and each retailer's sync after it). The floor at the LGL store is the addendum's: one
incremental read per retailer per cycle (3 points), two writes per order (its create and its
tag, 10 each), one shared read of the cycle's shipments (3 per shipment) and one bulk stock
read per snapshot (11).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.world import LGL_HANDLE, load_world
from lgl_sync_tests.bench.run import RESULTS, Twin, _product

ORDERS = 100
SKUS = 400  # past one page of LGL's catalog (150), so the snapshot is read in bulk
PLANS = {"Standard": 100, "Advanced": 200, "Plus": 1_000}  # points per second (FACTS.md §1.1)
TEN_MINUTES = 600
CYCLES_PER_DAY = 144
FULL_READS_PER_DAY = 1  # LGL_FULL_READ_HOURS=24
PUSHBACK_LOOKBACK_DAYS = 3
DUPLICATE_RECHECK_DAYS = 2  # the duplicate check's periodic re-read (defs/checks.py)
SHIPMENT_READ_FLOOR = 3  # one order, its fulfillments, their tracking: objects by the formula
INCREMENTAL_READ_FLOOR = 3  # a search page that finds nothing new: 2 + one object
BULK_READ_FLOOR = 11  # bulkOperationRunQuery (10) and one status poll (1)


class Spent:
    """Cost points at the LGL store and at the retailer store during a block."""

    def __init__(self, twin: Twin, retailer: str) -> None:
        self.stores = twin.sandbox.stores
        self.retailer = retailer

    def _now(self) -> tuple[float, float]:
        return (
            self.stores[LGL_HANDLE].usage.cost_actual,
            self.stores[self.retailer].usage.cost_actual,
        )

    def __enter__(self) -> Spent:
        self.before = self._now()
        return self

    def __exit__(self, *exc) -> None:
        after = self._now()
        self.lgl, self.retailer_store = (after[0] - self.before[0], after[1] - self.before[1])


def measure(workdir: Path) -> dict:
    """Per-operation costs, measured through the project's own jobs."""

    def build(sandbox) -> None:
        world = {"name": "default", "skus": SKUS, "orders": ORDERS, "seed": 4, "retailers": 1}
        load_world(sandbox, world)

    twin = Twin(build, workdir, "capacity")
    retailer = next(h for h in twin.sandbox.stores if h != LGL_HANDLE)

    def run(*flows: str) -> Spent:
        with Spent(twin, retailer) as spent:
            _product(twin, [(f, None if f == "snapshot" else retailer) for f in flows], [retailer])
        time.sleep(1.1)  # the next run's changes fall in a later second than this read
        return spent

    try:
        imported = run("orders")
        lgl = twin.sandbox.stores[LGL_HANDLE]
        orders = len(lgl.orders)
        ship_some(lgl, random.Random(3), 1.0, 0.0)
        pushed = run("fulfillments")
        run("orders", "fulfillments")  # the pushed tags are one last change
        # Within the overlap (LGL_WATERMARK_OVERLAP_MINUTES) every changed order is read again
        # by the next run of each flow: once more per order.
        overlap_orders, overlap_pushback = run("orders"), run("fulfillments")
        os.environ["LGL_WATERMARK_OVERLAP_MINUTES"] = "0"  # 10 quiet minutes later
        run("orders", "fulfillments")
        quiet_orders, quiet_pushback = run("orders"), run("fulfillments")
        os.environ["LGL_FULL_READ_HOURS"] = "0"
        full_orders, full_pushback = run("orders"), run("fulfillments")
        for name in ("LGL_FULL_READ_HOURS", "LGL_WATERMARK_OVERLAP_MINUTES"):
            del os.environ[name]
        run("snapshot")
        snapshot = run("snapshot")  # the second knows the catalog: no probe page
        run("inventory")
        stock = run("inventory")
    finally:
        twin.close()
    quiet = quiet_orders.lgl + quiet_pushback.lgl
    return {
        "orders_measured": orders,
        "lgl": {
            "import_per_order": imported.lgl / orders,
            "pushback_per_order": pushed.lgl / orders,
            "overlap_reread_per_order": (overlap_orders.lgl + overlap_pushback.lgl - quiet)
            / orders,
            "quiet_cycle_per_retailer": quiet,
            "full_duplicate_read_per_order": (full_orders.lgl - quiet_orders.lgl) / orders,
            "full_pushback_read_per_order": (full_pushback.lgl - quiet_pushback.lgl) / orders,
            "snapshot": snapshot.lgl,
            "order_create": 10.0,  # a mutation's cost (FACTS.md §1.2)
        },
        "retailer": {
            "per_order": (imported.retailer_store + pushed.retailer_store) / orders,
            "quiet_cycle": quiet_orders.retailer_store + quiet_pushback.retailer_store,
            "stock_sync": stock.retailer_store,
        },
    }


def model(costs: dict, retailers: int, skus: int, orders_per_day: int) -> dict:
    """Points per 10 minutes at the LGL store and at one retailer store. (The stock reads are
    bulk operations, whose cost does not grow with ``skus``; the writes do, and are counted
    at the retailer by the measured sync.)"""
    lgl, shop = costs["lgl"], costs["retailer"]
    new_orders = retailers * orders_per_day / CYCLES_PER_DAY
    full_reads = (
        retailers
        * FULL_READS_PER_DAY
        * orders_per_day
        * (
            lgl["full_pushback_read_per_order"] * PUSHBACK_LOOKBACK_DAYS
            + lgl["full_duplicate_read_per_order"] * DUPLICATE_RECHECK_DAYS
        )
        / CYCLES_PER_DAY
    )
    at_lgl = (
        new_orders
        * (lgl["import_per_order"] + lgl["pushback_per_order"] + lgl["overlap_reread_per_order"])
        + retailers * lgl["quiet_cycle_per_retailer"]
        + full_reads
        + 2 * lgl["snapshot"]
    )
    # The floor (issue 24's addendum): per retailer one incremental read per cycle; per order
    # two writes (its create and its tag); one shared read of the cycle's shipments; a bulk
    # read per snapshot.
    floor = (
        retailers * INCREMENTAL_READ_FLOOR
        + new_orders * 2 * lgl["order_create"]
        + (2 + new_orders * SHIPMENT_READ_FLOOR)
        + 2 * BULK_READ_FLOOR
    )
    at_retailer = (
        orders_per_day / CYCLES_PER_DAY * shop["per_order"]
        + shop["quiet_cycle"]
        + 2 * shop["stock_sync"]
    )
    return {
        "retailers": retailers,
        "skus": skus,
        "orders_per_day": orders_per_day,
        "lgl_points": round(at_lgl),
        "lgl_floor": round(floor),
        "lgl_share": {plan: at_lgl / (rate * TEN_MINUTES) for plan, rate in PLANS.items()},
        "retailer_points": round(at_retailer),
        "retailer_share_standard": at_retailer / (PLANS["Standard"] * TEN_MINUTES),
    }


SCENARIOS = [(4, 5_000, 200), (10, 5_000, 200), (50, 5_000, 200), (100, 5_000, 200)]


def print_capacity(capacity: dict) -> None:
    costs = capacity["costs"]["lgl"]
    print(
        "measured at the LGL store, points: import "
        f"{costs['import_per_order']:.1f}/order, pushback {costs['pushback_per_order']:.1f}/order,"
        f" overlap re-reads {costs['overlap_reread_per_order']:.1f}/order, quiet cycle "
        f"{costs['quiet_cycle_per_retailer']:.1f}/retailer, snapshot "
        f"{costs['snapshot']:.0f}, full re-reads {costs['full_pushback_read_per_order']:.1f} + "
        f"{costs['full_duplicate_read_per_order']:.1f}/order in the window"
    )
    header = (
        f"{'retailers':>9} {'SKUs':>6} {'orders/day':>10} | {'LGL pts/10 min':>14} "
        f"{'floor':>6} {'x floor':>7} | {'Standard':>8} {'Advanced':>8} {'Plus':>6} | "
        f"{'retailer pts/10 min':>19} {'Standard':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in capacity["rows"]:
        share = row["lgl_share"]
        print(
            f"{row['retailers']:>9} {row['skus']:>6,} {row['orders_per_day']:>10} | "
            f"{row['lgl_points']:>14,} {row['lgl_floor']:>6,} "
            f"{row['lgl_points'] / max(row['lgl_floor'], 1):>6.1f}x | {share['Standard']:>8.1%} "
            f"{share['Advanced']:>8.1%} {share['Plus']:>6.1%} | {row['retailer_points']:>19,} "
            f"{row['retailer_share_standard']:>8.1%}"
        )


def capacity(workdir: Path) -> dict:
    costs = measure(workdir)
    return {"costs": costs, "rows": [model(costs, *s) for s in SCENARIOS]}


def main() -> None:
    parser = argparse.ArgumentParser(description="LGL Sync's Shopify budget per 10 minutes")
    parser.add_argument(
        "--report", action="store_true", help="the model again from the saved costs, printed"
    )
    options = parser.parse_args()
    path = RESULTS / "bench.json"
    if options.report:  # the model again, from the costs saved
        saved = json.loads(path.read_text())
        costs = saved["capacity"]["costs"]
        saved["capacity"]["rows"] = [model(costs, *s) for s in SCENARIOS]
        print_capacity(saved["capacity"])
        path.write_text(json.dumps(saved, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = capacity(Path(tmp))
    print_capacity(result)
    saved = json.loads(path.read_text()) if path.exists() else {"rows": []}
    saved["capacity"] = result
    path.write_text(json.dumps(saved, indent=2))
    print(f"saved in {path}")


if __name__ == "__main__":
    main()
