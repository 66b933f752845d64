"""Fulfillment pushback through Dagster against the sandbox.

Contract (DESIGN.md "Fulfillment pushback — the rules"): every LGL shipment, partial ones
included, reaches the retailer's order once with exactly its quantities, carrier and every
tracking number and URL, customer notified; a tracking correction follows on the next run;
faults and a killed process never create a second fulfillment; orders imported by the old
system (tags only) are pushed too; cancelled orders, orders fulfilled elsewhere, held
fulfillment orders, unknown SKUs and cancelled LGL shipments are reported, not retried.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import dagster as dg
import pytest
from click.testing import CliRunner
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo

from lgl_sync import settings
from lgl_sync.cli import main
from lgl_sync.defs.fulfillments import fulfillment_lag, lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.devkit.world import token_for
from lgl_sync.settings import SettingError
from lgl_sync_tests.killable_run import arguments
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

PUSH = [lgl_shipments, retailer_fulfillments, fulfillment_lag]


def _import(world) -> None:
    result = dg.materialize(
        [retailer_paid_orders, imported_lgl_orders],
        partition_key=RETAILER,
        instance=world.instance,
        resources=world.resources(),
    )
    assert result.success


def _push(world, **config):
    return world.materialize(PUSH, partition=RETAILER, config=config)


def _outcomes(result) -> list:
    return result.output_for_node("retailer_fulfillments") if result.success else []


def _ship(world, lgl_order, lines: dict[str, int], tracking: list[tuple]) -> object:
    """LGL's warehouse ships some lines of an LGL order (partial shipments allowed)."""
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    wanted = [
        (fl.id, lines[lgl.line_items[fl.line_item_id].sku])
        for fl in fo.line_items
        if lgl.line_items[fl.line_item_id].sku in lines
    ]
    return lgl.create_fulfillment([(fo, wanted)], [TrackingInfo(*t) for t in tracking], True)


def _world_with_imports(world, normal: int = 6):
    seeded = seed(world.sandbox, normal=normal, lgl_skus=40)
    world.add_retailer(RETAILER)
    _import(world)
    return seeded, lgl_orders_by_source(world.sandbox)


def _source(world, source_gid: str):
    return world.sandbox.store(RETAILER).orders[int(source_gid.rsplit("/", 1)[1])]


def _retailer_fulfillments(world, source_gid):
    store = world.sandbox.store(RETAILER)
    return [
        store.fulfillments[i]
        for i in _source(world, source_gid).fulfillment_ids
        if store.fulfillments[i].status == "SUCCESS"
    ]


