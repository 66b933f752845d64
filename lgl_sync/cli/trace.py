"""``lgl-sync orders show RETAILER ORDER_NUMBER``: one order traced through both stores.

What a person asks first when a customer calls: did LGL get the order, is it held and why, did
it ship, what tracking reached the retailer, which runs did it. The retailer's order and the
LGL order are read live (by number, then by id); the ledger says what LGL Sync did, with links
to the runs in the Dagster UI and to both orders in Shopify's admin. Nothing is written.
"""

from __future__ import annotations

import json
import os

import click

from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane import ledger
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.sync.clients import lgl_client, retailer_client
from lgl_sync.sync.fulfillments.reads import (
    retailer_order_by_number,
    retailer_order_state,
    shipped_order,
)
from lgl_sync.sync.orders.reads import find_lgl_order


def _admin_url(domain: str, order_id: str | None) -> str | None:
    """The order in Shopify's admin (``admin.shopify.com/store/<handle>/orders/<id>``)."""
    if not order_id:
        return None
    handle = domain.removeprefix("https://").split(".")[0].split("/")[-1]
    return f"https://admin.shopify.com/store/{handle}/orders/{order_id.rsplit('/', 1)[-1]}"


def _run_url(run_id: str | None) -> str | None:
    base = os.environ.get("DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{run_id}" if run_id else None


def _source(store, number: str) -> dict:
    source_id = retailer_order_by_number(store, number.lstrip("#"))
    if source_id is None:
        raise click.ClickException(f"the retailer's store has no order #{number.lstrip('#')}")
    state = retailer_order_state(store, source_id)
    return {
        "id": source_id,
        "name": state.name if state else f"#{number}",
        "cancelled": bool(state and state.cancelled),
        "fulfillment_orders": [
            {"id": fo.id, "status": fo.status, "location": fo.location_id}
            for fo in (state.fulfillment_orders if state else ())
        ],
        "fulfillments": [
            {"id": f.id, "status": f.status, "tracking": sorted(f.numbers)}
            for f in (state.fulfillments if state else ())
        ],
    }


def _lgl(lgl, lgl_order_id: str | None) -> dict | None:
    if not lgl_order_id:
        return None
    node = (lgl.query("LglOrdersByIds", {"ids": [lgl_order_id]})["nodes"] or [None])[0]
    if not node:
        return {"id": lgl_order_id, "missing": True}
    order = shipped_order(node)
    return {
        "id": order.id,
        "name": order.name,
        "fulfillment_status": order.fulfillment_status,
        "tags": list(order.tags),
        "shipments": [
            {
                "id": s.lgl_fulfillment_id,
                "status": s.status,
                "carrier": s.tracking.company,
                "tracking": list(s.tracking.numbers),
            }
            for s in order.shipments
        ],
    }


def trace(engine, retailer, store, lgl, number: str) -> dict:
    """Everything known of one retailer order, as plain data."""
    source = _source(store, number)
    link = ledger.order_link(engine, retailer.id, source["id"])
    lgl_order_id = (link.lgl_order_id if link else None) or find_lgl_order(
        lgl, retailer.id, source["id"]
    )
    pushed = [
        {
            "lgl_fulfillment": f.lgl_fulfillment_id,
            "status": f.status.value,
            "reason": f.reason,
            "retailer_fulfillment": f.retailer_fulfillment_id,
            "run": _run_url(f.run_id),
        }
        for f in ledger.fulfillment_links_of(engine, retailer.id).values()
        if lgl_order_id and f.lgl_order_id == lgl_order_id
    ]
    return {
        "retailer": retailer.id,
        "source": {**source, "admin": _admin_url(retailer.domain, source["id"])},
        "ledger": {
            "status": link.status.value,
            "reason": link.reason,
            "run": _run_url(link.run_id),
        }
        if link
        else None,
        "lgl": _lgl(lgl, lgl_order_id),
        "lgl_admin": _admin_url(lgl.endpoint.split("/admin/")[0], lgl_order_id),
        "pushed": pushed,
    }


def _print(found: dict) -> None:
    source, link, lgl = found["source"], found["ledger"], found["lgl"]
    click.echo(f"{source['name']} at {found['retailer']}  {source['admin']}")
    if source["cancelled"]:
        click.echo("  cancelled at the retailer")
    for f in source["fulfillments"]:
        click.echo(f"  retailer fulfillment {f['status']}: {', '.join(f['tracking']) or '-'}")
    if link is None:
        click.echo("LGL Sync: never imported (not read yet, not eligible, or outside the lookback)")
    else:
        reason = f" ({link['reason']})" if link["reason"] else ""
        click.echo(f"LGL Sync: {link['status']}{reason}  {link['run'] or ''}")
    if lgl is None:
        click.echo("LGL order: none")
    elif lgl.get("missing"):
        click.echo(f"LGL order: {lgl['id']} no longer reads (deleted?)")
    else:
        click.echo(f"LGL order: {lgl['name']} {lgl['fulfillment_status']}  {found['lgl_admin']}")
        for s in lgl["shipments"]:
            numbers = ", ".join(s["tracking"]) or "-"
            click.echo(f"  shipment {s['status']}: {s['carrier'] or '?'} {numbers}")
    for p in found["pushed"]:
        why = f" ({p['reason']})" if p["reason"] else ""
        click.echo(f"  pushed to the retailer: {p['status']}{why}  {p['run'] or ''}")


@click.command("show")
@click.argument("retailer_id")
@click.argument("order_number")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@fail_cleanly
def orders_show(retailer_id: str, order_number: str, as_json: bool) -> None:
    """Trace a retailer's order (#1001 or 1001) through both stores and the ledger."""
    engine = create_engine()
    retailer = get_retailer(engine, retailer_id)
    if retailer is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    found = trace(engine, retailer, retailer_client(retailer), lgl_client(), order_number)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        _print(found)
