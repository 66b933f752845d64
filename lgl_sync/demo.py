"""``lgl-sync demo``: the sandbox in-process, the assets run through Dagster, a summary."""

from __future__ import annotations

import os
import time

import click
import dagster as dg

from lgl_sync.defs.inventory import lgl_inventory_snapshot
from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.instance import PROJECT_ROOT, prepare_dagster_home
from lgl_sync.sandbox.engine import Sandbox
from lgl_sync.sandbox.scenario import LGL_HANDLE, load_scenario, token_for
from lgl_sync.sandbox.server import SandboxServer


def run_demo() -> None:
    """Starts the sandbox, materializes the assets on $DAGSTER_HOME's instance, prints a table."""
    started = time.monotonic()
    engine = Sandbox()
    load_scenario(engine, {"name": "default"})
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    with SandboxServer(engine) as server, dg.DagsterInstance.get() as instance:
        click.echo(f"Sandbox serving {len(engine.stores)} stores at {server.url}")
        lgl = ShopifyStoreResource(domain=server.store_url(LGL_HANDLE), token=token_for(LGL_HANDLE))
        result = dg.materialize(
            [lgl_inventory_snapshot], instance=instance, resources={"lgl_shopify": lgl}
        )
        if not result.success:
            raise click.ClickException("the demo run failed; see the Dagster UI for the run")
        snapshot = result.output_for_node("lgl_inventory_snapshot")
        usage = engine.stores[LGL_HANDLE].usage
        click.echo(f"Run {result.run_id} succeeded.")
        click.echo(
            f"  LGL inventory snapshot: {len(snapshot)} SKUs, "
            f"{int(snapshot['available'].sum())} units available"
        )
        click.echo(
            f"  LGL store API: {usage.requests} requests, {usage.cost_actual:.0f} cost points"
        )
    click.echo(f"Finished in {time.monotonic() - started:.1f}s. Open the UI on the same data:")
    click.echo(f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w {PROJECT_ROOT / 'workspace.yaml'}")