def test_three_partial_shipments_arrive_with_every_tracking_number(world):
    seeded, by_source = _world_with_imports(world)
    # An order LGL ships whole: only LGL lines, none shipped by the retailer already.
    source_gid, expected = next(
        (k, v)
        for k, v in seeded.expected.items()
        if sum(v.values()) >= 3
        and not _source(world, k).fulfillment_ids
        and all(li.sku.startswith("LGL-") for li in _source(world, k).line_items)
    )
    lgl_order = by_source[source_gid][0]
    items = [(sku, 1) for sku, qty in expected.items() for _ in range(qty)]
    first, second, rest = items[:1], items[1:2], items[2:]

    def lines(chunk):
        counted: dict[str, int] = {}
        for sku, n in chunk:
            counted[sku] = counted.get(sku, 0) + n
        return counted

    _ship(world, lgl_order, lines(first), [("UPS", "1ZA", None), ("UPS", "1ZB", None)])
    _ship(world, lgl_order, lines(second), [("FedEx", "7701", None)])
    _ship(world, lgl_order, lines(rest), [("Acme Freight", "AF-9", "https://acme.example/AF-9")])
    result = _push(world)
    assert result.success
    assert sorted(o.status for o in _outcomes(result)) == ["pushed"] * 3
    pushed = _retailer_fulfillments(world, source_gid)
    assert len(pushed) == 3
    store = world.sandbox.store(RETAILER)
    by_numbers = {tuple(t.number for t in f.tracking_info): f for f in pushed}
    assert set(by_numbers) == {("1ZA", "1ZB"), ("7701",), ("AF-9",)}
    ups = by_numbers[("1ZA", "1ZB")]
    assert [t.company for t in ups.tracking_info] == ["UPS", "UPS"]
    assert all(t.url and t.number in t.url for t in ups.tracking_info)
    assert by_numbers[("AF-9",)].tracking_info[0].url == "https://acme.example/AF-9"
    assert all(f.notify_customer for f in pushed)
    shipped = {}
    for f in pushed:
        for li in f.line_items:
            sku = store.line_items[li.line_item_id].sku
            shipped[sku] = shipped.get(sku, 0) + li.quantity
    assert shipped == expected
    assert store.fulfillment_status(_source(world, source_gid)) == "FULFILLED"
    lgl_fos = [
        fo
        for fo in store.fulfillment_orders.values()
        if fo.order_id == _source(world, source_gid).id
        and fo.location_id != store.primary_location_id
    ]
    assert all(fl.remaining_quantity == 0 for fo in lgl_fos for fl in fo.line_items)
    assert "fulfillment-pushed" in lgl_order.tags
    again = _push(world)
    assert {o.status for o in _outcomes(again)} == {"already_pushed"}
    assert len(_retailer_fulfillments(world, source_gid)) == 3
    assert result.get_asset_check_evaluations()[0].passed


def test_carriers_reach_the_retailer_spelt_as_shopify_lists_them(world, monkeypatch):
    """Shopify links a tracking number only for a carrier spelt exactly as it lists it: LGL's
    "ups", "FedEx Ground", "Royal Mail Tracked 24" and an alias arrive as "UPS", "FedEx",
    "Royal Mail" and the alias's carrier, each with a link; an unlisted carrier keeps its
    name, and the URL LGL gave it."""
    monkeypatch.setenv("LGL_CARRIER_ALIASES", "Speedy Couriers Ltd=Purolator")
    seeded, by_source = _world_with_imports(world, normal=10)
    shipped = {
        "ups": ("UPS", "1ZLOWER"),
        "FedEx Ground": ("FedEx", "7702"),
        "Royal Mail Tracked 24": ("Royal Mail", "RM24"),
        "Speedy Couriers Ltd": ("Purolator", "SP-1"),
        "Acme Couriers": ("Acme Couriers", "AC-1"),
    }
    orders = [by_source[k][0] for k, v in seeded.expected.items() if by_source.get(k)]
    sources = {}
    for (carrier, (_, number)), lgl_order in zip(shipped.items(), orders, strict=False):
        lines = {li.sku: li.quantity for li in lgl_order.line_items}
        url = "https://acme.example/AC-1" if carrier == "Acme Couriers" else None
        _ship(world, lgl_order, lines, [(carrier, number, url)])
        sources[number] = lgl_order
    assert len(sources) == len(shipped)
    result = _push(world)
    assert result.success
    store = world.sandbox.store(RETAILER)
    arrived = {
        t.number: (t.company, t.url)
        for f in store.fulfillments.values()
        for t in f.tracking_info
        if t.number in sources
    }
    for company, number in shipped.values():
        assert arrived[number][0] == company
        assert arrived[number][1] and number in arrived[number][1]  # the customer has a link
    assert arrived["AC-1"][1] == "https://acme.example/AC-1"


def test_a_carrier_alias_to_a_name_shopify_does_not_list_is_refused(monkeypatch):
    monkeypatch.setenv("LGL_CARRIER_ALIASES", "Our Van=ups")
    with pytest.raises(SettingError, match="LGL_CARRIER_ALIASES maps to 'ups'"):
        settings.carrier_aliases()


