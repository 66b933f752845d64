"""Webhook latency in production shape (``make bench-webhooks``; ``make bench`` runs it too).

The sandbox runs here on the real clock with its webhooks on. The receiver (``lgl-sync web
serve``) and the Dagster daemon run as their own processes; the daemon's sensors start runs,
each in its own process with the in-process executor set on ``Definitions``; the schedules are
stopped, so every run comes from a webhook. Events arrive at about 20 a minute across the
retailers: paid orders at retailers, shipments at LGL, stock changes at LGL. For each event the
time until it is visible on the other side is measured (the sandbox's own state, polled every
0.2 s): a retailer's order to its LGL order, an LGL shipment to the retailer's tracking, an LGL
stock change to the retailer's level.

"Polling only" is today's cadence: the wait for the next tick of the flow's cron (10, 10 and 5
minutes) plus the same run's measured duration. CPU-seconds are the receiver's and the daemon's
with every run process they reaped (``wait4``'s rusage), per 10 minutes of wall time.

A burst of 500 LGL ``inventory_levels/update`` deliveries ends the bench: each retailer's stock
runs it starts (``sync_stock_changes``, every retailer carrying a named item in one run) and any
``inventory_snapshot`` run are counted over the minute after it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg2
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.models import TrackingInfo
from shopify_sandbox.server import SandboxServer

from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.devkit.wiring import sandbox_environment
from lgl_sync.devkit.world import LGL_HANDLE, LGL_WAREHOUSE, load_world
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.retailer import token_variable
from lgl_sync.sync import subscriptions

RESULTS = Path(__file__).with_name("results")
PG = os.environ.get("LGL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CRON_MINUTES = {"order": 10, "shipment": 10, "stock": 5}


@dataclass
class Event:
    kind: str  # order | shipment | stock
    at: float
    retailer: str
    key: object  # what shows it arrived
    done: float | None = None


@dataclass
class World:
    sandbox: Sandbox
    locations: dict[str, int]  # retailer -> its LGL location id
    events: list[Event] = field(default_factory=list)
    shipped: set[int] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database(name: str) -> str:
    admin = psycopg2.connect(PG)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{PG.rpartition('/')[0]}/{name}"


def _environment(sandbox: Sandbox, server: SandboxServer, home: Path, web: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    control = _database(f"lgl_bench_hooks_{tag}")
    env = sandbox_environment(sandbox, server.url, control)
    env |= {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": _database(f"lgl_bench_dagster_{tag}"),
        "LGL_PUBLIC_URL": f"http://127.0.0.1:{web}",
        "LGL_SCHEDULES": "stopped",
        "LGL_WEBHOOK_DEBOUNCE_SECONDS": "2",
        "SHOPIFY_LGL_CLIENT_SECRET": sandbox.stores[LGL_HANDLE].api_secret,
        "LOG_DIR": str(home / "logs"),
    }
    for handle, store in sandbox.stores.items():
        if handle != LGL_HANDLE:
            env[token_variable(handle).replace("_TOKEN", "_CLIENT_SECRET")] = store.api_secret
    return env


def _subscribe(sandbox: Sandbox, server: SandboxServer, engine) -> None:
    from lgl_sync.shopify.client import ShopifyClient

    endpoint = subscriptions.endpoint()
    for handle, store in sandbox.stores.items():
        client = ShopifyClient(domain=server.store_url(handle), token=store.token)
        if handle == LGL_HANDLE:
            wanted = subscriptions.LGL_TOPICS
        else:
            retailer = next(r for r in list_retailers(engine) if r.id == handle)
            wanted = subscriptions.retailer_topics(retailer)
        subscriptions.ensure(client, endpoint, wanted, repair=True)


# -- events ---------------------------------------------------------------------------------------

ADDRESS = {
    "firstName": "Bench", "lastName": "Buyer", "address1": "2 Elm St", "city": "Austin",
    "provinceCode": "TX", "zip": "78701", "countryCode": "US",
}  # fmt: skip


def _order(world: World, rng: random.Random) -> Event:
    retailer = rng.choice(sorted(world.locations))
    store = world.sandbox.stores[retailer]
    with store.lock:
        lgl = world.sandbox.stores[LGL_HANDLE]
        variants = [
            v for v in store.variants.values()
            if v.ships_from_location_id == world.locations[retailer]
            and v.sku and lgl.variants_by_sku(v.sku)  # not the SKU LGL lacks (held)
        ]  # fmt: skip
        order = store.create_order(
            lines=[{"variant_id": rng.choice(variants).id, "quantity": 1}],
            email="bench@example.com",
            shipping_address=ADDRESS,
        )
    return Event("order", time.time(), retailer, f"{retailer}:{order.id}")


def _shipment(world: World, rng: random.Random, n: int) -> Event | None:
    lgl = world.sandbox.stores[LGL_HANDLE]
    done = [e for e in world.events if e.kind == "order" and e.done and e.key not in world.shipped]
    if not done:
        return None
    event = rng.choice(done)
    world.shipped.add(event.key)
    with lgl.lock:
        order = next(o for o in lgl.orders.values() if o.source_identifier == event.key)
        fo = lgl.fulfillment_orders[order.fulfillment_order_ids[0]]
        lgl.create_fulfillment([(fo, None)], [TrackingInfo("UPS", f"1ZBENCH{n:05d}", None)], True)
    source = int(str(event.key).split(":", 1)[1])
    return Event("shipment", time.time(), event.retailer, (source, f"1ZBENCH{n:05d}"))


def _stock(world: World, rng: random.Random) -> Event:
    retailer = rng.choice(sorted(world.locations))
    store, lgl = world.sandbox.stores[retailer], world.sandbox.stores[LGL_HANDLE]
    warehouse = next(loc.id for loc in lgl.locations.values() if loc.name == LGL_WAREHOUSE)
    with store.lock, lgl.lock:
        # An item LGL has 10 or more of, so 7 more shows at the retailer (at
        # 0 or below, LGL's own sales meanwhile can keep its target at 0, and nothing shows).
        variants = [
            v for v in store.variants.values()
            if v.sku and lgl.variants_by_sku(v.sku) and _lgl_level(lgl, v.sku, warehouse) >= 10
        ]  # fmt: skip
        variant = rng.choice(variants)
        level = lgl.inventory_items[lgl.variants_by_sku(variant.sku)[0].inventory_item_id]
        level = level.levels[warehouse]
        lgl.set_quantity(level, "available", level.quantities["available"] + 7)
        mine = store.inventory_items[variant.inventory_item_id].levels[world.locations[retailer]]
    return Event("stock", time.time(), retailer, (mine, mine.updated_at))


def _lgl_level(lgl, sku: str, warehouse: int) -> int:
    item = lgl.inventory_items[lgl.variants_by_sku(sku)[0].inventory_item_id]
    return item.levels[warehouse].quantities["available"] if warehouse in item.levels else -1


def _arrived(world: World, event: Event) -> bool:
    if event.kind == "order":
        lgl = world.sandbox.stores[LGL_HANDLE]
        return any(o.source_identifier == event.key for o in list(lgl.orders.values()))
    store = world.sandbox.stores[event.retailer]
    if event.kind == "shipment":
        source, number = event.key
        order = store.orders[source]
        return any(
            t.number == number
            for f in list(order.fulfillment_ids)
            for t in store.fulfillments[f].tracking_info
        )
    level, before = event.key
    return level.updated_at > before


def _check(world: World) -> None:
    for event in world.events:
        if event.done is None and _arrived(world, event):
            event.done = time.time()


# -- processes and the run ------------------------------------------------------------------------


def _subreaper() -> None:
    """Orphans of the processes (a run process whose zygote or code server exited first) are
    reparented here, so their CPU time is still counted when they are reaped (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _start(env: dict, home: Path, web: int) -> list[subprocess.Popen]:
    _subreaper()
    bin_dir = Path(sys.executable).parent
    log = open(home / "processes.log", "ab")  # noqa: SIM115 - closed with the processes
    common = {"env": env, "cwd": home, "stdout": log, "stderr": log, "start_new_session": True}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "lgl_sync.cli", "web", "serve", "--port", str(web)], **common
        ),
        subprocess.Popen(
            [bin_dir / "dagster-daemon", "run", "-m", "lgl_sync.definitions"], **common
        ),
    ]


