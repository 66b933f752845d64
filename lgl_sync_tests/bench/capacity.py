"""Capacity model: the cost points LGL Sync spends per 10 minutes at the shared LGL store and at
one retailer store, for N retailers x SKUs x orders a day, against each Shopify plan's refill
(``make capacity``; also run by ``make bench``, which saves it in ``results/bench.json``).

Nothing in the model is a guess at Shopify's prices: every per-operation cost is measured here,
first, by running the project's own Dagster jobs against the sandbox (whose costs are Shopify's
documented formula, the upper bound of what real Shopify charges, FACTS.md §1.2 and §9):

- importing and pushing back ``ORDERS`` orders for one retailer, per order;
- a quiet cycle (nothing new), per retailer;
- the full re-reads that repeat every LGL_FULL_READ_HOURS (the pushback's 72-hour lookback and
  the duplicate check's 30-day window), each one bulk operation: a cost per read, not per order;
- one LGL stock snapshot, and one retailer stock sync, of a catalog past one page.

The figures per 10 minutes come from the request log of a real scaled-down run: an hour of
5 retailers x 500 SKUs x 200 orders a day, compressed (six 10-minute cycles of the project's
jobs, four runs at once), the LGL store's points split into the shared snapshots and a share
per retailer, extrapolated to N retailers; an hour of 10 retailers checks that extrapolation
(the addendum asks within 15 %). The per-operation costs above break the figure down, and add
the daily full re-reads, which an hour does not hold.

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
from lgl_sync.devkit.world import LGL_HANDLE, RETAILER_LGL_LOCATION, load_world
from lgl_sync_tests.bench.run import RESULTS, Pool, Twin, _product

ORDERS = 100
SKUS = 400  # past one page of LGL's catalog (150), so the snapshot is read in bulk
PLANS = {"Standard": 100, "Advanced": 200, "Plus": 1_000}  # points per second (FACTS.md §1.1)
TEN_MINUTES = 600
CYCLES_PER_DAY = 144
FULL_READS_PER_DAY = 1  # LGL_FULL_READ_HOURS=24
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
            # Bulk operations: their cost does not grow with the orders read.
            "full_duplicate_read": full_orders.lgl - quiet_orders.lgl,
            "full_pushback_read": full_pushback.lgl - quiet_pushback.lgl,
            "snapshot": snapshot.lgl,
            "order_create": 10.0,  # a mutation's cost (FACTS.md §1.2)
        },
        "retailer": {
            "per_order": (imported.retailer_store + pushed.retailer_store) / orders,
            "quiet_cycle": quiet_orders.retailer_store + quiet_pushback.retailer_store,
            "stock_sync": stock.retailer_store,
        },
    }


def model(
    costs: dict, retailers: int, skus: int, orders_per_day: int, hour: dict | None = None
) -> dict:
    """Points per 10 minutes at the LGL store and at one retailer store. (The stock reads are
    bulk operations, whose cost does not grow with ``skus``; the writes do, and are counted
    at the retailer by the measured sync.)"""
    lgl, shop = costs["lgl"], costs["retailer"]
    new_orders = retailers * orders_per_day / CYCLES_PER_DAY
    full_reads = (
        retailers
        * FULL_READS_PER_DAY
        * (lgl["full_pushback_read"] + lgl["full_duplicate_read"])
        / CYCLES_PER_DAY
    )
    by_operation = (
        new_orders
        * (lgl["import_per_order"] + lgl["pushback_per_order"] + lgl["overlap_reread_per_order"])
        + retailers * lgl["quiet_cycle_per_retailer"]
        + full_reads
        + 2 * lgl["snapshot"]
    )
    # From a simulated hour's request log when there is one (its orders a day are these), plus
    # the daily full re-reads, which an hour does not hold.
    at_lgl = hour_model(hour, retailers) + full_reads if hour else by_operation
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
        "lgl_points_by_operation": round(by_operation),
        "lgl_floor": round(floor),
        "lgl_share": {plan: at_lgl / (rate * TEN_MINUTES) for plan, rate in PLANS.items()},
        "retailer_points": round(at_retailer),
        "retailer_share_standard": at_retailer / (PLANS["Standard"] * TEN_MINUTES),
    }


# -- one simulated hour --------------------------------------------------------------------------

HOUR_CYCLES = 6  # cycles of 10 minutes
HOUR_SKUS = 500
HOUR_WORKERS = 4
BUYER = {
    "firstName": "Hour", "lastName": "Buyer", "address1": "2 Elm St", "city": "Austin",
    "provinceCode": "TX", "zip": "78701", "countryCode": "US",
}  # fmt: skip


def _paid_orders(twin: Twin, rng: random.Random, owed: dict[str, float], per_cycle: float) -> int:
    """Each retailer's paid orders of one cycle (``per_cycle`` on average, the fraction carried
    to the next), of SKUs LGL carries, at its LGL location."""
    lgl = twin.sandbox.stores[LGL_HANDLE]
    placed = 0
    for handle in owed:
        store = twin.sandbox.stores[handle]
        owed[handle] += per_cycle
        with store.lock:
            locations = store.locations.values()
            at_lgl = next(loc.id for loc in locations if loc.name == RETAILER_LGL_LOCATION)
            variants = [
                v
                for v in store.variants.values()
                if v.ships_from_location_id == at_lgl and v.sku and lgl.variants_by_sku(v.sku)
            ]
            while owed[handle] >= 1:
                owed[handle] -= 1
                lines = rng.sample(variants, rng.randint(1, 3))
                store.create_order(
                    lines=[{"variant_id": v.id, "quantity": rng.randint(1, 2)} for v in lines],
                    email="hour@example.com",
                    shipping_address=BUYER,
                )
                placed += 1
    return placed


def _cycle(twin: Twin, pool, keys: list[str], rng: random.Random) -> dict[str, float]:
    """One 10-minute cycle through the project's jobs, runs four at once as the daemon starts
    them: orders, the warehouse ships, pushback, and two snapshots each followed by every
    retailer's inventory. Points at the LGL store: in all, and in the snapshots (shared)."""
    lgl = twin.sandbox.stores[LGL_HANDLE]
    before = lgl.usage.cost_actual
    pool.run([("orders", k) for k in keys])
    ship_some(lgl, rng, 0.5, 0.2)
    pool.run([("fulfillments", k) for k in keys])
    shared = 0.0
    for _ in range(2):
        at = lgl.usage.cost_actual
        pool.run([("snapshot", None)])
        shared += lgl.usage.cost_actual - at
        pool.run([("inventory", k) for k in keys])
    return {"lgl": lgl.usage.cost_actual - before, "shared": shared}


