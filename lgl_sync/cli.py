"""The ``lgl-sync`` command line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

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
    from lgl_sync.logs import configure

    configure(log_level)


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
@click.option(
    "--sandbox",
    "with_sandbox",
    is_flag=True,
    help="Serve the sandbox's default scenario here and point LGL Sync at it (a fresh "
    "control plane with its four retailers, schedules on).",
)
def dev(port: int, with_sandbox: bool) -> None:
    """Run `dagster dev` (webserver + daemon) on this project's definitions."""
    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    # The dagster beside this interpreter: the venv need not be activated.
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-w", workspace, "-p", str(port)]
    if not with_sandbox:
        os.execv(dagster, command)
    _dev_on_sandbox(home, command)


def _dev_on_sandbox(home: Path, command: list[str]) -> None:
    """`dagster dev` as a child, with the sandbox served from this process until it exits."""
    import subprocess

    from lgl_sync.sandbox.engine import Sandbox
    from lgl_sync.sandbox.scenario import load_scenario
    from lgl_sync.sandbox.server import SandboxServer
    from lgl_sync.sandbox.wiring import sandbox_environment

    sandbox = Sandbox()
    load_scenario(sandbox, {"name": "default"})
    control_db = home / "dev_control_plane.db"  # the sandbox is new, so is its control plane
    control_db.unlink(missing_ok=True)
    with SandboxServer(sandbox) as server:
        env = sandbox_environment(sandbox, server.url, f"sqlite:///{control_db}")
        click.echo(f"Sandbox at {server.url}; control plane {control_db}")
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


@main.command()
def demo() -> None:
    """Run the sync against the sandbox on a persistent Dagster instance, and summarise."""
    from lgl_sync.demo import run_demo

    run_demo()


# -- control-plane database and retailers -----------------------------------------------------


def _engine():
    from lgl_sync.store.database import create_engine

    return create_engine()


def _fail_cleanly(action):
    """Turns expected failures into a one-line message and exit status 1, never a traceback."""
    import functools

    @functools.wraps(action)
    def run(*args, **kwargs):
        import sqlalchemy.exc
        import yaml

        from lgl_sync.shopify.errors import ShopifyError
        from lgl_sync.store.database import database_url, redacted
        from lgl_sync.store.retailers import RetailerError
        from lgl_sync.store.secrets import SecretError

        try:
            return action(*args, **kwargs)
        except RetailerError as exc:
            raise click.ClickException(
                "invalid retailer:\n  " + "\n  ".join(exc.problems)
            ) from None
        except (SecretError, ShopifyError) as exc:
            raise click.ClickException(str(exc)) from None
        except yaml.YAMLError as exc:
            raise click.ClickException(f"the file is not valid YAML: {exc}") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise click.ClickException(
                f"database error on {redacted(database_url())}: {type(exc).__name__}: "
                f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0][:300]}"
            ) from None

    return run


@main.group()
def db() -> None:
    """The control-plane database (LGL_DATABASE_URL, default SQLite under DAGSTER_HOME)."""


@db.command("upgrade")
@_fail_cleanly
def db_upgrade() -> None:
    """Apply migrations; keeps the old system's tables and rows."""
    from lgl_sync.store.database import database_url, redacted
    from lgl_sync.store.migrate import upgrade

    upgrade(_engine())
    click.echo(f"Database {redacted(database_url())} is up to date.")


@main.group()
def retailer() -> None:
    """Add, inspect, validate, enable, disable and remove retailers."""


def _load_definition(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _validate_live(found) -> bool:
    from lgl_sync.sync.onboarding import check_retailer
    from lgl_sync.sync.stores import lgl_client, retailer_client

    report = check_retailer(found, retailer_client(found), lgl_client())
    for note in report.notes:
        click.echo(f"  ok: {note}")
    for problem in report.problems:
        click.echo(f"  PROBLEM: {problem}")
    if report.retailer_skus:
        click.echo(
            f"  SKU coverage: {report.covered_skus}/{report.retailer_skus} of the "
            f"retailer's SKUs at the LGL location exist in the LGL store"
        )
        for sku in report.missing_skus[:50]:
            click.echo(f"    missing in LGL store: {sku}")
    return report.ok


@retailer.command("add")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML whose keys are retailers columns",
)
@click.option("--check", is_flag=True, help="also validate against the live store before writing")
@_fail_cleanly
def retailer_add(path: str, check: bool) -> None:
    """Validate a retailer definition and add it."""
    from lgl_sync.store.retailers import Retailer, add_retailer

    found = Retailer.parse(_load_definition(path))
    if check and not _validate_live(found):
        raise click.ClickException(f"{found.id} was not added: the live check found problems")
    add_retailer(_engine(), found)
    click.echo(f"Added {found.id} ({found.name}).")


@retailer.command("list")
@_fail_cleanly
def retailer_list() -> None:
    """Retailers with their flags and last sync per operation."""
    from rich.console import Console
    from rich.table import Table

    from lgl_sync.store.retailers import last_syncs, list_retailers

    engine = _engine()
    table = Table()
    for column in ("id", "name", "enabled", "orders", "fulfillments", "inventory", "last syncs"):
        table.add_column(column, no_wrap=column in ("id", "name"))
    mark = {True: "yes", False: "-"}
    for found in list_retailers(engine):
        syncs = last_syncs(engine, found.id)
        table.add_row(
            found.id,
            found.name,
            mark[found.enabled],
            mark[found.import_orders],
            mark[found.push_fulfillments],
            mark[found.sync_inventory],
            ", ".join(f"{k} {v:%Y-%m-%d %H:%M}" for k, v in syncs.items()) or "never",
        )
    console = Console()
    Console(width=max(console.width, 140)).print(table)


