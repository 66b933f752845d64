"""``lgl-sync demo``: the whole system on the sandbox, through Dagster, twice.

The sandbox's default scenario is served in-process; a SQLite control plane under
$DAGSTER_HOME gets its four retailers; the environment points the project's Definitions at both,
exactly as production's environment points them at Shopify and Supabase. Each cycle runs the
real jobs on the persistent instance (so `dagster dev` shows the runs afterwards): import
orders, LGL's warehouse ships some orders (partial shipments included), push fulfillments, LGL
snapshot and every retailer's inventory. The second cycle shows nothing is duplicated. The
summary is checked against the sandbox's own state.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.server import SandboxServer

from lgl_sync.devkit.audit import audit
from lgl_sync.devkit.history import Pattern, generate, now_hour
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.wiring import sandbox_environment
from lgl_sync.devkit.world import LGL_HANDLE, RETAILER_LGL_LOCATION, load_world
from lgl_sync.flows import Flow
from lgl_sync.ops.instance import PROJECT_ROOT, prepare_dagster_home
from lgl_sync.ops.runs import run_flow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # progress bar instead


def _count(result: dg.ExecuteInProcessResult, flow: str, summary: Counter, cycle: int) -> None:
    if flow in (Flow.ORDERS, Flow.FULFILLMENTS):
        writer = {Flow.ORDERS: "imported_lgl_orders", Flow.FULFILLMENTS: "retailer_fulfillments"}
        for outcome in result.output_for_node(writer[Flow(flow)]):
            summary[f"{outcome.status}_{cycle}"] += 1
    else:
        summary[f"skus_{cycle}"] += result.output_for_node("retailer_inventory").written


def _levels(store) -> dict[int, int]:
    """Available quantity per inventory item at the retailer store's LGL location."""
    at_lgl = next(loc.id for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION)
    return {
        level.item_id: level.quantities.get("available", 0)
        for level in store.inventory_levels.values()
        if level.location_id == at_lgl
    }


DEMO_MARK = ".demo_control_plane"


def _demo_control_plane(home: Path) -> Path:
    """The control plane `status`, `health` and `retailer list` read by default
    (``$DAGSTER_HOME/lgl_sync.db``), emptied for the demo's new sandbox, but only when the
    demo made it: a file holding anything else is left alone and the demo stops. With
    ``LGL_DATABASE_URL`` set, the demo keeps to a file of its own beside it."""
    if os.environ.get("LGL_DATABASE_URL"):
        path = home / "demo_control_plane.db"
        path.unlink(missing_ok=True)
        return path
    path, mark = home / "lgl_sync.db", home / DEMO_MARK
    if path.exists() and not mark.exists():
        raise SystemExit(
            f"{path} holds a control plane the demo did not make; run the demo with another "
            "DAGSTER_HOME (or move that file) so nothing of yours is replaced"
        )
    path.unlink(missing_ok=True)
    mark.write_text("lgl_sync.db here is the demo's: `lgl-sync demo` replaces it\n")
    return path


SERVICE_RETAILER = "test-retail-store"