def test_tracking_corrected_after_the_push_reaches_the_retailer(world):
    seeded, by_source = _world_with_imports(world)
    source_gid, expected = next(iter(seeded.expected.items()))
    lgl_order = by_source[source_gid][0]
    shipment = _ship(world, lgl_order, expected, [("UPS", "1ZWRONG", None)])
    assert _push(world).success
    lgl = world.sandbox.store("lgl")
    time.sleep(1.1)  # the correction lands in a later second, as it would in production
    shipment.tracking_info = [TrackingInfo("UPS", "1ZRIGHT", None)]
    lgl.touch(lgl_order)
    result = _push(world)
    assert [o.status for o in _outcomes(result)] == ["tracking_updated"]
    (pushed,) = _retailer_fulfillments(world, source_gid)
    assert [t.number for t in pushed.tracking_info] == ["1ZRIGHT"]


def test_faults_never_create_a_second_fulfillment(world):
    seeded, by_source = _world_with_imports(world, normal=12)
    for source_gid, expected in seeded.expected.items():
        _ship(world, by_source[source_gid][0], expected, [("UPS", f"1Z{source_gid[-6:]}", None)])
    world.sandbox.engine.set_faults(
        RETAILER,
        [
            FaultRule("apply_then_fail", operation="fulfillmentCreate", rate=0.3),
            FaultRule("apply_then_drop", operation="fulfillmentCreate", rate=0.1),
            FaultRule("server_error", rate=0.05),
        ],
        seed=8,
    )
    runs = 0
    while runs < 10:
        runs += 1
        result = _push(world, reconcile_after_seconds=0)
        if result.success:
            break
    assert result.success
    faults = world.sandbox.store(RETAILER).usage.faults
    print(f"\npushback under faults: {faults} faults, settled in {runs} run(s)")
    assert faults > 0
    for source_gid, expected in seeded.expected.items():
        # Pushed ones notify the customer; a few orders were partly shipped by the retailer.
        pushed = [f for f in _retailer_fulfillments(world, source_gid) if f.notify_customer]
        assert len(pushed) == 1, source_gid
        store = world.sandbox.store(RETAILER)
        assert {
            store.line_items[li.line_item_id].sku: li.quantity for li in pushed[0].line_items
        } == expected


def test_orders_imported_by_the_old_system_are_pushed_by_their_tags(world):
    seed(world.sandbox, normal=2, lgl_skus=40)
    world.add_retailer(RETAILER)
    source = world.sandbox.store(RETAILER)
    lgl = world.sandbox.store("lgl")
    origin = next(
        o
        for o in source.orders.values()
        if o.financial_status == "PAID"
        and o.cancelled_at is None
        and all(li.sku.startswith("LGL-") for li in o.line_items)
    )
    variants = {v.sku: v.id for v in lgl.variants.values()}
    legacy = lgl.create_order(  # as the old scripts made them: tags only, no identifier
        lines=[
            {"variant_id": variants[li.sku], "quantity": li.quantity} for li in origin.line_items
        ],
        tags=[f"imported-from-{RETAILER}", origin.name.lstrip("#")],
    )
    _ship(
        world, legacy, {li.sku: li.quantity for li in origin.line_items}, [("USPS", "9400", None)]
    )
    result = _push(world)
    assert [o.status for o in _outcomes(result)] == ["pushed"]
    assert len(_retailer_fulfillments(world, f"gid://shopify/Order/{origin.id}")) == 1