def _stop(processes: list[subprocess.Popen]) -> float:
    """Stops the processes; the CPU-seconds they and the run processes they reaped used."""
    cpu = 0.0
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    for process in processes:
        while time.monotonic() < deadline:
            pid, _status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                cpu += usage.ru_utime + usage.ru_stime
                break
            time.sleep(0.2)
        else:
            os.killpg(process.pid, signal.SIGKILL)
            _pid, _status, usage = os.wait4(process.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime
    for process in processes:  # whatever of theirs is left (a run still exiting)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    while time.monotonic() < deadline + 30:  # orphans reparented here by _subreaper
        try:
            pid, _status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if not pid:
            time.sleep(0.1)
            continue
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def _wait(world: World, pending: list[Event], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(e.done is None for e in pending):
        _check(world)
        time.sleep(0.2)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _summary(world: World) -> dict:
    rows = {}
    for kind, minutes in CRON_MINUTES.items():
        events = [e for e in world.events if e.kind == kind]
        # An event that never arrived counts as the slowest, not as left out.
        hooked = [e.done - e.at if e.done is not None else math.inf for e in events]
        polled = [
            (minutes * 60 - e.at % (minutes * 60)) + (e.done - e.at) for e in events if e.done
        ]
        rows[kind] = {
            "events": len(events),
            "arrived": sum(1 for e in events if e.done is not None),
            "webhook_p50_s": _percentile(hooked, 0.5),
            "webhook_p95_s": _percentile(hooked, 0.95),
            "polling_p50_s": _percentile(polled, 0.5),
            "polling_p95_s": _percentile(polled, 0.95),
        }
    return rows


def _burst(world: World, instance: dg.DagsterInstance, debounce: float) -> dict:
    lgl = world.sandbox.stores[LGL_HANDLE]
    started = time.time()
    with lgl.lock:
        items = list(lgl.inventory_items.values())
        for n in range(500):
            level = next(iter(items[n % len(items)].levels.values()))
            lgl.set_quantity(level, "available", level.quantities["available"] + 1)
    time.sleep(60)

    def made(job: str) -> list:
        return [
            r
            for r in instance.get_run_records(dg.RunsFilter(job_name=job), limit=500)
            if r.create_timestamp.timestamp() >= started
        ]

    runs = made("sync_stock_changes")
    covered = [  # (when, retailer) for every retailer each run set
        (r.create_timestamp.timestamp(), retailer)
        for r in runs
        for retailer in r.dagster_run.run_config["ops"]["stock_changes"]["config"]["items"]
    ]
    per_retailer = Counter(retailer for _when, retailer in covered)
    per_window = max(  # runs covering one retailer within one debounce window
        (
            sum(1 for t, r in covered if r == retailer and when <= t < when + debounce)
            for when, retailer in covered
        ),
        default=0,
    )
    return {
        "deliveries": 500,
        "items": len(items),
        "window_s": 60,
        "debounce_s": debounce,
        "inventory_snapshot_runs": len(made("inventory_snapshot")),
        "stock_changes_runs": len(runs),
        "runs_per_retailer_max": max(per_retailer.values(), default=0),
        "runs_per_retailer_per_debounce_window_max": per_window,
    }


def _warm_up(world: World, rng: random.Random, instance: dg.DagsterInstance) -> None:
    """One order per retailer imported, and every retailer's stock synced in full once (the
    first stock change takes a snapshot; the automation syncs each retailer after it), before
    anything is measured."""
    first = [_order(world, rng) for _ in range(len(world.locations) * 2)]
    first.append(_stock(world, rng))
    world.events += first
    _wait(world, first, 300)
    deadline = time.monotonic() + 300
    key = dg.AssetKey("retailer_inventory")
    while time.monotonic() < deadline:
        if set(world.locations) <= instance.get_materialized_partitions(key):
            break
        time.sleep(1)
    world.events = []


def _generate(world: World, rng: random.Random, events: int, per_minute: float) -> None:
    gap = 60.0 / per_minute
    for n in range(events):
        roll = rng.random()
        made = None
        if roll < 0.25:
            made = _shipment(world, rng, n)
        elif roll < 0.45:
            made = _stock(world, rng)
        made = made or _order(world, rng)
        world.events.append(made)
        _wait(world, [], 0)
        until = time.monotonic() + gap
        while time.monotonic() < until:
            _check(world)
            time.sleep(0.2)
        if n % 20 == 0:
            arrived = sum(1 for e in world.events if e.done)
            print(f"  {n + 1}/{events} events sent, {arrived} arrived", flush=True)


def run(events: int = 200, retailers: int = 10, per_minute: float = 20.0, seed: int = 3) -> dict:
    rng = random.Random(seed)
    sandbox = Sandbox(SandboxClock(speed=1.0))
    load_world(sandbox, {"skus": 60, "orders": 3, "seed": seed, "retailers": retailers})
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
        SandboxServer(sandbox) as server,
    ):
        home = Path(tmp)
        web = _free_port()
        env = _environment(sandbox, server, home, web)
        os.environ.update(env)
        prepare_dagster_home(home, env["DAGSTER_PG_URL"])
        engine = create_engine(env["LGL_DATABASE_URL"])
        locations = {
            r.id: int(r.target_location_id.rsplit("/", 1)[-1]) for r in list_retailers(engine)
        }
        world = World(sandbox, locations)
        _subscribe(sandbox, server, engine)
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("retailers", sorted(locations))
            processes = _start(env, home, web)
            began = time.monotonic()
            try:
                print("warming up (first runs sweep each retailer)...", flush=True)
                _warm_up(world, rng, instance)
                measured_from = time.monotonic()
                _generate(world, rng, events, per_minute)
                _wait(world, world.events, 180)
                measured = time.monotonic() - measured_from
                burst = _burst(world, instance, float(env["LGL_WEBHOOK_DEBOUNCE_SECONDS"]))
                runs = len(instance.get_run_records(limit=5000))
            finally:
                wall = time.monotonic() - began
                cpu = _stop(processes)
        engine.dispose()
    return {
        "benchmark": "webhooks",
        "retailers": retailers,
        "events_per_minute": per_minute,
        "measured_s": round(measured, 1),
        "flows": _summary(world),
        "runs": runs,
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "cpu_s_per_10_min": round(cpu / wall * 600, 1),
        "cpu_s_per_run": round(cpu / max(runs, 1), 2),  # the receiver's and daemon's included
        "burst": burst,
        "deliveries": sandbox.webhooks.counters.as_json(),
    }


def print_summary(result: dict) -> None:
    print(f"\nWebhooks: {result['retailers']} retailers, {result['events_per_minute']}/min")
    print(
        f"{'flow':<10} {'events':>6} {'webhook p50':>12} {'p95':>8} {'polling p50':>12} {'p95':>8}"
    )
    for kind, row in result["flows"].items():
        cells = [
            row[k] for k in ("webhook_p50_s", "webhook_p95_s", "polling_p50_s", "polling_p95_s")
        ]
        text = [f"{c:.1f} s" if c is not None else "-" for c in cells]
        print(
            f"{kind:<10} {row['events']:>6} {text[0]:>12} {text[1]:>8} {text[2]:>12} {text[3]:>8}"
        )
    print(
        f"runs {result['runs']}, CPU {result['cpu_s']} s over {result['wall_s']} s "
        f"= {result['cpu_s_per_10_min']} CPU-s per 10 min; burst of 500 stock webhooks: "
        f"{result['burst']['stock_changes_runs']} sync_stock_changes run(s), a retailer in at "
        f"most {result['burst']['runs_per_retailer_max']} "
        f"({result['burst']['runs_per_retailer_per_debounce_window_max']} per debounce window), "
        f"{result['burst']['inventory_snapshot_runs']} inventory_snapshot run(s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook latency against polling")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--retailers", type=int, default=10)
    parser.add_argument("--per-minute", type=float, default=20.0)
    args = parser.parse_args()
    result = run(args.events, args.retailers, args.per_minute)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "webhooks.json").write_text(json.dumps(result, indent=2, default=str))
    print_summary(result)


if __name__ == "__main__":
    main()
