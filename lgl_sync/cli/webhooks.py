"""``lgl-sync webhooks``: serve the receiver, and list each store's subscriptions with the last
delivery and lag per topic (``--repair`` puts missing or changed subscriptions back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.cli.web import web_serve
from lgl_sync.control_plane import inbox
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.sync import subscriptions
from lgl_sync.sync.clients import lgl_client, retailer_client


@click.group()
def webhooks() -> None:
    """Shopify's webhooks: the receiver, subscriptions and deliveries."""


webhooks.add_command(web_serve, "serve")


def _drift(name: str, make_client, wanted, endpoint: str, repair: bool) -> bool:
    try:
        drift = subscriptions.ensure(make_client(), endpoint, wanted, repair=repair)
    except ShopifyError as exc:
        click.echo(f"{name}: subscriptions not read: {exc}")
        return False
    for line in drift.lines():
        click.echo(f"{name}: {line}")
    return drift.clean or drift.repaired


@webhooks.command("status")
@click.option("--repair", is_flag=True, help="create or fix the subscriptions that drifted")
@click.option("--days", default=7, show_default=True, help="deliveries over this many days")
@fail_cleanly
def webhooks_status(repair: bool, days: int) -> None:
    """Each store's subscriptions (drift against what LGL Sync wants) and, per topic, the
    deliveries, duplicates, the last one and the lag from Shopify's trigger to receipt."""
    engine = create_engine()
    endpoint = subscriptions.endpoint()
    healthy = True
    if endpoint is None:
        click.echo("LGL_PUBLIC_URL is not set: no webhooks are subscribed, the schedules poll.")
    else:
        healthy = _drift("lgl", lgl_client, subscriptions.LGL_TOPICS, endpoint, repair)
        for retailer in list_retailers(engine, enabled_only=True):
            wanted = subscriptions.retailer_topics(retailer)
            client = lambda r=retailer: retailer_client(r)  # noqa: E731
            healthy = _drift(retailer.id, client, wanted, endpoint, repair) and healthy
    now = datetime.now(UTC)
    rows = inbox.topic_status(engine, now - timedelta(days=days))
    click.echo(f"\n{'store':<28} {'topic':<44} {'n':>6} {'dup':>5} {'last':>9} {'lag':>7}")
    for row in rows:
        minutes = (now - row.last_received).total_seconds() / 60 if row.last_received else None
        age = f"{minutes:.0f} min" if minutes is not None else "-"
        lag = f"{row.lag_p50:.1f} s" if row.lag_p50 is not None else "-"
        counts = f"{row.deliveries:>6} {row.duplicates:>5}"
        click.echo(f"{row.retailer_id or 'lgl':<28} {row.topic:<44} {counts} {age:>9} {lag:>7}")
    if not rows:
        click.echo("(no deliveries)")
    if not healthy:
        raise click.ClickException("some subscriptions are missing or changed (--repair)")


COMMANDS = (webhooks,)
