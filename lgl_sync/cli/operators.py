"""Commands for LGL's operators: retailers, the control-plane database, status and health."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import dagster as dg
import yaml
from rich.console import Console
from rich.table import Table

from lgl_sync import settings
from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane import credentials, ledger
from lgl_sync.control_plane.allowances import allow_zero
from lgl_sync.control_plane.database import create_engine, database_url, redacted
from lgl_sync.control_plane.keys import rotate_stored_secrets
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import (
    add_retailer,
    get_retailer,
    last_syncs,
    list_retailers,
    remove_retailer,
    set_enabled,
    update_retailer,
)
from lgl_sync.flows import Flow
from lgl_sync.ops.health import age_text, collect, problems
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.ops.redaction import redact
from lgl_sync.retailer import Retailer, definition_from_yaml
from lgl_sync.secrets import encrypt_token, new_key
from lgl_sync.shopify.errors import ConfigError, ShopifyError
from lgl_sync.sync.clients import lgl_client, retailer_client
from lgl_sync.sync.onboarding import check_retailer
from lgl_sync.sync.orders.reads import custom_id_defined, ensure_custom_id_definition
from lgl_sync.sync.orders.rules import CUSTOM_ID


def _engine():
    return create_engine()


@click.group()
def db() -> None:
    """The control-plane database (LGL_DATABASE_URL, default SQLite under DAGSTER_HOME)."""


@db.command("upgrade")
@fail_cleanly
def db_upgrade() -> None:
    """Apply migrations; keeps the old system's tables and rows."""

    upgrade(_engine())
    click.echo(f"Database {redacted(database_url())} is up to date.")
    try:
        lgl = lgl_client()
    except ConfigError:
        click.echo(
            "LGL store not configured (SHOPIFY_LGL_DOMAIN, SHOPIFY_LGL_TOKEN): its custom ID "
            "definition is created by the first import instead."
        )
        return
    created = ensure_custom_id_definition(lgl)
    click.echo(
        f"LGL store: custom ID definition {'.'.join(CUSTOM_ID)} on orders "
        f"{'created' if created else 'present'}."
    )


def lgl_store_problems() -> list[str]:
    """What `health` checks at the LGL store itself: it can be read, and the custom ID every
    LGL order carries has its definition (without it Shopify refuses every orderCreate)."""
    try:
        lgl = lgl_client(max_attempts=2)
        if custom_id_defined(lgl):
            return []
    except ConfigError as exc:
        return [f"LGL store: {exc}"]
    except ShopifyError as exc:
        return [f"LGL store: cannot be read ({exc.category}: {redact(str(exc))[:200]})"]
    return [
        f"LGL store: the custom ID definition {'.'.join(CUSTOM_ID)} on orders is missing "
        "(lgl-sync db upgrade creates it)"
    ]


@click.group()
def retailer() -> None:
    """Add, inspect, validate, enable, disable and remove retailers."""


def _load_definition(path: str) -> dict:
    return definition_from_yaml(Path(path).read_bytes())


def _validate_live(found) -> bool:

    report = check_retailer(found, retailer_client(found), lgl_client())
    for note in report.notes:
        click.echo(f"  ok: {note}")
    for warning in report.warnings:
        click.echo(f"  WARNING: {warning}")
    for problem in report.problems:
        click.echo(f"  PROBLEM: {problem}")
    if report.retailer_skus:
        click.echo(
            f"  SKU coverage: {report.covered_skus}/{report.retailer_skus} of the "
            f"retailer's SKUs at the LGL location exist in the LGL store"
        )
        for sku in report.missing_skus[:50]:
            click.echo(f"    missing in LGL store: {sku}")
    _webhooks(found)
    return report.ok


def _webhooks(found) -> None:
    """Creates or repairs the retailer's webhook subscriptions, and says what changed."""
    from lgl_sync.sync import subscriptions

    endpoint = subscriptions.endpoint()
    if endpoint is None:
        click.echo("  WARNING: LGL_PUBLIC_URL is not set: no webhooks, the schedules poll")
        return
    try:
        drift = subscriptions.ensure(
            retailer_client(found), endpoint, subscriptions.retailer_topics(found), repair=True
        )
    except ShopifyError as exc:
        click.echo(f"  WARNING: webhook subscriptions not checked: {exc}")
        return
    for line in drift.lines():
        click.echo(f"  webhooks: {line}")


@retailer.command("add")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML whose keys are retailers columns",
)
@click.option("--check", is_flag=True, help="also validate against the live store before writing")
@fail_cleanly
def retailer_add(path: str, check: bool) -> None:
    """Validate a retailer definition and add it."""

    found = Retailer.parse(_load_definition(path))
    _refuse_incomplete(found)
    if check and not _validate_live(found):
        raise click.ClickException(f"{found.id} was not added: the live check found problems")
    add_retailer(_engine(), found)
    click.echo(f"Added {found.id} ({found.name}).")


