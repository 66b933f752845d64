"""``lgl-sync ledger rebuild`` (issue 27): after a control-plane restore from an old backup, the
ledger is rebuilt from the LGL store's orders (source identifier, tags, lines, shipments) and the
retailers' fulfillments; then one full cycle leaves 0 duplicates and 0 lost.

Contract: every imported order's row comes back with its LGL order and units; every pushed
shipment's row comes back with the retailer fulfillment it became (a void pushed, as voided; a
shipment whose tracking LGL corrected afterwards, to be sent again); a shipment never pushed
gets no row, and the next run pushes it once; nothing is written to Shopify by the rebuild.
"""

from __future__ import annotations

import json
import time

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner
from shopify_sandbox.models import TrackingInfo, gid

from lgl_sync.cli import main
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.tables import fulfillment_links, inventory_writes, order_links
from lgl_sync.defs.fulfillments import fulfillment_lag, lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.devkit.world import token_for
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

WRITES = ("FulfillmentCreate", "FulfillmentCancel", "FulfillmentTrackingUpdate", "TagsAdd")


def _cycle(world) -> list:
    """One full cycle of the two order flows for the retailer: import, then pushback."""
    imported = dg.materialize(
        [retailer_paid_orders, imported_lgl_orders],
        partition_key=RETAILER,
        instance=world.instance,
        resources=world.resources(),
    )
    assert imported.success
    pushed = world.materialize([lgl_shipments, retailer_fulfillments, fulfillment_lag])
    assert pushed.success
    return pushed.output_for_node("retailer_fulfillments")


def _ship(world, lgl_order, lines: dict[str, int], number: str):
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    wanted = [
        (fl.id, lines[lgl.line_items[fl.line_item_id].sku])
        for fl in fo.line_items
        if lines.get(lgl.line_items[fl.line_item_id].sku)
    ]
    return lgl.create_fulfillment([(fo, wanted)], [TrackingInfo("UPS", number, None)], True)


def _rows(world) -> tuple[set, set]:
    with world.engine.connect() as c:
        orders = {
            (r.source_order_id, r.lgl_order_id, json.dumps(r.units, sort_keys=True))
            for r in c.execute(sa.select(order_links)).all()
            if r.status in ("created", "tagged")
        }
        shipments = {
            (r.lgl_fulfillment_id, r.lgl_order_id, r.retailer_fulfillment_id, r.status)
            for r in c.execute(sa.select(fulfillment_links)).all()
        }
    return orders, shipments


def _rebuild(world, monkeypatch) -> dict:
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    result = CliRunner().invoke(main, ["ledger", "rebuild", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def _active(world, source_gid: str) -> list:
    store = world.sandbox.store(RETAILER)
    order = store.orders[int(source_gid.rsplit("/", 1)[1])]
    found = [store.fulfillments[i] for i in order.fulfillment_ids]
    return [f for f in found if f.status == "SUCCESS" and f.tracking_info]


def test_truncated_ledger_is_rebuilt_and_one_cycle_leaves_nothing_duplicated_or_lost(
    any_world, monkeypatch
):
    world = any_world
    seeded = seed(world.sandbox, normal=8, lgl_skus=40)
    world.add_retailer(RETAILER)
    _cycle(world)
    by_source = lgl_orders_by_source(world.sandbox)
    a, b, c, d, e = list(seeded.expected)[:5]
    lgl = world.sandbox.store("lgl")
    _ship(world, by_source[a][0], seeded.expected[a], "1ZA")
    first_sku = sorted(seeded.expected[b])[0]
    _ship(world, by_source[b][0], {first_sku: seeded.expected[b][first_sku]}, "1ZB1")
    corrected = _ship(world, by_source[c][0], seeded.expected[c], "1ZCWRONG")
    voided = _ship(world, by_source[d][0], seeded.expected[d], "1ZDVOID")
    _cycle(world)
    voided_id = gid("Fulfillment", voided.id)
    lgl.cancel_fulfillment(voided)  # LGL voids D's label; the void reaches the retailer
    time.sleep(1.1)  # a change in a later second than the last read began
    assert "voided" in [o.status for o in _cycle(world)]
    before_orders, before_shipments = _rows(world)
    assert len(before_orders) == len(seeded.expected) and len(before_shipments) == 4

    # The control plane comes back from an old backup: the ledger tables are empty.
    with world.engine.begin() as connection:
        for table in (order_links, fulfillment_links, inventory_writes):
            connection.execute(table.delete())
    # Meanwhile: LGL ships E (never pushed) and corrects C's tracking.
    _ship(world, by_source[e][0], seeded.expected[e], "1ZE")
    corrected.tracking_info = [TrackingInfo("UPS", "1ZCRIGHT", None)]
    lgl.touch(by_source[c][0])
    creates = lgl.usage.by_operation.get("OrderCreate", 0)
    writes = dict(world.sandbox.store(RETAILER).usage.by_operation)

    found = _rebuild(world, monkeypatch)
    (report,) = found["retailers"]
    assert report["orders_written"] == len(seeded.expected) and report["error"] is None
    assert report["shipments_written"] == 4 and len(report["unmatched"]) == 1  # E
    after_orders, after_shipments = _rows(world)
    assert after_orders == before_orders
    assert after_shipments == before_shipments
    used = world.sandbox.store(RETAILER).usage.by_operation
    assert {k: used.get(k, 0) for k in WRITES} == {k: writes.get(k, 0) for k in WRITES}

    # A new order arrives, B's second shipment leaves; then one full cycle.
    retailer = world.sandbox.store(RETAILER)
    variant = next(v for v in retailer.variants.values() if v.sku == sorted(seeded.costs)[0])
    new = retailer.create_order(
        lines=[{"variant_id": variant.id, "quantity": 2}],
        email="buyer@example.com",
        shipping_address=BUYER_ADDRESS,
    )
    rest = {k: v for k, v in seeded.expected[b].items() if k != first_sku}
    _ship(world, by_source[b][0], rest, "1ZB2") if rest else None
    time.sleep(1.1)
    outcomes = _cycle(world)
    statuses = sorted(o.status for o in outcomes)
    assert "skipped" not in statuses and "failed" not in statuses, statuses
    told = {o.lgl_fulfillment_id for o in outcomes if o.status == "reported_before"}
    assert told <= {voided_id}  # the void, told once before the restore, is not told again
    assert statuses.count("pushed") == 1 + bool(rest) and "tracking_updated" in statuses

    # 0 duplicates, 0 lost: one LGL order per source order, the new one imported once.
    after = lgl_orders_by_source(world.sandbox)
    assert lgl.usage.by_operation.get("OrderCreate", 0) == creates + 1
    assert all(len(after[s]) == 1 for s in [*seeded.expected, gid("Order", new.id)])
    for source, numbers in ((a, {"1ZA"}), (c, {"1ZCRIGHT"}), (e, {"1ZE"})):
        (pushed,) = _active(world, source)
        assert {t.number for t in pushed.tracking_info} == numbers, source
    assert len(_active(world, b)) == 1 + bool(rest) and _active(world, d) == []


def test_an_unknown_retailer_is_refused_by_name(world, monkeypatch):
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    upgrade(world.engine)
    result = CliRunner().invoke(main, ["ledger", "rebuild", "--retailer", "no-such-shop"])
    assert result.exit_code == 1 and "no retailer no-such-shop" in result.output
