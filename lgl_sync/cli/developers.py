"""Commands for developers: the local Shopify sandbox, the demo, and `dagster dev` against the
sandbox. Needs the simulator (``pip install -e ./sandbox``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.server import SandboxServer, describe

from lgl_sync.devkit.demo import run_demo
from lgl_sync.devkit.wiring import sandbox_environment
from lgl_sync.devkit.world import generate, load_world
from lgl_sync.ops.instance import PROJECT_ROOT, prepare_dagster_home


@click.command()
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

    started = time.monotonic()
    engine = Sandbox(SandboxClock(speed))
    load_world(engine, {"name": "default", "skus": skus, "orders": orders, "seed": seed})
    try:
        server = SandboxServer(engine, host, port, generate=generate)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"Shopify sandbox at {server.url} (ready in {time.monotonic() - started:.2f}s)")
    _print_stores(engine, server.url)
    click.echo(f"Controls: {server.url}/_sandbox/stores  (Ctrl-C to stop)")
    click.echo("Point LGL Sync at these local stores with LGL_ALLOW_LOCAL_STORES=true.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _print_stores(engine: Sandbox, url: str) -> None:
    """Each store's domain and token, and its locations' ids (a retailer file's
    ``target_location_id`` and ``lgl_location_id``)."""
    for handle, info in describe(engine, url).items():
        click.echo(f"  {handle:22} {info['domain']}  token={info['token']}")
        for location in engine.stores[handle].locations.values():
            click.echo(f"  {'':22}   location {location.id:>12}  {location.name}")


@click.command()
@click.option("--port", default=3000, show_default=True, type=int)
@click.option(
    "--sandbox-port",
    default=0,
    show_default="any free port",
    type=int,
    help="With --sandbox: the port the sandbox listens on.",
)
@click.option(
    "--sandbox",
    "with_sandbox",
    is_flag=True,
    help="Serve the sandbox's default scenario here and point LGL Sync at it (a fresh "
    "control plane with its four retailers, schedules on).",
)
def dev(port: int, sandbox_port: int, with_sandbox: bool) -> None:
    """Run `dagster dev` (webserver + daemon) on this project's definitions."""
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    # The dagster beside this interpreter: the venv need not be activated.
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-w", workspace, "-p", str(port)]
    if not with_sandbox:
        os.execv(dagster, command)
    _dev_on_sandbox(home, command, sandbox_port)


def _dev_on_sandbox(home: Path, command: list[str], sandbox_port: int = 0) -> None:
    """`dagster dev` as a child, with the sandbox served from this process until it exits."""

    sandbox = Sandbox()
    load_world(sandbox, {"name": "default"})
    control_db = home / "dev_control_plane.db"  # the sandbox is new, so is its control plane
    control_db.unlink(missing_ok=True)
    try:
        server = SandboxServer(sandbox, port=sandbox_port, generate=generate)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on port {sandbox_port}: {exc.strerror}"
        ) from None
    with server:
        env = sandbox_environment(sandbox, server.url, f"sqlite:///{control_db}")
        click.echo(f"Sandbox at {server.url}; control plane {control_db}")
        _print_stores(sandbox, server.url)
        # Ctrl-C is how `dagster dev` shuts down its webserver and daemon, so the child must
        # not inherit an ignored SIGINT (as a background job's is); SIGTERM here becomes one.
        child = subprocess.Popen(
            command,
            env={**os.environ, **env},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
        while child.poll() is None:
            try:
                child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)


@click.command()
def demo() -> None:
    """Run the sync against the sandbox on a persistent Dagster instance, and summarise."""

    run_demo()


COMMANDS = [sandbox, dev, demo]