def run_demo() -> None:
    started = time.monotonic()
    console = Console(width=max(Console().width, 100))
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    control_db = _demo_control_plane(home)  # the sandbox is new each time, so is this
    sandbox = Sandbox()
    # test-retail-store uses the other location model: LGL's own fulfillment service.
    load_world(sandbox, {"name": "default", "fulfillment_service": [SERVICE_RETAILER]})
    rng = random.Random(7)
    with SandboxServer(sandbox) as server:
        os.environ.update(sandbox_environment(sandbox, server.url, f"sqlite:///{control_db}"))
        from lgl_sync.definitions import defs  # reads the environment just set

        keys = [h for h in sandbox.stores if h != LGL_HANDLE]
        summary: dict[str, Counter] = {k: Counter() for k in keys}
        shipped = Counter()
        steps = 2 * (3 * len(keys) + 2)
        with (
            dg.DagsterInstance.get() as instance,
            Progress(
                TextColumn("{task.description:<48}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            known = set(instance.get_dynamic_partitions("retailers"))
            instance.add_dynamic_partitions("retailers", [k for k in keys if k not in known])
            task = progress.add_task("starting", total=steps + len(keys) * len(REPORT_JOBS))
            progress.update(task, description="90 days of history for the reports")
            _history(keys)
            for cycle in (1, 2):
                plan = [(Flow.ORDERS, k) for k in keys] + [("ship", None)]
                plan += [(Flow.FULFILLMENTS, k) for k in keys] + [("snapshot", None)]
                plan += [(Flow.INVENTORY, k) for k in keys]
                for flow, key in plan:
                    progress.update(task, description=f"cycle {cycle}: {flow} {key or ''}")
                    step = Step(cycle, flow, key)
                    _run_step(step, sandbox, defs, instance, rng, summary, shipped)
                    progress.advance(task)
            reports = _reports(defs, instance, keys, progress, task)
        _print_summary(console, sandbox, keys, summary, shipped)
        _print_reports(console, keys, reports)
    console.print(f"Finished in {time.monotonic() - started:.1f}s. Open the UI on the same runs:")
    console.print(
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w {PROJECT_ROOT / 'workspace.yaml'}",
        soft_wrap=True,
    )


@dataclass(frozen=True)
class Step:
    cycle: int
    flow: str  # a flow, "ship" (the warehouse) or "snapshot" (LGL's stock)
    key: str | None  # the retailer


def _run_step(step: Step, sandbox, defs, instance, rng, summary, shipped) -> None:
    """One step of a demo cycle, counted in ``summary`` (per retailer) and ``shipped``."""
    cycle, flow, key = step.cycle, step.flow, step.key
    if flow == "ship":
        # First cycle: half the orders, some in part; second: everything left.
        share, partial = (0.5, 0.4) if cycle == 1 else (1.0, 0.0)
        shipped[cycle] = ship_some(sandbox.stores[LGL_HANDLE], rng, share, partial)
        return
    before = _levels(sandbox.stores[key]) if flow == Flow.INVENTORY else {}
    result = run_flow(defs, instance, flow, key, QUIET)
    if not result.success:
        raise click.ClickException(f"cycle {cycle}: {flow} failed for {key or 'LGL'}; see the UI")
    if key:
        _count(result, flow, summary[key], cycle)
    if flow == Flow.INVENTORY:
        after = _levels(sandbox.stores[key])
        summary[key][f"changed_{cycle}"] = sum(after[item] != before.get(item) for item in after)


def _mismatches(state, keys, summary) -> list[str]:
    """Where the summary and the sandbox's own stores disagree."""
    problems = []
    for key in keys:
        found, seen = summary[key], state[key]
        if seen.lgl_orders != found["imported_1"] + found["imported_2"]:
            problems.append(f"{key}: {seen.lgl_orders} LGL orders, summary says otherwise")
        if found["pushed_1"] + found["pushed_2"] != seen.lgl_shipments:
            problems.append(f"{key}: {seen.lgl_shipments} LGL shipments, pushed a different number")
        for cycle in (1, 2):
            if found[f"skus_{cycle}"] != found[f"changed_{cycle}"]:
                problems.append(
                    f"{key}: cycle {cycle} set {found[f'skus_{cycle}']} SKUs, "
                    f"{found[f'changed_{cycle}']} levels changed in the store"
                )
        if seen.duplicated_sources or seen.duplicated_shipments or seen.missing:
            problems.append(f"{key}: duplicated or missing orders or shipments")
    return problems


def _print_summary(console, sandbox, keys, summary, shipped) -> None:
    table = Table(
        title="Per retailer",
        caption="cycle 1 + cycle 2; API = Shopify requests and cost points, both cycles",
    )
    columns = ("retailer", "imported", "held", "pushed", "SKUs set", "API req", "API cost")
    for column in columns:
        table.add_column(column, justify="left" if column == "retailer" else "right", no_wrap=True)
    for key in keys:
        found, usage = summary[key], sandbox.stores[key].usage
        table.add_row(
            key,
            f"{found['imported_1']} + {found['imported_2']}",
            str(found["held_1"]),
            f"{found['pushed_1']} + {found['pushed_2']}",
            f"{found['skus_1']} + {found['skus_2']}",
            str(usage.requests),
            f"{usage.cost_actual:,.0f}",
        )
    lgl = sandbox.stores[LGL_HANDLE].usage
    table.add_row("LGL store", "", "", "", "", f"{lgl.requests:,}", f"{lgl.cost_actual:,.0f}")
    console.print(table)
    # The summary against the stores themselves.
    state = audit(sandbox)
    problems = _mismatches(state, keys, summary)
    if problems:
        raise click.ClickException(
            "the stores do not match the summary:\n  " + "\n  ".join(problems)
        )
    orders = sum(s.lgl_orders for s in state.values())
    shipments = sum(s.lgl_shipments for s in state.values())
    console.print(
        f"Checked against the sandbox: {orders} LGL orders, each from one retailer order once; "
        f"{shipments} LGL shipments ({shipped[1]} in cycle 1, {shipped[2]} in cycle 2), each on "
        "its retailer order exactly once with its tracking; "
        f"{sum(summary[k]['changed_1'] + summary[k]['changed_2'] for k in keys)} stock levels "
        "changed at the retailers' LGL locations, as many as SKUs set."
    )


# -- reports over the history ---------------------------------------------------------------

REPORT_JOBS = ("monthly_usage_job", "stock_insight_job", "order_anomalies_job")
DEMO_PATTERN = Pattern(days=91, orders_per_day=90, skus=40)


def _history(keys: list[str]) -> None:
    """91 days of generated history per retailer (``devkit/history.py``), ending an hour ago:
    the demo's own runs add today's on top."""
    from lgl_sync.control_plane.database import create_engine

    engine = create_engine()
    end = now_hour() - timedelta(hours=1)
    for index, key in enumerate(keys):
        generate(engine, key, end, replace(DEMO_PATTERN, seed=index + 1))


def _reports(defs, instance, keys: list[str], progress, task) -> dict[str, dict]:
    """Each retailer's reports as Dagster runs: last month's usage (not emailed), stock insight
    and anomalies; what they found, per retailer."""
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m-01")
    found: dict[str, dict] = {}
    for key in keys:
        runs = {
            "monthly_usage_job": (
                dg.MultiPartitionKey({"month": last_month, "retailer": key}),
                {"ops": {"monthly_usage": {"config": {"email": False}}}},
            ),
            "stock_insight_job": (key, None),
            "order_anomalies_job": (key, None),
        }
        outputs = {}
        for job, (partition, config) in runs.items():
            progress.update(task, description=f"reports: {job.removesuffix('_job')} {key}")
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, run_config=config, raise_on_error=False
            )
            if not result.success:
                raise click.ClickException(f"the {job} run failed for {key}; see the UI")
            outputs[job] = result.output_for_node(job.removesuffix("_job"))
            progress.advance(task)
        found[key] = outputs
    return found


def _print_reports(console, keys: list[str], reports: dict[str, dict]) -> None:
    table = Table(
        title="Reports (on 91 days of generated history plus the demo's runs)",
        caption="usage: last month in the LGL store's zone; low stock: under the retailer's "
        "days of cover",
    )
    for column in ("retailer", "orders", "units", "shipments", "boxes", "low stock", "anomalies"):
        table.add_column(column, justify="left" if column == "retailer" else "right")
    for key in keys:
        usage = reports[key]["monthly_usage_job"].iloc[0]
        insight = reports[key]["stock_insight_job"]
        table.add_row(
            key,
            f"{usage['orders']:,}",
            f"{usage['units']:,}",
            f"{usage['shipments']:,}",
            f"{usage['boxes']:,}",
            str(int(insight["low_stock"].sum())),
            str(len(reports[key]["order_anomalies_job"])),
        )
    console.print(table)
    console.print(
        "Reports are assets in the UI's reports group: monthly_usage (month x retailer), "
        "stock_insight and order_anomalies (per retailer)."
    )
