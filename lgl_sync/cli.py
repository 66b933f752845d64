"""The ``lgl-sync`` command line."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time

import click

from lgl_sync.instance import PROJECT_ROOT, prepare_dagster_home


@click.group()
@click.option(
    "--log-level",
    default=lambda: os.environ.get("LOG_LEVEL", "INFO"),
    show_default="LOG_LEVEL or INFO",
)
def main(log_level: str) -> None:
    """LGL Sync: retailers' Shopify stores <-> the LGL warehouse store."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int)
@click.option("--skus", default=200, show_default=True, type=int, help="LGL catalog size")
@click.option("--orders", default=25, show_default=True, type=int, help="orders per retailer")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="clock speed-up for the throttle bucket",
)
def sandbox(host: str, port: int, skus: int, orders: int, seed: int, speed: float) -> None:
    """Serve the local Shopify sandbox with the default scenario."""
    from lgl_sync.sandbox.clock import SandboxClock
    from lgl_sync.sandbox.engine import Sandbox
    from lgl_sync.sandbox.scenario import load_scenario
    from lgl_sync.sandbox.server import SandboxServer, describe

    started = time.monotonic()
    engine = Sandbox(SandboxClock(speed))
    load_scenario(engine, {"name": "default", "skus": skus, "orders": orders, "seed": seed})
    try:
        server = SandboxServer(engine, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"Shopify sandbox at {server.url} (ready in {time.monotonic() - started:.2f}s)")
    for handle, info in describe(engine, server.url).items():
        click.echo(f"  {handle:22} {info['domain']}  token={info['token']}")
    click.echo(f"Controls: {server.url}/_sandbox/stores  (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@main.command()
def instance() -> None:
    """Write $DAGSTER_HOME/dagster.yaml (Postgres storage when DAGSTER_PG_URL is set)."""
    home = prepare_dagster_home()
    click.echo(f"Dagster instance configured in {home}")


@main.command()
@click.option("--port", default=3000, show_default=True, type=int)
def dev(port: int) -> None:
    """Run `dagster dev` (webserver + daemon) on this project's definitions."""
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    os.execvp("dagster", ["dagster", "dev", "-w", workspace, "-p", str(port)])


@main.command()
def demo() -> None:
    """Run the sync against the sandbox on a persistent Dagster instance, and summarise."""
    from lgl_sync.demo import run_demo

    run_demo()