def simulate_hour(workdir: Path, retailers: int, orders_per_day: int = 200) -> dict:
    """An hour of production at the schedules' cadence, compressed: ``retailers`` retailers of
    ``HOUR_SKUS`` SKUs, each placing ``orders_per_day`` paid orders a day, six cycles after a
    warm-up cycle (the world's first import and first stock syncs). The watermark overlap spans
    one cycle, as in production (10 minutes of 10). Returns the LGL store's points per cycle,
    the request log (per store and operation) and the per-retailer share."""

    def build(sandbox) -> None:
        world = {"skus": HOUR_SKUS, "orders": 4, "seed": 11, "retailers": retailers}
        load_world(sandbox, world)

    twin = Twin(build, workdir, f"hour-{retailers}")
    keys = sorted(h for h in twin.sandbox.stores if h != LGL_HANDLE)
    rng, owed = random.Random(retailers), dict.fromkeys(keys, 0.0)
    os.environ["LGL_MAX_ZERO_SHARE"] = "1"  # the generated stock: see bench_cycle
    pool = Pool(twin, keys, HOUR_WORKERS, fork_per_run=False)
    try:
        started = time.perf_counter()
        _cycle(twin, pool, keys, rng)  # warm-up
        overlap = (time.perf_counter() - started) / 60
        os.environ["LGL_WATERMARK_OVERLAP_MINUTES"] = f"{overlap:.3f}"
        pool.close()  # the workers read the overlap when they start
        pool = Pool(twin, keys, HOUR_WORKERS, fork_per_run=False)
        log_before = _log(twin)
        cycles = []
        for _ in range(HOUR_CYCLES):
            _paid_orders(twin, rng, owed, orders_per_day / CYCLES_PER_DAY)
            cycles.append(_cycle(twin, pool, keys, rng))
        log = _log(twin, log_before)
    finally:
        pool.close()
        twin.close()
        for name in ("LGL_MAX_ZERO_SHARE", "LGL_WATERMARK_OVERLAP_MINUTES"):
            os.environ.pop(name, None)
    per_cycle = sum(c["lgl"] for c in cycles) / len(cycles)
    shared = sum(c["shared"] for c in cycles) / len(cycles)
    return {
        "retailers": retailers,
        "lgl_points_per_cycle": round(per_cycle, 1),
        "shared_per_cycle": round(shared, 1),
        "per_retailer_per_cycle": round((per_cycle - shared) / retailers, 2),
        "request_log": log,
    }


