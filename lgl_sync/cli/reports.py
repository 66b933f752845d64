"""``lgl-sync report``: reports from the history the sync keeps, for the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.reports import usage
from lgl_sync.sync.clients import lgl_client


@click.group()
def report() -> None:
    """Reports over the orders, shipments and stock the sync recorded."""


def _zone(timezone: str | None) -> str:
    """The zone given, else the LGL store's own (``shop.ianaTimezone``: one read)."""
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"{timezone[:40]!r} is not an IANA time zone") from None
        return timezone
    return lgl_client().query("Shop")["shop"]["ianaTimezone"]


@report.command("usage")
@click.option("--retailer", "retailer_id", required=True, help="the retailer's id (slug)")
@click.option("--month", required=True, help="YYYY-MM, in the LGL store's time zone")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "xlsx"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write to this file (xlsx: lgl-usage-<retailer>-<month>.xlsx when not given)",
)
@click.option("--timezone", help="an IANA zone instead of the LGL store's (no Shopify read)")
@fail_cleanly
def report_usage(retailer_id, month, fmt, output, timezone) -> None:
    """A retailer's usage for billing in one month: orders, lines, units, shipments, boxes,
    time to ship (the counting rules are in the README)."""
    try:
        first = usage.parse_month(month)
    except usage.MonthError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    engine = create_engine()
    upgrade(engine)
    if get_retailer(engine, retailer_id) is None:
        raise click.ClickException(f"no retailer {retailer_id!r}: see `lgl-sync retailer list`")
    found = usage.usage(engine, retailer_id, first, _zone(timezone))
    if fmt == "table":
        _print(found)
    elif fmt == "csv" and output is None:
        sys.stdout.write(usage.to_csv(found).decode())
    else:
        data = usage.to_csv(found) if fmt == "csv" else usage.to_xlsx(found)
        path = output or Path(usage.filename(found, fmt))
        path.write_bytes(data)
        click.echo(f"wrote {path} ({len(found.orders)} orders, {len(found.shipments)} shipments)")


def _print(found: usage.Usage) -> None:
    row = found.row()
    table = Table(title=f"Usage of {row['retailer']} in {row['month']} ({row['timezone']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in row.items():
        if key not in ("retailer", "month", "timezone"):
            table.add_row(key, "-" if value is None else str(value))
    Console().print(table)


COMMANDS = (report,)
