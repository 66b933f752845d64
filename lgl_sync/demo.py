"""``lgl-sync demo``: the sandbox in-process, every retailer synced through Dagster, a summary.

The runs are kept in $DAGSTER_HOME, so `dagster dev` shows them afterwards. The control plane
for the demo is its own SQLite file, recreated each time, because the sandbox is new each time.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import click
import dagster as dg
from rich.console import Console
from rich.table import Table

from lgl_sync.defs.inventory import lgl_inventory_snapshot
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
)
from lgl_sync.instance import PROJECT_ROOT, prepare_dagster_home
from lgl_sync.sandbox.engine import Sandbox
from lgl_sync.sandbox.scenario import (
    LGL_HANDLE,
    RETAILER_LGL_LOCATION,
    RETAILERS,
    load_scenario,
    token_for,
)
from lgl_sync.sandbox.server import SandboxServer
from lgl_sync.store.retailers import Retailer, add_retailer


def _register_retailers(engine, sandbox: Sandbox, server: SandboxServer) -> None:
    for handle, name in RETAILERS:
        store = sandbox.stores[handle]
        location = next(
            loc for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION
        )
        env = f"SHOPIFY_{handle.upper().replace('-', '_')}_TOKEN"
        os.environ[env] = token_for(handle)
        add_retailer(
            engine,
            Retailer.parse(
                {
                    "id": handle,
                    "name": name,
                    "domain": server.store_url(handle),
                    "api_token": env,
                    "target_location_id": str(location.id),
                    "billing_email": f"accounts@{handle}.example",
                    "billing_address1": "1 Commerce St",
                    "billing_city": "Austin",
                    "billing_zip": "78701",
                    "billing_country": "US",
                }
            ),
        )


def run_demo() -> None:
    """Starts the sandbox, runs order import for every retailer twice and the LGL snapshot."""
    started = time.monotonic()
    console = Console()
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    demo_db = home / "demo_control_plane.db"
    demo_db.unlink(missing_ok=True)
    engine_url = f"sqlite:///{demo_db}"
    sandbox = Sandbox()
    load_scenario(sandbox, {"name": "default"})
    with SandboxServer(sandbox) as server, dg.DagsterInstance.get() as instance:
        console.print(f"Sandbox: {len(sandbox.stores)} stores at {server.url}")
        control_plane = ControlPlaneResource(database_url=engine_url)
        _register_retailers(control_plane.engine(), sandbox, server)
        keys = [handle for handle, _ in RETAILERS]
        instance.add_dynamic_partitions(
            "retailers", [k for k in keys if not instance.has_dynamic_partition("retailers", k)]
        )
        resources = {
            "lgl_shopify": ShopifyStoreResource(
                domain=server.store_url(LGL_HANDLE), token=token_for(LGL_HANDLE)
            ),
            "control_plane": control_plane,
            "retailer_stores": RetailerStoresResource(),
        }
        summary: dict[str, Counter] = {k: Counter() for k in keys}
        for cycle in (1, 2):
            for key in keys:
                with console.status(f"cycle {cycle}: importing orders for {key}"):
                    result = dg.materialize(
                        [retailer_paid_orders, imported_lgl_orders],
                        partition_key=key,
                        instance=instance,
                        resources=resources,
                        raise_on_error=False,
                    )
                if not result.success:
                    raise click.ClickException(f"order import failed for {key}; see the UI")
                for outcome in result.output_for_node("imported_lgl_orders"):
                    summary[key][f"{outcome.status}_{cycle}"] += 1
            console.print(f"cycle {cycle} done")
        with console.status("LGL inventory snapshot"):
            snapshot = dg.materialize(
                [lgl_inventory_snapshot], instance=instance, resources=resources
            ).output_for_node("lgl_inventory_snapshot")
        table = Table(title="Per retailer")
        for column in (
            "retailer",
            "imported",
            "held",
            "2nd cycle: new imports",
            "API requests",
            "API cost",
        ):
            table.add_column(
                column,
                justify="left" if column == "retailer" else "right",
                no_wrap=column == "retailer",
                min_width=len(column) // 2,
            )
        for key in keys:
            usage = sandbox.stores[key].usage
            table.add_row(
                key,
                str(summary[key]["imported_1"]),
                str(summary[key]["held_1"]),
                str(summary[key]["imported_2"]),
                str(usage.requests),
                f"{usage.cost_actual:.0f}",
            )
        console.print(table)
        lgl_orders = len(sandbox.stores[LGL_HANDLE].orders)
        imported = sum(c["imported_1"] for c in summary.values())
        console.print(
            f"LGL store: {lgl_orders} orders (imported this run: {imported}); "
            f"inventory snapshot {len(snapshot)} SKUs; LGL API "
            f"{sandbox.stores[LGL_HANDLE].usage.requests} requests"
        )
        if lgl_orders != imported or any(c["imported_2"] for c in summary.values()):
            raise click.ClickException("the LGL store does not match the import: duplicates?")
    console.print(f"Finished in {time.monotonic() - started:.1f}s. Open the UI on the same runs:")
    console.print(
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w {PROJECT_ROOT / 'workspace.yaml'}",
        soft_wrap=True,
    )