@retailer.command("update")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML whose keys are retailers columns (as `retailer export` writes it)",
)
@click.option("--check", is_flag=True, help="also validate against the live store before writing")
@click.option("--yes", is_flag=True, help="write without asking after the difference is shown")
@fail_cleanly
def retailer_update(path: str, check: bool, yes: bool) -> None:
    """Validate a changed retailer definition, show what changes, and write it."""
    wanted = Retailer.parse(_load_definition(path))
    _refuse_incomplete(wanted)
    engine = _engine()
    current = get_retailer(engine, wanted.id)
    if current is None:
        raise click.ClickException(f"no retailer {wanted.id} (use `retailer add`)")
    before, after = _exported(current), _exported(wanted)
    changed = [k for k in after if before.get(k) != after.get(k)]
    if not changed:
        click.echo(f"{wanted.id}: nothing to change.")
        return
    for key in changed:
        click.echo(f"  {key}: {before.get(key)!r} -> {after.get(key)!r}")
    if check and not _validate_live(wanted):
        raise click.ClickException(f"{wanted.id} was not updated: the live check found problems")
    if not yes and not click.confirm(f"Write {len(changed)} change(s) to {wanted.id}?"):
        raise click.ClickException("not updated")
    update_retailer(engine, wanted)
    click.echo(f"Updated {wanted.id} ({len(changed)} field(s)).")


def _refuse_incomplete(found: Retailer) -> None:
    problems = found.onboarding_problems()
    if problems:
        raise click.ClickException(f"{found.id}: " + "; ".join(problems))


def _exported(found: Retailer) -> dict:
    """A retailer as its YAML definition: every column but the timestamps; an encrypted token
    stays encrypted (it is not a secret in clear)."""
    return {k: v for k, v in found.row().items() if k not in ("created_at", "updated_at")}


