"""Benchmarks: this project against a faithful reimplementation of the old scripts, on twin
sandboxes holding the same state, in one process run (``make bench``).

For each size it prints requests, cost points, wall time and the throttle floor (the least
time real Shopify needs for that many cost points on the standard plan: points / 100 per
second, on the busiest store), with the ratio old/new and the theoretical floor. The sandbox
clock runs 50x faster, so throttle waits cost 1/50 of their real time in the wall figures;
the floor column is what the cost means on real Shopify.

Sizes: inventory 1k / 10k / 100k SKUs (the old algorithm at 100k is measured on a 10k sample
of the same store and scaled, it would need 300,000 requests); orders 100 / 1,000 per retailer;
a whole cycle of every flow for 4 and 50 retailers through Dagster. Writes
``results/bench.json`` and ``results/bench.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.server import SandboxServer

from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.wiring import sandbox_environment
from lgl_sync.devkit.world import (
    LGL_HANDLE,
    LGL_WAREHOUSE,
    RETAILER_LGL_LOCATION,
    load_world,
    token_for,
)
from lgl_sync_tests.bench import old_algorithm as old
from lgl_sync_tests.bench.webhooks import _database

RESULTS = Path(__file__).with_name("results")
SPEED = 50.0
RESTORE = 100.0  # standard plan, points per second
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _usage(sandbox: Sandbox) -> dict[str, tuple[int, float]]:
    return {h: (s.usage.requests, s.usage.cost_actual) for h, s in sandbox.stores.items()}


class Measure:
    """Requests, cost and wall time spent on a sandbox during a block."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __enter__(self) -> Measure:
        self.before, self.started = _usage(self.sandbox), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.started
        after = _usage(self.sandbox)
        spent = {
            h: (after[h][0] - self.before[h][0], after[h][1] - self.before[h][1]) for h in after
        }
        self.per_store = spent
        self.requests = sum(r for r, _ in spent.values())
        self.cost = sum(c for _, c in spent.values())
        self.floor_seconds = max(c for _, c in spent.values()) / RESTORE

    def row(self, **extra) -> dict:
        return {
            "requests": self.requests,
            "cost_points": round(self.cost),
            "wall_seconds": round(self.wall, 1),
            "throttle_floor_seconds": round(self.floor_seconds, 1),
            **extra,
        }


class Twin:
    """A sandbox served over HTTP with the environment the project's Definitions read."""

    def __init__(self, build, workdir: Path, name: str) -> None:
        self.sandbox = Sandbox(SandboxClock(SPEED))
        build(self.sandbox)
        self.server = SandboxServer(self.sandbox).start()
        self.workdir = workdir / name
        self.workdir.mkdir()
        # Production's storage: Postgres for the control plane and Dagster's runs and events
        # (SQLite's event log commits each of a run's ~30 events to disk, 40 ms apiece here).
        tag = name.replace("-", "_")
        self.control_url = _database(f"lgl_bench_control_{tag}")
        self.dagster_url = _database(f"lgl_bench_dagster_{tag}")
        self.env = sandbox_environment(self.sandbox, self.server.url, self.control_url)

    def old_client(self, handle: str) -> old.OldClient:
        return old.OldClient(
            self.server.store_url(handle), token_for(handle), self.sandbox.clock.sleep
        )

    def location(self, handle: str, name: str) -> str:
        store = self.sandbox.stores[handle]
        loc = next(loc for loc in store.locations.values() if loc.name == name)
        return f"gid://shopify/Location/{loc.id}"

    def spec(self, keys: list[str], **extra) -> dict:
        """What ``bench/product.py`` reads first: where the stores and the instance are."""
        return {
            "env": self.env,
            "dagster_url": self.dagster_url,
            "workdir": str(self.workdir),
            "speed": self.sandbox.clock.speed,
            "keys": keys,
            **extra,
        }

    def close(self) -> None:
        self.server.stop()