@pytest.mark.parametrize(
    "situation",
    [
        "retailer_order_cancelled",
        "already_fulfilled",
        "fulfillment_order_on_hold",
        "sku_not_on_retailer_order",
        "lgl_fulfillment_cancelled",
    ],
)
def test_each_situation_is_reported_not_raised(world, situation):
    seeded, by_source = _world_with_imports(world)
    source_gid, expected = next(iter(seeded.expected.items()))
    lgl_order = by_source[source_gid][0]
    source = world.sandbox.store(RETAILER)
    origin = _source(world, source_gid)
    lgl_fos = [
        source.fulfillment_orders[i]
        for i in origin.fulfillment_order_ids
        if source.locations[source.fulfillment_orders[i].location_id].name == "LGL Fulfillment"
    ]
    shipment = _ship(world, lgl_order, expected, [("UPS", "1ZSIT", None)])
    if situation == "retailer_order_cancelled":
        source.cancel_order(origin, restock=False)
    elif situation == "already_fulfilled":
        source.create_fulfillment([(fo, None) for fo in lgl_fos], [], False)
    elif situation == "fulfillment_order_on_hold":
        for fo in lgl_fos:
            fo.status = "ON_HOLD"
    elif situation == "sku_not_on_retailer_order":
        line = source.line_items[lgl_fos[0].line_items[0].line_item_id]
        line.sku = "SOMETHING-ELSE"
    else:
        # cancelled, then shipped again
        world.sandbox.store("lgl").cancel_fulfillment(shipment)
        _ship(world, lgl_order, expected, [("UPS", "1ZAGAIN", None)])
    result = _push(world)
    assert result.success
    ours = f"/{shipment.id}"
    outcome = next(o for o in _outcomes(result) if o.lgl_fulfillment_id.endswith(ours))
    assert (outcome.status, outcome.reason) == ("skipped", situation)
    again = _outcomes(_push(world))
    # Reported once, not retried, and not reported again.
    later = next(o for o in again if o.lgl_fulfillment_id.endswith(ours))
    assert (later.status, later.reason) == ("reported_before", situation)
    pushed = [f for f in _retailer_fulfillments(world, source_gid) if f.notify_customer]
    assert len(pushed) == (1 if situation == "lgl_fulfillment_cancelled" else 0)