def _log(twin: Twin, before: dict | None = None) -> dict:
    """Requests and points per store (LGL, or a retailer) and operation, since ``before``."""
    log: dict[str, dict[str, list[float]]] = {}
    for handle, store in twin.sandbox.stores.items():
        kind = "lgl" if handle == LGL_HANDLE else "retailers"
        for name, count in store.usage.by_operation.items():
            entry = log.setdefault(kind, {}).setdefault(name, [0, 0.0])
            entry[0] += count
            entry[1] += store.usage.cost_by_operation.get(name, 0.0)
    if before:
        for kind, operations in log.items():
            for name, entry in operations.items():
                old = before.get(kind, {}).get(name, [0, 0.0])
                entry[0] -= old[0]
                entry[1] = round(entry[1] - old[1], 1)
    return log


def hour_model(hour: dict, retailers: int) -> float:
    """The LGL store's points per 10 minutes for ``retailers`` retailers, extrapolated from a
    simulated hour: the shared snapshots once, the rest per retailer."""
    return hour["shared_per_cycle"] + retailers * hour["per_retailer_per_cycle"]


SCENARIOS = [(4, 5_000, 200), (10, 5_000, 200), (50, 5_000, 200), (100, 5_000, 200)]


def print_capacity(capacity: dict) -> None:
    costs = capacity["costs"]["lgl"]
    print(
        "measured at the LGL store, points: import "
        f"{costs['import_per_order']:.1f}/order, pushback {costs['pushback_per_order']:.1f}/order,"
        f" overlap re-reads {costs['overlap_reread_per_order']:.1f}/order, quiet cycle "
        f"{costs['quiet_cycle_per_retailer']:.1f}/retailer, snapshot "
        f"{costs['snapshot']:.0f}, daily full re-reads {costs['full_pushback_read']:.0f} + "
        f"{costs['full_duplicate_read']:.0f} a retailer (bulk)"
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
    """Per-operation costs; an hour of 5 retailers, the model's source; an hour of 10, its
    check (the addendum: within 15 %)."""
    costs = measure(workdir)
    small = simulate_hour(workdir, 5)
    check = simulate_hour(workdir, 10)
    predicted = hour_model(small, 10)
    measured = check["lgl_points_per_cycle"]
    hour = {
        "source": small,
        "check": check,
        "predicted_for_10": round(predicted, 1),
        "error": round((predicted - measured) / measured, 3),
    }
    return {"costs": costs, "hour": hour, "rows": [model(costs, *s, small) for s in SCENARIOS]}


def print_hour(hour: dict) -> None:
    small, check = hour["source"], hour["check"]
    print(
        f"simulated hour, {small['retailers']} retailers x {HOUR_SKUS} SKUs x 200 orders/day: "
        f"{small['lgl_points_per_cycle']:,.0f} points per 10 minutes at LGL "
        f"({small['shared_per_cycle']:,.0f} shared, {small['per_retailer_per_cycle']:,.1f} per "
        f"retailer); for {check['retailers']} retailers it predicts "
        f"{hour['predicted_for_10']:,.0f}, and an hour of {check['retailers']} measured "
        f"{check['lgl_points_per_cycle']:,.0f} ({hour['error']:+.1%})"
    )


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
        hour = saved["capacity"].get("hour")
        source = hour["source"] if hour else None
        saved["capacity"]["rows"] = [model(costs, *s, source) for s in SCENARIOS]
        if hour:
            print_hour(hour)
        print_capacity(saved["capacity"])
        path.write_text(json.dumps(saved, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = capacity(Path(tmp))
    print_hour(result["hour"])
    print_capacity(result)
    saved = json.loads(path.read_text()) if path.exists() else {"rows": []}
    saved["capacity"] = result
    path.write_text(json.dumps(saved, indent=2))
    print(f"saved in {path}")


if __name__ == "__main__":
    main()
