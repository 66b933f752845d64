"""Inventory sync at scale against the sandbox, beside the theoretical floor.

Run with ``make bench``. Builds the LGL store and one retailer (standard plan, real cost
accounting) with N SKUs, 1% different at the retailer, syncs through Dagster on a temporary
instance, and prints requests, cost points and wall time next to the floor: two bulk reads
(start + one poll each) and ceil(changed / 250) writes.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from lgl_sync.defs.inventory import (
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
)
from lgl_sync.sandbox.engine import Sandbox
from lgl_sync.sandbox.server import SandboxServer
from lgl_sync.store.retailers import Retailer, add_retailer

RESULTS = Path(__file__).with_name("results")


def run(skus: int, changed: float = 0.01) -> dict:
    rng = random.Random(skus)
    sandbox = Sandbox()
    lgl = sandbox.add_store("lgl", "bench-lgl")
    warehouse = lgl.add_location("LGL Warehouse")
    retailer = sandbox.add_store("bench-retailer", "bench-retailer")
    retailer.add_location("Main Store")
    at_lgl = retailer.add_location("LGL Fulfillment")
    wrong = set(rng.sample(range(skus), int(skus * changed)))
    for i in range(skus):
        sku, quantity = f"SKU-{i:06d}", rng.randint(0, 60)
        p = lgl.add_product(sku, [{"sku": sku, "price": "5"}])
        lgl.stock(lgl.variants[p.variant_ids[0]].inventory_item_id, warehouse.id, quantity)
        p = retailer.add_product(sku, [{"sku": sku, "price": "9", "ships_from": at_lgl.id}])
        retailer.stock(
            retailer.variants[p.variant_ids[0]].inventory_item_id,
            at_lgl.id,
            quantity + (3 if i in wrong else 0),
        )
    with tempfile.TemporaryDirectory() as home, SandboxServer(sandbox) as server:
        os.environ["BENCH_RETAILER_TOKEN"] = "bench-retailer"
        control = ControlPlaneResource(database_url=f"sqlite:///{home}/control.db")
        add_retailer(
            control.engine(),
            Retailer.parse(
                {
                    "id": "bench-retailer",
                    "name": "Bench",
                    "domain": server.store_url("bench-retailer"),
                    "api_token": "BENCH_RETAILER_TOKEN",
                    "target_location_id": str(at_lgl.id),
                }
            ),
        )
        resources = {
            "lgl_shopify": ShopifyStoreResource(domain=server.store_url("lgl"), token="bench-lgl"),
            "control_plane": control,
            "retailer_stores": RetailerStoresResource(),
        }
        with dg.instance_for_test(temp_dir=home) as instance:
            instance.add_dynamic_partitions("retailers", ["bench-retailer"])
            started = time.perf_counter()
            assert dg.materialize(
                [lgl_inventory_snapshot, unimported_order_units],
                instance=instance,
                resources=resources,
            ).success
            assert dg.materialize(
                [lgl_inventory_snapshot, unimported_order_units, retailer_inventory],
                selection=[retailer_inventory],
                partition_key="bench-retailer",
                instance=instance,
                resources=resources,
            ).success
            wall = time.perf_counter() - started
    usage = [lgl.usage, retailer.usage]
    requests = sum(u.requests for u in usage)
    cost = sum(u.cost_actual for u in usage)
    writes = math.ceil(len(wrong) / 250)
    return {
        "skus": skus,
        "changed": len(wrong),
        "requests": requests,
        "cost_points": cost,
        "wall_seconds": round(wall, 1),
        "floor_requests": 2 * 2 + writes,
        "floor_cost_points": 2 * (10 + 1) + 10 * writes,
        "old_algorithm_requests": 3 * skus,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]
    rows = [run(n) for n in sizes]
    header = (
        "skus",
        "changed",
        "requests",
        "floor_requests",
        "cost_points",
        "floor_cost_points",
        "wall_seconds",
        "old_algorithm_requests",
    )
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inventory.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