@retailer.command("export")
@click.argument("retailer_id")
@fail_cleanly
def retailer_export(retailer_id: str) -> None:
    """A retailer's definition as YAML, ready to edit and pass to `retailer update --file`."""
    found = get_retailer(_engine(), retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    click.echo(yaml.safe_dump(_exported(found), sort_keys=False, allow_unicode=True), nl=False)


@retailer.command("list")
@fail_cleanly
def retailer_list() -> None:
    """Retailers with their flags and last sync per operation."""

    engine = _engine()
    table = Table()
    for column in ("id", "name", "enabled", *Flow, "last syncs"):
        table.add_column(column, no_wrap=column in ("id", "name"))
    mark = {True: "yes", False: "-"}
    for found in list_retailers(engine):
        syncs = last_syncs(engine, found.id)
        table.add_row(
            found.id,
            found.name,
            mark[found.enabled],
            *(mark[flow.enabled_for(found)] for flow in Flow),
            ", ".join(f"{k} {v:%Y-%m-%d %H:%M}" for k, v in syncs.items()) or "never",
        )
    console = Console()
    Console(width=max(console.width, 140)).print(table)


@retailer.command("show")
@click.argument("retailer_id")
@fail_cleanly
def retailer_show(retailer_id: str) -> None:
    """One retailer's settings (the token reference, never the token)."""

    found = get_retailer(_engine(), retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    row = found.row()
    if row["api_token"].startswith("enc:"):
        row["api_token"] = "(encrypted)"
    click.echo(yaml.safe_dump(row, sort_keys=False))


@retailer.command("validate")
@click.argument("retailer_id")
@fail_cleanly
def retailer_validate(retailer_id: str) -> None:
    """Check a stored retailer against its live store and the LGL store."""

    found = get_retailer(_engine(), retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    found = Retailer.parse(found.model_dump())
    if not _validate_live(found):
        raise click.ClickException(f"{retailer_id} has problems")
    click.echo(f"{retailer_id} is ready.")


def _toggle(retailer_id: str, enabled: bool) -> None:

    if not set_enabled(_engine(), retailer_id, enabled):
        raise click.ClickException(f"no retailer {retailer_id}")
    click.echo(f"{retailer_id} {'enabled' if enabled else 'disabled'}.")


@retailer.command("enable")
@click.argument("retailer_id")
@fail_cleanly
def retailer_enable(retailer_id: str) -> None:
    """Let the schedules run this retailer's flows."""
    _toggle(retailer_id, True)


@retailer.command("disable")
@click.argument("retailer_id")
@fail_cleanly
def retailer_disable(retailer_id: str) -> None:
    """Stop scheduling this retailer (its partition and history stay)."""
    _toggle(retailer_id, False)


@retailer.command("remove")
@click.argument("retailer_id")
@click.confirmation_option(prompt="Remove this retailer?")
@fail_cleanly
def retailer_remove(retailer_id: str) -> None:
    """Delete a retailer's configuration (its ledgers and history stay)."""

    if not remove_retailer(_engine(), retailer_id):
        raise click.ClickException(f"no retailer {retailer_id}")
    click.echo(f"Removed {retailer_id}.")


@retailer.command("encrypt-token")
@fail_cleanly
def retailer_encrypt_token() -> None:
    """Read a token from standard input; print it encrypted with LGL_SECRET_KEY."""

    token = click.get_text_stream("stdin").read().strip()
    if not token:
        raise click.ClickException("no token on standard input")
    click.echo(encrypt_token(token))


@retailer.command("new-key")
def retailer_new_key() -> None:
    """Print a new LGL_SECRET_KEY."""

    click.echo(new_key())


@retailer.command("rotate-key")
@fail_cleanly
def retailer_rotate_key() -> None:
    """Re-encrypt every stored secret under LGL_SECRET_KEY's first key.

    A rotation: set LGL_SECRET_KEY=NEW,OLD on every process and restart them, run this, then
    set LGL_SECRET_KEY=NEW. Safe to repeat."""

    if len(settings.secret_keys()) < 2:
        click.echo("LGL_SECRET_KEY holds one key: values are re-encrypted under that same key.")
    counts = rotate_stored_secrets(_engine())
    done = ", ".join(f"{n} {what}" for what, n in counts.items())
    click.echo(f"Re-encrypted under LGL_SECRET_KEY's first key: {done}.")
    click.echo("Once every process runs with it, remove the old key from LGL_SECRET_KEY.")


# -- status and health -------------------------------------------------------------------------


def _statuses():

    home = prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        return collect(instance, _engine())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@fail_cleanly
def status(as_json: bool) -> None:
    """Per retailer: last success per flow and its age, holds, shipments waiting, drift, API use."""

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
            f"{', '.join(found.failed_checks) or 'none'} · checks not run: "
            f"{', '.join(found.checks_not_run) or 'none'}\n"
            f"  Shopify API last hour: {found.api_requests_last_hour} requests, "
            f"{found.api_cost_last_hour:.0f} cost · p95 latency 24 h: "
            f"{found.api_p95_ms_24h or '-'} ms · errors 24 h: {errors}\n"
            f"  webhooks 24 h: {found.webhooks_24h}, lag p50 "
            f"{found.webhook_lag_p50_s if found.webhook_lag_p50_s is not None else '-'} s, "
            f"max {found.webhook_lag_max_s if found.webhook_lag_max_s is not None else '-'} s · "
            f"last: {found.webhook_last or 'never'}\n"
        )


@click.command()
@fail_cleanly
def health() -> None:
    """Exit 0 when every enabled retailer's flows are fresh and no check failed; otherwise
    exit 1 with one line per problem (for cron, uptime monitors, container health checks)."""

    found = (
        settings.cron_problems()
        + problems(_statuses())
        + lgl_store_problems()
        + credentials.expiring(_engine())
    )
    if found:
        for line in found:
            click.echo(line)
        sys.exit(1)
    click.echo("ok")


@click.group()
def inventory() -> None:
    """Inventory guards a person may lift."""


@inventory.command("allow-zero")
@click.argument("retailer_id")
@fail_cleanly
def inventory_allow_zero(retailer_id: str) -> None:
    """Let the next inventory run set many of a retailer's SKUs to 0 (once)."""
    engine = _engine()
    if get_retailer(engine, retailer_id) is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    allow_zero(engine, retailer_id)
    click.echo(
        f"The next inventory run of {retailer_id} may set any number of its SKUs to 0 (once)."
    )


@click.group()
def orders() -> None:
    """Orders waiting for a person."""


@orders.command("release")
@click.argument("retailer_id")
@click.argument("source_order_id")
@fail_cleanly
def orders_release(retailer_id: str, source_order_id: str) -> None:
    """Let the next run import an order whose create could not be confirmed.

    Only after you checked that the LGL store has no order with source identifier
    RETAILER_ID:SOURCE_ORDER_ID (the next run still looks it up once more first)."""
    engine = _engine()
    if get_retailer(engine, retailer_id) is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    if source_order_id.isdigit():
        source_order_id = f"gid://shopify/Order/{source_order_id}"
    link = ledger.order_link(engine, retailer_id, source_order_id)
    if link is None:
        raise click.ClickException(f"{retailer_id} has no import of {source_order_id}")
    if link.status != ledger.LinkStatus.UNCONFIRMED:
        raise click.ClickException(
            f"{link.source_order_name or source_order_id} is {link.status.value}, not "
            "unconfirmed: nothing to release"
        )
    ledger.release_order(engine, retailer_id, source_order_id)
    click.echo(
        f"Released {link.source_order_name or source_order_id}: the next orders run of "
        f"{retailer_id} looks it up once more and imports it if it is still not there."
    )


@orders.command("dismiss")
@click.argument("retailer_id")
@click.argument("source_order_id")
@fail_cleanly
def orders_dismiss(retailer_id: str, source_order_id: str) -> None:
    """Stop tracking a held order: it is never imported (ship it another way or not at all)."""
    engine = _engine()
    if get_retailer(engine, retailer_id) is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    if source_order_id.isdigit():
        source_order_id = f"gid://shopify/Order/{source_order_id}"
    link = ledger.order_link(engine, retailer_id, source_order_id)
    if link is None or link.status != ledger.LinkStatus.HELD:
        state = link.status.value if link else "not known"
        raise click.ClickException(f"{source_order_id} is {state}, not held: nothing to dismiss")
    ledger.end_holds(engine, retailer_id, {source_order_id: "dismissed by a person"})
    click.echo(f"Dismissed {link.source_order_name or source_order_id}: it will not be imported.")


COMMANDS = [db, retailer, inventory, orders, status, health]