@retailer.command("show")
@click.argument("retailer_id")
@_fail_cleanly
def retailer_show(retailer_id: str) -> None:
    """One retailer's settings (the token reference, never the token)."""
    import yaml

    from lgl_sync.store.retailers import get_retailer

    found = get_retailer(_engine(), retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    row = found.row()
    if row["api_token"].startswith("enc:"):
        row["api_token"] = "(encrypted)"
    click.echo(yaml.safe_dump(row, sort_keys=False))


@retailer.command("validate")
@click.argument("retailer_id")
@_fail_cleanly
def retailer_validate(retailer_id: str) -> None:
    """Check a stored retailer against its live store and the LGL store."""
    from lgl_sync.store.retailers import Retailer, get_retailer

    found = get_retailer(_engine(), retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    found = Retailer.parse(found.model_dump())
    if not _validate_live(found):
        raise click.ClickException(f"{retailer_id} has problems")
    click.echo(f"{retailer_id} is ready.")


def _toggle(retailer_id: str, enabled: bool) -> None:
    from lgl_sync.store.retailers import set_enabled

    if not set_enabled(_engine(), retailer_id, enabled):
        raise click.ClickException(f"no retailer {retailer_id}")
    click.echo(f"{retailer_id} {'enabled' if enabled else 'disabled'}.")


@retailer.command("enable")
@click.argument("retailer_id")
@_fail_cleanly
def retailer_enable(retailer_id: str) -> None:
    """Let the schedules run this retailer's flows."""
    _toggle(retailer_id, True)


@retailer.command("disable")
@click.argument("retailer_id")
@_fail_cleanly
def retailer_disable(retailer_id: str) -> None:
    """Stop scheduling this retailer (its partition and history stay)."""
    _toggle(retailer_id, False)


@retailer.command("remove")
@click.argument("retailer_id")
@click.confirmation_option(prompt="Remove this retailer?")
@_fail_cleanly
def retailer_remove(retailer_id: str) -> None:
    """Delete a retailer's configuration (its ledgers and history stay)."""
    from lgl_sync.store.retailers import remove_retailer

    if not remove_retailer(_engine(), retailer_id):
        raise click.ClickException(f"no retailer {retailer_id}")
    click.echo(f"Removed {retailer_id}.")


@retailer.command("encrypt-token")
@_fail_cleanly
def retailer_encrypt_token() -> None:
    """Read a token from standard input; print it encrypted with LGL_SECRET_KEY."""
    from lgl_sync.store.secrets import encrypt_token

    token = click.get_text_stream("stdin").read().strip()
    if not token:
        raise click.ClickException("no token on standard input")
    click.echo(encrypt_token(token))


@retailer.command("new-key")
def retailer_new_key() -> None:
    """Print a new LGL_SECRET_KEY."""
    from lgl_sync.store.secrets import new_key

    click.echo(new_key())


# -- status and health -------------------------------------------------------------------------


def _statuses():
    import dagster as dg

    from lgl_sync.health import collect

    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        return collect(instance, _engine())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@_fail_cleanly
def status(as_json: bool) -> None:
    """Per retailer: last success per flow and its age, holds, shipments waiting, drift, API use."""
    import json
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from lgl_sync.health import age_text

    statuses = _statuses()
    if as_json:
        click.echo(json.dumps([s.as_json() for s in statuses], indent=2, sort_keys=True))
        return
    now = datetime.now(UTC)
    console = Console(width=max(Console().width, 150))
    for found in statuses:
        title = f"{found.name} ({found.retailer_id})" + ("" if found.enabled else " — disabled")
        table = Table(title=title, title_justify="left")
        for column in ("flow", "last success", "last run", "24 h ok", "7 d ok", "error"):
            table.add_column(column)
        for flow in found.flows.values():
            rate = lambda r, n: f"{r:.0%} of {n}" if r is not None else "-"  # noqa: E731
            table.add_row(
                flow.flow + ("" if flow.enabled else " (off)"),
                f"{age_text(flow.age(now))} ago (limit {flow.fresh_within_minutes}m)"
                if flow.last_success
                else "never",
                flow.last_run or "-",
                rate(flow.success_rate_24h, flow.runs_24h),
                rate(flow.success_rate_7d, flow.runs_7d),
                flow.last_error or "",
            )
        console.print(table)
        holds = ", ".join(f"{n} {reason}" for reason, n in found.held_orders.items()) or "none"
        drift = "-" if found.inventory_drift is None else str(found.inventory_drift)
        errors = ", ".join(f"{n} {c}" for c, n in found.errors_24h.items()) or "none"
        console.print(
            f"  held orders: {holds} · shipments waiting: {found.shipments_waiting} · "
            f"inventory drift: {drift} SKUs · failed checks: "
            f"{', '.join(found.failed_checks) or 'none'}\n"
            f"  Shopify API last hour: {found.api_requests_last_hour} requests, "
            f"{found.api_cost_last_hour:.0f} cost · p95 latency 24 h: "
            f"{found.api_p95_ms_24h or '-'} ms · errors 24 h: {errors}\n"
        )


@main.command()
@_fail_cleanly
def health() -> None:
    """Exit 0 when every enabled retailer's flows are fresh and no check failed; otherwise
    exit 1 with one line per problem (for cron, uptime monitors, container health checks)."""
    from lgl_sync.health import problems

    found = problems(_statuses())
    if found:
        for line in found:
            click.echo(line)
        sys.exit(1)
    click.echo("ok")
