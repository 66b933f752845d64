"""``lgl-sync ledger rebuild``: the ledger rebuilt from both stores after a restore.

After the control plane was restored from an old backup (or its ledger tables were lost), the
ledger no longer knows every order LGL Sync imported and every shipment it pushed. The LGL
store does: ``lgl_sync.sync.rebuild`` reads it back. Run it with the schedules and sensors
stopped, or at least before the next cycle: rows a run wrote meanwhile are kept as they are.
"""

from __future__ import annotations

import json
import sys

import click

from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.sync.clients import lgl_client, retailer_client
from lgl_sync.sync.rebuild import LedgerRebuild


@click.group()
def ledger() -> None:
    """The record of what LGL Sync wrote to Shopify."""


def _progress(retailer: str, done: int, total: int) -> None:
    if sys.stderr.isatty() or done == total:
        click.echo(
            f"\r  {retailer}: {done}/{total} shipped orders read", nl=done == total, err=True
        )


@ledger.command("rebuild")
@click.option("--retailer", "only", multiple=True, help="Only this retailer (repeatable).")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=60,
    show_default=True,
    help="How far back LGL orders are read (by their creation).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@fail_cleanly
def ledger_rebuild(only: tuple[str, ...], days: int, as_json: bool) -> None:
    """Rebuild order and shipment links from the LGL store's orders and the retailers'
    fulfillments; rows the ledger has are kept. Nothing is written to Shopify."""
    engine = create_engine()
    retailers = list_retailers(engine)
    unknown = sorted(set(only) - {r.id for r in retailers})
    if unknown:
        raise click.ClickException(f"no retailer {', '.join(unknown)}")
    chosen = [r for r in retailers if not only or r.id in only]
    rebuild = LedgerRebuild(
        engine=engine,
        lgl=lgl_client(),
        store_for=lambda retailer: retailer_client(retailer, engine=engine),
        days=days,
        progress=_progress,
    )
    reports, untraced = rebuild.run(chosen)
    if as_json:
        found = {"retailers": [r.as_dict() for r in reports], "untraced": untraced}
        click.echo(json.dumps(found, indent=2))
    else:
        _print(reports, untraced)
    if any(r.error for r in reports):
        sys.exit(1)


def _print(reports, untraced: int) -> None:
    for r in reports:
        unmatched = f"; {len(r.unmatched)} not at the retailer (the next run pushes them)"
        click.echo(
            f"{r.retailer}: {r.orders} LGL orders, {r.orders_written} order rows written; "
            f"{r.shipments} shipments, {r.shipments_written} shipment rows written"
            + (unmatched if r.unmatched else "")
            + (f"; FAILED {r.error}" if r.error else "")
        )
    if untraced:
        click.echo(
            f"{untraced} imported LGL orders carry no source identifier (the old system's: "
            "the pushback finds them by their tags)"
        )


COMMANDS = (ledger,)