def _product(twin: Twin, steps: list[tuple[str, str | None]], keys: list[str]) -> dict:
    """Runs steps through the project's jobs in a process of its own (``bench/product.py``)."""
    spec = twin.spec(keys, steps=steps)
    done = subprocess.run(
        [sys.executable, "-m", "lgl_sync_tests.bench.product"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the project's runs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Pool:
    """Worker processes running the project's jobs (``bench/product.py``, ``serve``), several
    runs at once as the daemon starts them (up to ``max_concurrent_runs``, 10 in
    ``lgl_sync/ops/dagster.yaml``), each worker started and ready before anything is measured.
    With ``fork_per_run`` each run is a child forked from its worker, as the deployment's
    launcher starts runs from a preloaded process."""

    def __init__(self, twin: Twin, keys: list[str], size: int, fork_per_run: bool) -> None:
        spec = twin.spec(keys, serve=True, fork_per_run=fork_per_run)
        # Closed in close(); a worker's stderr, shown when it fails.
        self.logs = [tempfile.TemporaryFile("w+") for _ in range(size)]  # noqa: SIM115
        self.workers: list[subprocess.Popen] = []
        # One after another: the first creates the instance's tables, the others find them.
        for index, log in enumerate(self.logs):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "lgl_sync_tests.bench.product"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
            self.workers[index].stdin.write(json.dumps(spec) + "\n")
            self.workers[index].stdin.flush()
            self._answer(index, "ready")

    def _answer(self, index: int, wanted: str) -> str:
        """The worker's next line of the kind wanted (a report or ``ready``), or its error."""
        for line in self.workers[index].stdout:
            if line.strip() == wanted or (wanted == "report" and line.startswith("{")):
                return line
        self.logs[index].seek(0)
        raise RuntimeError(f"the project's runs failed: {self.logs[index].read()[-12000:]}")

    def run(self, steps: list[tuple[str, str | None]]) -> list[dict]:
        """These steps spread over the workers, all at once; each worker's report."""
        shares = [steps[i :: len(self.workers)] for i in range(len(self.workers))]
        busy = [i for i, share in enumerate(shares) if share]
        for i in busy:
            self.workers[i].stdin.write(json.dumps(shares[i]) + "\n")
            self.workers[i].stdin.flush()
        return [json.loads(self._answer(i, "report")) for i in busy]

    def close(self) -> None:
        for worker in self.workers:
            worker.stdin.close()
            worker.wait(timeout=60)
        for log in self.logs:
            log.close()


def _pooled(twin: Twin, phases, workers: int, fork_per_run: bool) -> list[Measure]:
    """``_dagster``'s phases on a pool: each run of same-flow steps (one flow, every retailer)
    spread over the workers at once, the phases' flows one after another as the schedules
    order them. Wall time is the parent's from the first step sent to the last report."""
    keys = sorted({k for steps in phases for _, k in steps if k})
    pool = Pool(twin, keys, workers, fork_per_run)
    measures = []
    try:
        for steps in phases:
            runs = cpu = rss = 0.0
            by_flow: dict[str, float] = {}
            with Measure(twin.sandbox) as measured:
                for flow, group in itertools.groupby(steps, key=lambda step: step[0]):
                    if flow == "ship":
                        ship_some(twin.sandbox.stores[LGL_HANDLE], random.Random(1), 0.6, 0.3)
                        continue
                    for report in pool.run(list(group)):
                        runs += report["runs"]
                        cpu += report["cpu_seconds"]
                        rss = max(rss, report["peak_rss_mb"])
                        for name, (_, _, used) in report["by_flow"].items():
                            by_flow[name] = by_flow.get(name, 0.0) + used
            measured.cpu_by_flow = by_flow
            measured.cpu_per_run = cpu / max(runs, 1)
            measured.cpu_seconds = cpu
            measured.runs = int(runs)
            measured.peak_rss_mb = rss
            measures.append(measured)
            time.sleep(1.1)  # a next phase's changes fall in a later second than these reads
    finally:
        pool.close()
    return measures


def _dagster(
    twin: Twin,
    *phases: list[tuple[str, str | None]],
    process_per_run: bool = False,
    workers: int = 1,
    fork_per_run: bool = False,
) -> list[Measure]:
    """Runs the project's own jobs in a process of its own, as production does (the sandbox,
    like Shopify, is elsewhere), on one instance (Postgres), a Measure per phase. The wall time
    is the runs' own (the process's start-up left out, as the in-process runs had it), with
    ``cpu_per_run`` and ``peak_rss_mb`` of that process alone. Every wait of the project's
    Shopify clients (throttle, bulk polls) is on a clock as fast as the sandbox's, as the old
    algorithm's are. ``process_per_run``: each run in a process of its own, as the daemon
    launches them (peak memory is then a run's, not the sum of a chain of runs')."""
    if workers > 1 or fork_per_run:
        return _pooled(twin, phases, workers, fork_per_run)
    keys = sorted({k for steps in phases for _, k in steps if k})
    measures = []
    for steps in phases:
        runs = cpu = wall = rss = 0.0
        with Measure(twin.sandbox) as measured:
            chunk: list[tuple[str, str | None]] = []
            for flow, key in [*steps, ("end", None)]:
                if flow not in ("ship", "end"):
                    chunk.append((flow, key))
                    if not process_per_run:
                        continue
                if chunk:
                    report = _product(twin, chunk, keys)
                    runs += report["runs"]
                    cpu += report["cpu_seconds"]
                    wall += report["wall_seconds"]
                    rss = max(rss, report["peak_rss_mb"])
                    chunk = []
                if flow == "ship":
                    started = time.perf_counter()
                    ship_some(twin.sandbox.stores[LGL_HANDLE], random.Random(1), 0.6, 0.3)
                    wall += time.perf_counter() - started
        measured.wall = wall
        measured.cpu_per_run = cpu / max(runs, 1)
        measured.runs = int(runs)
        measured.peak_rss_mb = rss
        measures.append(measured)
        time.sleep(1.1)  # a next phase's changes fall in a later second than these reads
    return measures


# -- inventory ----------------------------------------------------------------------------------


def _inventory_state(skus: int, changed: float = 0.01):
    def build(sandbox: Sandbox) -> None:
        rng = random.Random(skus)
        lgl = sandbox.add_store(LGL_HANDLE, token_for(LGL_HANDLE), name="Live Good Logistics")
        warehouse = lgl.add_location(LGL_WAREHOUSE)
        retailer = sandbox.add_store("bench-retailer", token_for("bench-retailer"), name="Bench")
        retailer.add_location("Main Store")
        at_lgl = retailer.add_location(RETAILER_LGL_LOCATION)
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

    return build


def _unsettle(store, share: float, rng: random.Random) -> None:
    """``share`` of the store's levels at its LGL location off by 3, as a cycle's drift."""
    location = next(loc.id for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION)
    levels = [item.levels[location] for item in store.inventory_items.values()]
    for level in rng.sample(levels, int(len(levels) * share)):
        store.set_quantity(level, "available", level.quantities["available"] + 3)


def bench_inventory(skus: int, workdir: Path) -> dict:
    build = _inventory_state(skus)
    new, was = Twin(build, workdir, f"inv-new-{skus}"), Twin(build, workdir, f"inv-old-{skus}")
    try:
        sync = [("snapshot", None), ("inventory", "bench-retailer")]
        (measured_new,) = _dagster(new, sync, process_per_run=True)
        # The sync every cycle after: another 1 % changed at the retailer since the first.
        _unsettle(new.sandbox.stores["bench-retailer"], 0.01, random.Random(skus + 1))
        (measured_next,) = _dagster(new, sync, process_per_run=True)
        sample = min(skus, 10_000)
        lgl, retailer = was.old_client(LGL_HANDLE), was.old_client("bench-retailer")
        with Measure(was.sandbox) as measured_old:
            old.sync_inventory(
                lgl,
                retailer,
                was.location(LGL_HANDLE, LGL_WAREHOUSE),
                was.location("bench-retailer", RETAILER_LGL_LOCATION),
                limit=sample,
            )
        scale = skus / sample
        changed = int(skus * 0.01)
        writes = math.ceil(changed / 250)
        return {
            "benchmark": "inventory",
            "size": skus,
            "new": measured_new.row(peak_rss_mb=round(measured_new.peak_rss_mb)),
            "next_sync": measured_next.row(peak_rss_mb=round(measured_next.peak_rss_mb)),
            "old": {
                "requests": round(measured_old.requests * scale),
                "cost_points": round(measured_old.cost * scale),
                "wall_seconds": round(measured_old.wall * scale, 1),
                "throttle_floor_seconds": round(measured_old.floor_seconds * scale, 1),
                "extrapolated_from": sample if scale > 1 else None,
            },
            "floor": {"requests": 2 * 2 + writes, "cost_points": 2 * (10 + 1) + 10 * writes},
        }
    finally:
        new.close()
        was.close()


# -- orders -------------------------------------------------------------------------------------


# Every store answers after this round trip in the orders benchmark, 150 ms give or take 50
# (real Shopify's Admin API answers in one to a few hundred milliseconds; the sandbox on loopback
# in under 5): a backlog is bound by round trips, which is what importing several orders at once
# is for.
ROUND_TRIP_MS = (150, 50)


def bench_orders(orders: int, workdir: Path) -> dict:
    def build(sandbox: Sandbox) -> None:
        load_world(
            sandbox,
            {"name": "default", "skus": 300, "orders": orders, "seed": 5, "retailers": 1},
        )
        for store in sandbox.stores.values():
            store.apply_settings({"latency_ms": list(ROUND_TRIP_MS)})

    twins = {name: Twin(build, workdir, f"ord-{name}-{orders}") for name in ("new", "seq", "old")}
    new, sequential, was = twins["new"], twins["seq"], twins["old"]
    retailer = next(h for h in new.sandbox.stores if h != LGL_HANDLE)
    try:
        (measured_new,) = _dagster(new, [("orders", retailer)])
        imported_new = len(new.sandbox.stores[LGL_HANDLE].orders)
        # Today's import, one order at a time, measured in the same run.
        os.environ["LGL_IMPORT_CONCURRENCY"] = "1"
        try:
            (measured_seq,) = _dagster(sequential, [("orders", retailer)])
        finally:
            del os.environ["LGL_IMPORT_CONCURRENCY"]
        refused: list[int] = []
        with Measure(was.sandbox) as measured_old:
            imported_old = old.import_orders(
                was.old_client(retailer), was.old_client(LGL_HANDLE), retailer, refused=refused
            )
        return {
            "benchmark": "orders",
            "size": orders,
            "round_trip_ms": f"{ROUND_TRIP_MS[0]} ± {ROUND_TRIP_MS[1]}",
            "new": measured_new.row(
                imported=imported_new,
                order_creates=new.sandbox.stores[LGL_HANDLE].usage.by_operation.get(
                    "OrderCreate", 0
                ),
                peak_rss_mb=round(measured_new.peak_rss_mb),
            ),
            "one_at_a_time": measured_seq.row(
                imported=len(sequential.sandbox.stores[LGL_HANDLE].orders)
            ),
            "old": measured_old.row(
                imported=imported_old, their_query_refused_at=refused[0] if refused else None
            ),
            # One page of orders per 250, one catalog search per 250 SKUs, one create and one
            # tag per order.
            "floor": {"requests": math.ceil(orders / 250) * 2 + 2 * imported_new},
        }
    finally:
        for twin in twins.values():
            twin.close()


# -- a whole cycle ------------------------------------------------------------------------------


def bench_cycle(retailers: int, workdir: Path) -> dict:
    def build(sandbox: Sandbox) -> None:
        load_world(
            sandbox,
            {"name": "default", "skus": 200, "orders": 25, "seed": 9, "retailers": retailers},
        )

    new, was, prod = (
        Twin(build, workdir, f"cyc-new-{retailers}"),
        Twin(build, workdir, f"cyc-old-{retailers}"),
        Twin(build, workdir, f"cyc-prod-{retailers}"),
    )
    keys = [h for h in new.sandbox.stores if h != LGL_HANDLE]
    try:
        # Orders are imported once first, and the warehouse ships, so the cycle measured has
        # orders, shipments and stock to sync, like a cycle in production.
        steps = [("orders", k) for k in keys] + [("ship", None)]
        steps += [("fulfillments", k) for k in keys] + [("snapshot", None)]
        steps += [("inventory", k) for k in keys]
        # Then the cycles after it: the first still sees the tags its pushes added; the second
        # has nothing new (what production sees once the overlap window holds no change:
        # LGL_WATERMARK_OVERLAP_MINUTES=0 stands in for the 10 quiet minutes).
        cycle = [(f, k) for f in ("orders", "fulfillments") for k in keys] + [("snapshot", None)]
        cycle += [("inventory", k) for k in keys]
        # The generated world's retailers hold stock LGL has run out of (at 50 retailers, one
        # has 34 of its 120 SKUs): their first sync is what an operator allows once with
        # ``lgl-sync inventory allow-zero``, allowed here for every run.
        bench_env = {"LGL_WATERMARK_OVERLAP_MINUTES": "0", "LGL_MAX_ZERO_SHARE": "1"}
        os.environ.update(bench_env)
        try:
            measured_new, _, quiet = _dagster(new, steps, cycle, cycle, workers=CYCLE_WORKERS)
            # Production mode: the same, each run a process forked from a preloaded one, as the
            # deployment's launcher starts them; its CPU per 10 minutes at the schedules' cadence.
            busy, _, calm = _dagster(
                prod, steps, cycle, cycle, workers=CYCLE_WORKERS, fork_per_run=True
            )
        finally:
            for name in bench_env:
                del os.environ[name]
        lgl_quiet = quiet.per_store.get(LGL_HANDLE, (0, 0))
        lgl = was.old_client(LGL_HANDLE)
        lgl_location = was.location(LGL_HANDLE, LGL_WAREHOUSE)
        with Measure(was.sandbox) as measured_old:
            for key in keys:
                old.import_orders(was.old_client(key), lgl, key)
            ship_some(was.sandbox.stores[LGL_HANDLE], random.Random(1), 0.6, 0.3)
            for key in keys:
                location = was.location(key, RETAILER_LGL_LOCATION)
                old.push_first_shipments(lgl, was.old_client(key), key, location)
                old.sync_inventory(lgl, was.old_client(key), lgl_location, location)
        return {
            "benchmark": "cycle",
            "size": retailers,
            "new": measured_new.row(
                dagster_runs=measured_new.runs,
                cpu_seconds_per_run=round(measured_new.cpu_per_run, 2),
                peak_rss_mb=round(measured_new.peak_rss_mb),
            ),
            "steady_state": quiet.row(
                dagster_runs=quiet.runs,
                cpu_seconds_per_run=round(quiet.cpu_per_run, 2),
                lgl_requests=lgl_quiet[0],
                lgl_cost_points=round(lgl_quiet[1]),
            ),
            "production": {
                "cpu_seconds_per_run": round(busy.cpu_per_run, 2),
                "cpu_seconds_per_10_min": round(_per_ten_minutes(busy.cpu_by_flow)),
                "quiet_cpu_seconds_per_10_min": round(_per_ten_minutes(calm.cpu_by_flow)),
                "wall_seconds": round(busy.wall, 1),
            },
            "workers": CYCLE_WORKERS,
            "old": measured_old.row(),
        }
    finally:
        new.close()
        was.close()
        prod.close()


# Runs at once in the cycle benchmark, as the daemon starts them (it allows 10): four keep both
# cores busy while runs wait on Shopify and Postgres.
CYCLE_WORKERS = 4
# Runs of each flow per 10 minutes at the schedules' default cadence: orders and pushback every
# 10 minutes, the LGL snapshot every 5 and each retailer's inventory after it.
PER_TEN_MINUTES = {"orders": 1, "fulfillments": 1, "snapshot": 2, "inventory": 2}


def _per_ten_minutes(cpu_by_flow: dict[str, float]) -> float:
    """CPU seconds per 10 minutes from one cycle's CPU per flow."""
    return sum(PER_TEN_MINUTES.get(flow, 1) * cpu for flow, cpu in cpu_by_flow.items())


# -- report -------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    if not b:
        return "-"
    return f"{a / b:,.1f}x" if a / b < 10 else f"{a / b:,.0f}x"


def _per(requests: int, imported: int) -> str:
    return f"{requests / imported:.1f}" if imported else "-"


def _production_notes(row: dict) -> list[str]:
    """The cycle's runs at once, and production mode (a forked process per run)."""
    p = row.get("production")
    if not p:
        return []
    return [
        f"{row['workers']} runs at once",
        f"production mode, a process per run: {p['wall_seconds']:.1f} s, CPU "
        f"{p['cpu_seconds_per_run']:.2f} s/run, {p['cpu_seconds_per_10_min']:,} CPU-s per 10 "
        f"minutes ({p['quiet_cpu_seconds_per_10_min']:,} with nothing new)",
    ]


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'benchmark':<10} {'size':>7} | {'requests old':>12} {'new':>7} {'old/new':>8} "
        f"{'floor':>6} | {'cost old':>10} {'new':>8} {'old/new':>8} | {'wall old s':>10} "
        f"{'new s':>6} | {'Shopify floor old s':>19} {'new s':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        o, n, f = row["old"], row["new"], row.get("floor", {})
        note = (
            f"  (old extrapolated from {o['extrapolated_from']:,})"
            if o.get("extrapolated_from")
            else ""
        )
        if "imported" in n:
            per = [_per(r["requests"], r["imported"]) for r in (o, n)]
            note += (
                f"  (imported: old {o['imported']}, new {n['imported']}; requests per imported"
                f" order: old {per[0]}, new {per[1]})"
            )
        if n.get("peak_rss_mb") and row["benchmark"] == "inventory":
            note += f"  (peak RSS of the project's process: {n['peak_rss_mb']} MB)"
        if "next_sync" in row:
            x = row["next_sync"]
            note += (
                f"  (the sync each cycle after, 1 % changed: {x['requests']} requests, "
                f"{x['cost_points']:,} points, {x['wall_seconds']:.1f} s, {x['peak_rss_mb']} MB)"
            )
        if o.get("their_query_refused_at"):
            note += (
                f"  (the scripts' own orders query refused at {o['their_query_refused_at']:,} "
                "points; a cheaper stand-in ran)"
            )
        if "one_at_a_time" in row:
            today = row["one_at_a_time"]["wall_seconds"]
            note += (
                f"  (every store {row['round_trip_ms']} ms away; one order at a time, as "
                f"before: {today:.1f} s, {_ratio(today, n['wall_seconds'])} slower)"
            )
        if "steady_state" in row:
            q = row["steady_state"]
            note += (
                f"  (CPU {n['cpu_seconds_per_run']:.2f} s/run; a cycle with nothing new: "
                f"{q['wall_seconds']:.1f} s, {q['lgl_cost_points']:,} points at LGL)"
            )
            note += "".join(f"  ({x})" for x in _production_notes(row))
        print(
            f"{row['benchmark']:<10} {row['size']:>7,} | {o['requests']:>12,} {n['requests']:>7,} "
            f"{_ratio(o['requests'], n['requests']):>8} {f.get('requests', '-'):>6} | "
            f"{o['cost_points']:>10,} {n['cost_points']:>8,} "
            f"{_ratio(o['cost_points'], n['cost_points']):>8} | {o['wall_seconds']:>10,.1f} "
            f"{n['wall_seconds']:>6.1f} | {o['throttle_floor_seconds']:>19,.1f} "
            f"{n['throttle_floor_seconds']:>6.1f}{note}"
        )


def markdown_table(rows: list[dict]) -> str:
    """The README's table, from the saved results (``--report --markdown``)."""
    lines = [
        "| benchmark | requests old / new (old/new) | floor | cost points old / new | Shopify "
        "time floor old / new | wall old / new (sandbox) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        o, n, f = row["old"], row["new"], row.get("floor", {})
        notes = []
        if o.get("extrapolated_from"):
            notes.append(f"old measured on {o['extrapolated_from']:,} SKUs and scaled")
        if n.get("peak_rss_mb"):
            notes.append(f"peak RSS {n['peak_rss_mb']} MB")
        if "next_sync" in row:
            x = row["next_sync"]
            notes.append(
                f"each cycle after (1 % changed): {x['requests']} requests, "
                f"{x['cost_points']:,} points, {x['wall_seconds']:.1f} s, {x['peak_rss_mb']} MB"
            )
        if "imported" in n:
            notes.append(f"imported old {o['imported']} / new {n['imported']}")
        if o.get("their_query_refused_at"):
            notes.append(f"scripts' query refused at {o['their_query_refused_at']:,} points")
        if "one_at_a_time" in row:
            today = row["one_at_a_time"]["wall_seconds"]
            notes.append(
                f"one at a time (before): {today:.1f} s, "
                f"{_ratio(today, n['wall_seconds'])} slower; {n.get('order_creates')} creates"
            )
        if "steady_state" in row:
            q = row["steady_state"]
            notes.append(
                f"{n['dagster_runs']} runs, CPU {n['cpu_seconds_per_run']:.2f} s/run; nothing "
                f"new: {q['wall_seconds']:.1f} s, {q['lgl_cost_points']:,} points at LGL"
            )
            notes += _production_notes(row)
        lines.append(
            f"| {row['benchmark']} {row['size']:,} | {o['requests']:,} / {n['requests']:,} "
            f"({_ratio(o['requests'], n['requests'])}) | {f.get('requests', '-')} | "
            f"{o['cost_points']:,} / {n['cost_points']:,} | {o['throttle_floor_seconds']:,.0f} s"
            f" / {n['throttle_floor_seconds']:,.0f} s | {o['wall_seconds']:,.1f} s / "
            f"{n['wall_seconds']:,.1f} s | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = [
        f"{r['benchmark']} {r['size']:,}"
        + (
            f"\nimported old {r['old']['imported']} / new {r['new']['imported']}"
            if "imported" in r["new"]
            else ""
        )
        for r in rows
    ]
    x = range(len(rows))
    for ax, key, title in (
        (axes[0], "requests", "Shopify requests (log)"),
        (axes[1], "throttle_floor_seconds", "Shopify time floor, s (log)"),
    ):
        ax.bar([i - 0.2 for i in x], [max(r["old"][key], 0.1) for r in rows], 0.4, label="old")
        ax.bar([i + 0.2 for i in x], [max(r["new"][key], 0.1) for r in rows], 0.4, label="LGL Sync")
        ax.set_yscale("log")
        ax.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


ORDER = ("inventory", "orders", "cycle")


def _save(rows: list[dict], machine: str) -> None:
    """Written after every benchmark, so a long run interrupted keeps what it measured. Rows
    of benchmarks this run did not measure (``--orders 1000`` alone) are kept, each with the
    date it was measured on."""
    RESULTS.mkdir(exist_ok=True)
    today = time.strftime("%Y-%m-%d")
    for row in rows:
        row.setdefault("measured_on", today)
    measured = {(r["benchmark"], r["size"]) for r in rows}
    saved = RESULTS / "bench.json"
    document = json.loads(saved.read_text()) if saved.exists() else {}  # capacity, fairness kept
    kept = [r for r in document.get("rows", []) if (r["benchmark"], r["size"]) not in measured]
    merged = sorted(kept + rows, key=lambda r: (ORDER.index(r["benchmark"]), r["size"]))
    document.update(machine=machine, sandbox_speed=SPEED, rows=merged)
    partial = RESULTS / "bench.json.tmp"
    partial.write_text(json.dumps(document, indent=2))
    partial.replace(RESULTS / "bench.json")


def main() -> None:
    parser = argparse.ArgumentParser(description="LGL Sync benchmarks against the old scripts")
    parser.add_argument("--inventory", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--orders", type=int, nargs="*", default=[100, 1_000])
    parser.add_argument("--cycle", type=int, nargs="*", default=[4, 50])
    parser.add_argument(
        "--report", action="store_true", help="print the table and redraw the chart from bench.json"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --report: the README's table instead"
    )
    options = parser.parse_args()
    if options.report:
        saved = json.loads((RESULTS / "bench.json").read_text())
        if options.markdown:
            print(markdown_table(saved["rows"]))
            return
        print_table(saved["rows"])
        print(f"\nmachine: {saved['machine']}; sandbox clock x{saved['sandbox_speed']:.0f}")
        chart(saved["rows"], RESULTS / "bench.png")
        return
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    plan = [(bench_inventory, "inventory", "SKUs", n) for n in options.inventory]
    plan += [(bench_orders, "orders", "orders", n) for n in options.orders]
    plan += [(bench_cycle, "whole cycle", "retailers", n) for n in options.cycle]
    rows: list[dict] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with tempfile.TemporaryDirectory() as tmp, Progress(*columns, transient=False) as progress:
        overall = progress.add_task(f"benchmarks 0/{len(plan)}", total=len(plan))
        for done, (bench, name, unit, size) in enumerate(plan):
            task = progress.add_task(f"  {name}, {size:,} {unit}: old and new", total=1)
            rows.append(bench(size, Path(tmp)))
            progress.update(task, completed=1)
            o, n = rows[-1]["old"], rows[-1]["new"]
            progress.console.print(
                f"  {name}, {size:,} {unit}: requests old {o['requests']:,} / new "
                f"{n['requests']:,} ({_ratio(o['requests'], n['requests'])}), wall old "
                f"{o['wall_seconds']:,.1f} s / new {n['wall_seconds']:,.1f} s"
            )
            progress.update(
                overall, completed=done + 1, description=f"benchmarks {done + 1}/{len(plan)}"
            )
            _save(rows, machine)
    print()
    print_table(rows)
    print(f"\nmachine: {machine}; sandbox clock x{SPEED:.0f}")
    chart(rows, RESULTS / "bench.png")
    print(f"results: {RESULTS / 'bench.json'}, {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    main()
