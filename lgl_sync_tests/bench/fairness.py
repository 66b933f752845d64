"""Fairness at the shared LGL store, at scale (``make bench``): a 5,000-order flash sale at one
retailer, and another retailer's new order placed once the backlog has the LGL store's budget.

Both imports run as the daemon runs them: each retailer's run in a process of its own (ready
before anything is measured), at the same time, against the sandbox's LGL store at the Standard
plan's budget (2,000 points, 100 a second) on the sandbox's clock (x50). Reported in seconds of
the sandbox's clock, Shopify's time: how long the backlog's run took, and how long the other
retailer's run took from the moment its order was placed, against one cycle (600 s: the most
its order may wait for the next tick is one cycle, so its run must take a small part of one).
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
from pathlib import Path

from lgl_sync.devkit.world import LGL_HANDLE, load_world
from lgl_sync_tests.bench.capacity import _paid_orders
from lgl_sync_tests.bench.run import RESULTS, Pool, Twin

BACKLOG = 5_000
CYCLE_SECONDS = 600


def bench_fairness(workdir: Path, backlog: int = BACKLOG) -> dict:
    def build(sandbox) -> None:
        load_world(sandbox, {"skus": 300, "orders": 0, "seed": 13, "retailers": 2})

    twin = Twin(build, workdir, "fairness")
    flash, other = sorted(h for h in twin.sandbox.stores if h != LGL_HANDLE)
    rng, clock = random.Random(13), twin.sandbox.clock
    lgl = twin.sandbox.stores[LGL_HANDLE]
    _paid_orders(twin, rng, {flash: 0.0}, backlog)
    pools = [Pool(twin, [flash, other], 1, fork_per_run=False) for _ in range(2)]
    took: dict[str, float] = {}

    def flash_sale() -> None:
        began = clock.monotonic()
        pools[0].run([("orders", flash)])
        took["flash"] = clock.monotonic() - began

    try:
        running = threading.Thread(target=flash_sale)
        spent = lgl.usage.cost_actual
        running.start()
        # Until the backlog has spent more than the whole bucket: it has the budget now.
        while running.is_alive() and lgl.usage.cost_actual - spent < 1.2 * lgl.bucket.maximum:
            running.join(0.1)
        busy = running.is_alive()
        _paid_orders(twin, rng, {other: 0.0}, 1)
        began = clock.monotonic()
        pools[1].run([("orders", other)])
        took["other"] = clock.monotonic() - began
        overlapped = running.is_alive()
        running.join()
    finally:
        for pool in pools:
            pool.close()
        twin.close()
    imported = {
        h: sum(1 for o in lgl.orders.values() if (o.source_identifier or "").startswith(h))
        for h in (flash, other)
    }
    return {
        "backlog_orders": backlog,
        "backlog_imported": imported[flash],
        "backlog_run_seconds": round(took["flash"]),
        "other_imported": imported[other],
        "other_run_seconds": round(took["other"], 1),
        "other_run_share_of_cycle": round(took["other"] / CYCLE_SECONDS, 3),
        "backlog_had_the_budget": busy,
        "other_ran_during_backlog": overlapped,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = bench_fairness(Path(tmp))
    print(
        f"flash sale of {result['backlog_orders']:,} orders: its run took "
        f"{result['backlog_run_seconds']:,} s of Shopify's time ({result['backlog_imported']:,} "
        f"imported); another retailer's order placed meanwhile was imported by a run of "
        f"{result['other_run_seconds']} s ({result['other_run_share_of_cycle']:.1%} of a cycle), "
        f"while the backlog ran: {result['other_ran_during_backlog']}"
    )
    path = RESULTS / "bench.json"
    saved = json.loads(path.read_text()) if path.exists() else {"rows": []}
    saved["fairness"] = result
    path.write_text(json.dumps(saved, indent=2))
    print(f"saved in {path}")


if __name__ == "__main__":
    main()