def test_killed_process_never_leaves_a_second_fulfillment(world):
    seeded, by_source = _world_with_imports(world, normal=6)
    for source_gid, expected in seeded.expected.items():
        _ship(world, by_source[source_gid][0], expected, [("UPS", f"1Z{source_gid[-6:]}", None)])
    # Killed after the second fulfillment is created, before the ledger knows.
    kill = {"after": "FulfillmentCreate", "count": 2}
    killed = subprocess.run(
        [
            sys.executable,
            "-m",
            "lgl_sync_tests.killable_run",
            arguments(world, "fulfillments", kill),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]
    result = _push(world, reconcile_after_seconds=0)
    assert result.success
    statuses = [o.status for o in _outcomes(result)]
    assert statuses.count("already_pushed") == 2  # both found on the retailer order, adopted
    for source_gid in seeded.expected:
        pushed = [f for f in _retailer_fulfillments(world, source_gid) if f.notify_customer]
        assert len(pushed) == 1, source_gid


def test_orders_show_traces_an_order_through_both_stores(world, monkeypatch):
    seeded, by_source = _world_with_imports(world)
    source_gid = next(k for k in seeded.expected if by_source.get(k))
    lgl_order = by_source[source_gid][0]
    _ship(
        world,
        lgl_order,
        {li.sku: li.quantity for li in lgl_order.line_items},
        [("UPS", "1ZTRACE", None)],
    )
    assert _push(world).success
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    monkeypatch.setenv("DAGSTER_UI_URL", "https://dagster.lgl.example")
    name = _source(world, source_gid).name
    runner = CliRunner()
    shown = runner.invoke(main, ["orders", "show", RETAILER, name, "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["source"]["id"] == source_gid and found["ledger"]["status"] == "tagged"
    assert found["ledger"]["run"].startswith("https://dagster.lgl.example/runs/")
    assert found["lgl"]["name"] == lgl_order.name
    assert [s["tracking"] for s in found["lgl"]["shipments"]] == [["1ZTRACE"]]
    assert [p["status"] for p in found["pushed"]] == ["created"]
    assert [f["tracking"] for f in found["source"]["fulfillments"]] == [["1ZTRACE"]]
    text = runner.invoke(main, ["orders", "show", RETAILER, name.lstrip("#")]).output
    assert lgl_order.name in text and "1ZTRACE" in text and "admin.shopify.com" in text
    missing = runner.invoke(main, ["orders", "show", RETAILER, "99999"])
    assert missing.exit_code == 1 and "no order #99999" in missing.output


def test_a_quiet_pushback_reads_only_what_changed_and_misses_no_failure_or_void(world, monkeypatch):
    """Issue 24: the pushback re-read 72 hours of LGL orders every run for every retailer (95 %
    of the shared LGL store's budget). After the first (full) read, a run reads only the LGL
    orders changed since the last read began, plus by id the shipments whose push failed; a
    void is still seen; a full read comes back every LGL_FULL_READ_HOURS."""
    monkeypatch.setenv("LGL_WATERMARK_OVERLAP_MINUTES", "0")
    seeded, by_source = _world_with_imports(world, normal=12)
    lgl = world.sandbox.store("lgl")
    sources = list(seeded.expected)
    shipped = [
        _ship(world, by_source[s][0], seeded.expected[s], [("UPS", f"1Z{i}", None)])
        for i, s in enumerate(sources[:3])
    ]
    first = _push(world)
    assert first.success
    assert first.asset_materializations_for_node("lgl_shipments")[0].metadata["read"].value == (
        "full lookback"
    )
    assert sorted(o.status for o in _outcomes(first)) == ["pushed"] * 3

    def calls(result_of):
        before = dict(lgl.usage.by_operation)
        result = result_of()
        after = lgl.usage.by_operation
        return result, {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k)}

    # The push tagged the shipped orders (a change): the next read sees them once more.
    time.sleep(1.1)  # the next change lands in a later second than the read began
    settled = _outcomes(_push(world))
    assert [o.status for o in settled] == ["already_pushed"] * 3
    # Nothing changed: one search, no order re-read by id, nothing pushed.
    time.sleep(1.1)
    quiet, used = calls(lambda: _push(world))
    assert quiet.success and _outcomes(quiet) == []
    assert used == {"LglShippedOrders": 1}, used
    read = quiet.asset_materializations_for_node("lgl_shipments")[0].metadata["read"].value
    assert read.startswith("changes since")

    # A push that fails is retried by the next run although the LGL order did not change again.
    fourth = sources[3]
    _ship(world, by_source[fourth][0], seeded.expected[fourth], [("UPS", "1Z4", None)])
    time.sleep(1.1)  # the failing run's read begins a second after the shipment
    world.sandbox.engine.set_faults(
        RETAILER, [FaultRule("server_error", operation="fulfillmentCreate", count=50)], seed=1
    )
    assert not _push(world).success
    world.sandbox.engine.set_faults(RETAILER, [], seed=1)
    time.sleep(1.1)
    retried, used = calls(lambda: _push(world))
    assert [o.status for o in _outcomes(retried)] == ["pushed"]
    assert used.get("LglOrdersByIds") == 1, used
    assert len(_retailer_fulfillments(world, fourth)) == 1

    # A label voided at LGL reaches the retailer in a read of changes only.
    time.sleep(1.1)
    lgl.cancel_fulfillment(shipped[0])
    voided, used = calls(lambda: _push(world))
    # (The retried order was tagged by its push: it is read once more, already pushed.)
    assert sorted((o.status, o.reason or "") for o in _outcomes(voided)) == [
        ("already_pushed", ""),
        ("voided", "lgl_fulfillment_voided"),
    ]
    assert "LglOrdersByIds" not in used, used
    assert _retailer_fulfillments(world, sources[0]) == []

    # LGL_FULL_READ_HOURS=0: every read is a full one again (the old behaviour).
    monkeypatch.setenv("LGL_FULL_READ_HOURS", "0")
    full = _push(world)
    assert full.asset_materializations_for_node("lgl_shipments")[0].metadata["read"].value == (
        "full lookback"
    )


def test_an_order_past_its_fulfill_by_date_with_nothing_shipped_is_told_once(world):
    """Issue 27: the retailer promised its customer a date (Shopify's fulfillBy on the
    fulfillment order); an LGL order past it with nothing shipped raises a notice, once."""
    from datetime import timedelta

    import sqlalchemy as sa

    from lgl_sync.control_plane.tables import email_notifications
    from lgl_sync_tests.orders_world import BUYER_ADDRESS

    seed(world.sandbox, normal=2, lgl_skus=40)
    world.add_retailer(RETAILER)
    store = world.sandbox.store(RETAILER)
    variant = store.variants_by_sku("LGL-0001")[0]

    def order(hours: float):
        with store.lock:
            return store.create_order(
                lines=[{"variant_id": variant.id, "quantity": 1}],
                email="buyer@example.com",
                shipping_address=BUYER_ADDRESS,
                fulfill_by=store.now() + timedelta(hours=hours),
            )

    late, shipped, on_time = order(-1), order(-2), order(48)
    _import(world)
    by_source = lgl_orders_by_source(world.sandbox)
    lgl_shipped = by_source[f"gid://shopify/Order/{shipped.id}"][0]
    _ship(world, lgl_shipped, {"LGL-0001": 1}, [("UPS", "1ZLATE", None)])
    for _ in range(2):
        assert _push(world).success
    with world.engine.connect() as connection:
        subjects = (
            connection.execute(
                sa.select(email_notifications.c.subject).where(
                    email_notifications.c.notification_type == "overdue"
                )
            )
            .scalars()
            .all()
        )
    assert len(subjects) == 1 and "1 order(s) past" in subjects[0]
    from lgl_sync.control_plane.tables import order_links

    with world.engine.connect() as connection:
        told = (
            connection.execute(
                sa.select(order_links.c.source_order_id).where(
                    order_links.c.overdue_told_at.is_not(None)
                )
            )
            .scalars()
            .all()
        )
    assert told == [f"gid://shopify/Order/{late.id}"]  # not the shipped one, not the on-time one
    assert on_time.id not in (late.id, shipped.id)


def test_a_full_read_past_one_page_is_one_bulk_operation_and_pushes_every_shipment(
    world, monkeypatch
):
    """Issue 24: the daily full re-read of a retailer's lookback cost 3 points an order in
    search pages. Past one page of orders imported in the lookback it is one bulk operation
    (a flat cost); every shipment still reaches the retailer once."""
    monkeypatch.setattr("lgl_sync.sync.fulfillments.reads.ORDERS_PER_PAGE", 5)
    seeded, by_source = _world_with_imports(world, normal=8)
    lgl = world.sandbox.store("lgl")
    sources = list(seeded.expected)
    assert len(sources) > 5
    for i, source in enumerate(sources):
        _ship(world, by_source[source][0], seeded.expected[source], [("UPS", f"1ZB{i}", None)])
    before = dict(lgl.usage.by_operation)
    result = _push(world)
    assert result.success
    read = result.asset_materializations_for_node("lgl_shipments")[0].metadata["read"].value
    assert read == "full lookback"
    spent = {k: n - before.get(k, 0) for k, n in lgl.usage.by_operation.items()}
    assert spent.get("BulkOperationRunQuery") == 1 and spent.get("LglShippedOrders", 0) == 0
    assert sorted(o.status for o in _outcomes(result)) == ["pushed"] * len(sources)
    for i, source in enumerate(sources):
        ours = [
            f
            for f in _retailer_fulfillments(world, source)
            if any(t.number == f"1ZB{i}" for t in f.tracking_info)
        ]
        assert len(ours) == 1
