"""Inventory sync through Dagster against the sandbox.

Contract (DESIGN.md "Inventory sync — the rules"): each retailer's available quantity at its LGL
location becomes max(0, LGL available - units in paid orders not yet imported - buffer), written
only where it differs, in compare-and-set batches; a sale made during the sync is never
overwritten; a sale not yet imported is not undone; every retailer syncs from one snapshot; reads
and writes stay far below the old per-SKU algorithm.
"""

from __future__ import annotations

import random

import dagster as dg
import pytest
import sqlalchemy as sa
from shopify_sandbox.models import gid

from lgl_sync.control_plane.tables import email_notifications
from lgl_sync.defs.inventory import (
    inventory_drift,
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.jobs import sync_inventory_job
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.devkit.world import RETAILER_LGL_LOCATION, RETAILERS, token_for
from lgl_sync_tests.orders_world import BUYER_ADDRESS

UPSTREAM = [lgl_inventory_snapshot, unimported_order_units]
SYNC = [retailer_inventory, inventory_drift]


def _seed(world, skus: int, handles: list[str], changed: float = 0.05, seed_value: int = 2):
    """LGL and retailers carrying the same SKUs; ``changed`` of them differ at each retailer."""
    rng = random.Random(seed_value)
    world.sandbox.engine.reset()
    lgl = world.sandbox.engine.add_store("lgl", token_for("lgl"), plan="plus")
    warehouse = lgl.add_location("LGL Warehouse")
    stock = {f"SKU-{i:06d}": rng.randint(0, 60) for i in range(skus)}
    for sku, quantity in stock.items():
        product = lgl.add_product(sku, [{"sku": sku, "price": "5", "retailer_cost": "2"}])
        lgl.stock(lgl.variants[product.variant_ids[0]].inventory_item_id, warehouse.id, quantity)
    lgl.add_product("lgl only", [{"sku": "LGL-ONLY", "price": "1"}])
    differing = {}
    for handle in handles:
        store = world.sandbox.engine.add_store(handle, token_for(handle), plan="plus")
        store.add_location("Main Store")
        at_lgl = store.add_location(RETAILER_LGL_LOCATION)
        wrong = set(rng.sample(sorted(stock), int(skus * changed)))
        differing[handle] = wrong
        for sku, quantity in [*stock.items(), ("RETAILER-ONLY", 4)]:
            product = store.add_product(sku, [{"sku": sku, "price": "9", "ships_from": at_lgl.id}])
            item = store.variants[product.variant_ids[0]].inventory_item_id
            store.stock(item, at_lgl.id, quantity + 7 if sku in wrong else quantity)
        world.add_retailer(handle)
    return stock, differing


def _sync(world, handle: str, upstream: bool = True, raise_on_error: bool = True):
    if upstream:
        assert dg.materialize(
            UPSTREAM, instance=world.instance, resources=world.resources()
        ).success
    return dg.materialize(
        [*UPSTREAM, *SYNC],
        selection=SYNC,
        partition_key=handle,
        instance=world.instance,
        resources=world.resources(),
        raise_on_error=raise_on_error,
    )


def _available(world, handle: str) -> dict[str, int]:
    store = world.sandbox.store(handle)
    location = next(loc.id for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION)
    return {
        item.sku: item.levels[location].quantities["available"]
        for item in store.inventory_items.values()
        if location in item.levels
    }


def test_10000_skus_with_5_percent_changed_writes_exactly_those(world):
    handle = RETAILERS[0][0]
    stock, differing = _seed(world, 10_000, [handle])
    before = _available(world, handle)
    result = _sync(world, handle)
    assert result.success
    after = _available(world, handle)
    written = {sku for sku in after if after[sku] != before[sku]}
    assert written == differing[handle] and len(written) == 500
    assert all(after[sku] == stock[sku] for sku in stock)
    assert after["RETAILER-ONLY"] == 4  # one-sided: reported, not written
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["inventory_drift"].passed
    assert checks["inventory_drift"].metadata["drifted_skus"].value == 0
    assert not checks["inventory_sku_coverage"].passed  # RETAILER-ONLY is not at LGL
    usage = {h: world.sandbox.store(h).usage for h in ("lgl", handle)}
    requests = sum(u.requests for u in usage.values())
    writes = usage[handle].by_operation["InventorySetQuantities"]
    old = 3 * 10_000  # the old sync: 2 reads and 1 write per SKU
    print(
        f"\ninventory 10k SKUs, 5% changed: {requests} requests incl. the drift re-read "
        f"({writes} writes), old algorithm {old}: {requests / old:.2%}"
    )
    assert writes == 2 and requests <= old * 0.01

    # The next cycle knows both catalogs are past one page: straight to bulk, no first page
    # read only to learn there is more (902 points at LGL, 802 at the retailer, each time).
    pages = {h: dict(u.by_operation) for h, u in usage.items()}
    assert _sync(world, handle).success
    again = {
        h: {k: n - pages[h].get(k, 0) for k, n in usage[h].by_operation.items()} for h in pages
    }
    assert again["lgl"].get("LglInventoryItems", 0) == 0
    assert again["lgl"]["BulkOperationRunQuery"] == 1
    assert again[handle].get("InventoryItems", 0) == 0
    assert again[handle]["BulkOperationRunQuery"] >= 1


def test_the_drift_check_rereads_by_id_what_was_written_and_a_rotating_sample(world):
    """The check re-reads, by id, the SKUs the sync wrote plus 250 others (never a second bulk
    read of the whole catalog) and catches a written SKU changed right after the write."""
    handle = RETAILERS[0][0]
    stock, differing = _seed(world, 600, [handle], changed=0.05)
    store = world.sandbox.store(handle)
    edited = sorted(differing[handle])[0]
    fired = []

    def edit_after_the_writes(target_store, roots) -> None:
        if "nodes" in roots and not fired:  # the check's first read by id
            fired.append(True)
            item = target_store.variants_by_sku(edited)[0].inventory_item_id
            location = next(
                loc.id
                for loc in target_store.locations.values()
                if loc.name == RETAILER_LGL_LOCATION
            )
            target_store.stock(item, location, stock[edited] + 2)

    before = dict(store.usage.by_operation)
    world.sandbox.engine.before_request[handle] = edit_after_the_writes
    result = _sync(world, handle)
    world.sandbox.engine.before_request.clear()
    assert result.success and fired
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "inventory_drift"
    ]
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert not check.passed and metadata["drifted_skus"] == 1
    assert metadata["written_skus_checked"] == len(differing[handle]) == 30
    assert metadata["sampled_skus"] == 250
    assert 250 <= metadata["checked_skus"] <= 280
    used = {k: n - before.get(k, 0) for k, n in store.usage.by_operation.items()}
    assert used["BulkOperationRunQuery"] == 1  # the sync's read; the check reads by id
    assert used["InventoryItemsByIds"] == 2  # up to 280 SKUs, 250 a request


def test_rotating_samples_cover_every_sku_in_turn():
    from lgl_sync.sync.inventory.rules import rotating_sample

    skus = [f"S{i:04d}" for i in range(1_003)]
    seen = [set(rotating_sample(skus, 250, turn)) for turn in range(5)]
    assert all(len(s) == 250 for s in seen)
    assert set().union(*seen[:5]) == set(skus)  # 5 turns of 250 cover 1,003
    assert rotating_sample(skus[:10], 250, 7) == skus[:10]


def test_a_sale_during_the_sync_is_never_overwritten(world):
    handle = RETAILERS[0][0]
    stock, differing = _seed(world, 300, [handle], changed=0.1)
    store = world.sandbox.store(handle)
    sold = sorted(differing[handle])[:3]
    location = next(loc.id for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION)
    fired = []

    def sale_between_read_and_write(target_store, roots) -> None:
        if "inventorySetQuantities" in roots and not fired:
            fired.append(True)
            for sku in sold:  # a customer buys one unit of each, right now
                variant = target_store.variants_by_sku(sku)[0]
                target_store.create_order(
                    lines=[{"variant_id": variant.id, "quantity": 1}], decrement_inventory=True
                )

    world.sandbox.engine.before_request[handle] = sale_between_read_and_write
    result = _sync(world, handle)
    assert result.success and fired
    materialization = result.asset_materializations_for_node("retailer_inventory")[0]
    assert materialization.metadata["conflicts_retried"].value == 1
    after = _available(world, handle)
    for sku in sold:
        assert after[sku] == max(0, stock[sku] - 1), sku  # the sale stands
    assert all(after[s] == stock[s] for s in differing[handle] if s not in sold)
    # Next cycle: the sale is a paid order not yet at LGL, so it stays taken.
    world.sandbox.engine.before_request.clear()
    assert _sync(world, handle).success
    assert all(_available(world, handle)[sku] == max(0, stock[sku] - 1) for sku in sold)
    del location


def test_unimported_sales_are_not_undone_and_retailers_share_one_pool(world):
    first, second = RETAILERS[0][0], RETAILERS[1][0]
    stock, _ = _seed(world, 20, [first, second], changed=0)
    sku = next(s for s, q in stock.items() if q >= 6)
    units = stock[sku]

    def sell(handle: str, quantity: int) -> None:
        store = world.sandbox.store(handle)
        variant = store.variants_by_sku(sku)[0]
        store.create_order(
            lines=[{"variant_id": variant.id, "quantity": quantity}],
            decrement_inventory=True,
            financial_status="PAID",
            shipping_address=BUYER_ADDRESS,
        )

    sell(first, 3)
    assert _sync(world, first).success and _sync(world, second, upstream=False).success
    assert _available(world, first)[sku] == units - 3
    assert _available(world, second)[sku] == units - 3  # the other retailer sees it too
    sell(second, units - 3)
    assert _sync(world, first).success and _sync(world, second, upstream=False).success
    # Together they sold all LGL holds: neither may sell more.
    assert _available(world, first)[sku] == 0 and _available(world, second)[sku] == 0
    # Once the orders reach LGL (its stock drops), the retailers stay where they are.
    for handle in (first, second):
        assert dg.materialize(
            [retailer_paid_orders, imported_lgl_orders],
            partition_key=handle,
            instance=world.instance,
            resources=world.resources(),
        ).success
    lgl = world.sandbox.store("lgl")
    assert (
        lgl.inventory_items[lgl.variants_by_sku(sku)[0].inventory_item_id]
        .levels[lgl.primary_location_id]
        .quantities["available"]
        == 0
    )
    assert _sync(world, first).success
    assert _available(world, first)[sku] == 0


def test_all_four_retailers_sync_from_one_lgl_snapshot(world):
    handles = [h for h, _ in RETAILERS]
    stock, _ = _seed(world, 400, handles)
    assert dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources()).success
    lgl_reads = world.sandbox.store("lgl").usage.requests
    for handle in handles:
        assert _sync(world, handle, upstream=False).success
    assert world.sandbox.store("lgl").usage.requests == lgl_reads  # no second snapshot
    for handle in handles:
        after = _available(world, handle)
        assert all(after[sku] == stock[sku] for sku in stock), handle


def test_dry_run_plans_without_writing(world):
    handle = RETAILERS[0][0]
    _, differing = _seed(world, 100, [handle], changed=0.1)
    before = _available(world, handle)
    run_config = {"ops": {"retailer_inventory": {"config": {"dry_run": True}}}}
    assert dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources()).success
    result = dg.materialize(
        [*UPSTREAM, retailer_inventory],
        selection=[retailer_inventory],
        partition_key=handle,
        instance=world.instance,
        resources=world.resources(),
        run_config=run_config,
    )
    assert result.success
    metadata = result.asset_materializations_for_node("retailer_inventory")[0].metadata
    assert metadata["skus_changed"].value == len(differing[handle])
    assert metadata["skus_written"].value == 0 and _available(world, handle) == before


@pytest.mark.parametrize("next_one_running", [False, True])
def test_a_new_lgl_snapshot_requests_every_retailers_sync(world, next_one_running):
    """Even while the next snapshot (a webhook's) is already running: the one that landed is
    whole, and waiting for the next kept the retailers waiting under a stream of webhooks."""
    handles = [h for h, _ in RETAILERS]
    _seed(world, 50, handles)
    assets = dg.Definitions(assets=[*UPSTREAM, retailer_inventory], resources=world.resources())
    first = dg.evaluate_automation_conditions(defs=assets, instance=world.instance)
    assert dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources()).success
    if next_one_running:
        job = assets.resolve_implicit_global_asset_job_def()
        keys = {a.key for a in UPSTREAM}
        running = world.instance.create_run_for_job(
            job_def=job.get_subset(asset_selection=keys),
            asset_selection=frozenset(keys),
            status=dg.DagsterRunStatus.STARTED,
        )
        assert world.instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED
    after = dg.evaluate_automation_conditions(
        defs=assets, instance=world.instance, cursor=first.cursor
    )
    assert after.get_requested_partitions(dg.AssetKey("retailer_inventory")) == set(handles)


def test_shopify_idempotency_refusals_are_waited_out_or_retried_under_a_new_key(world):
    """FACTS.md §9: IDEMPOTENCY_CONCURRENT_REQUEST (the key's first request still runs: try the
    same key again later) and IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED (after a failed attempt: read
    again, then a new key). Both end with every SKU written once, nothing doubled."""
    handle = RETAILERS[0][0]
    stock, differing = _seed(world, 300, [handle], changed=0.1)
    store = world.sandbox.store(handle)
    store.idempotency_faults.update({"concurrent": 2, "failed": 1})
    result = _sync(world, handle)
    assert result.success
    assert store.idempotency_faults == {"concurrent": 0, "failed": 0}  # both met
    assert len(store.failed_keys) == 1  # the failed key was never sent again for a write
    after = _available(world, handle)
    assert all(after[s] == stock[s] for s in differing[handle])
    materialization = result.asset_materializations_for_node("retailer_inventory")[0]
    assert materialization.metadata["conflicts_retried"].value == 1  # re-read once, new key


def _scoped(world, handle: str, items: list[str]):
    """A webhook's run: only the named LGL items' SKUs (the ``sync_inventory`` job's selection,
    the config the webhook sensor sets)."""
    return dg.materialize(
        [*UPSTREAM, *SYNC],
        selection=sync_inventory_job.selection,
        partition_key=handle,
        instance=world.instance,
        resources=world.resources(),
        run_config={"ops": {"retailer_inventory": {"config": {"lgl_inventory_item_ids": items}}}},
        raise_on_error=False,
    )


def _lgl_set(world, sku: str, quantity: int) -> str:
    """Sets LGL's available of a SKU (a count, a receipt): its inventory item id."""
    lgl = world.sandbox.engine.stores["lgl"]
    item = lgl.inventory_items[lgl.variants_by_sku(sku)[0].inventory_item_id]
    with lgl.lock:
        level = next(iter(item.levels.values()))
        lgl.set_quantity(level, "available", quantity)
    return gid("InventoryItem", item.id)


def test_a_webhook_run_sets_only_the_named_skus_and_a_full_sync_never_undoes_it(world):
    """The scoped run reads the named items by id at LGL and the retailer's items for their
    SKUs by id (no search), writes those only, and one SKU selling out at LGL is not a mass
    zero. A full sync still working from the snapshot taken before it takes the scoped read
    over the snapshot: it writes nothing the webhook's run already set."""
    handle = RETAILERS[0][0]
    stock, _differing = _seed(world, 200, [handle])
    assert _sync(world, handle).success  # the first full sync: every SKU right
    gone, more, untouched = "SKU-000001", "SKU-000002", "SKU-000003"
    store = world.sandbox.store(handle)
    with store.lock:  # a difference the webhook runs do not name, left for the full sync
        item = store.inventory_items[store.variants_by_sku(untouched)[0].inventory_item_id]
        store.set_quantity(next(iter(item.levels.values())), "available", stock[untouched] + 3)
    counted = dict(store.usage.by_operation)
    first = _scoped(world, handle, [_lgl_set(world, gone, 0)])
    second = _scoped(world, handle, [_lgl_set(world, more, stock[more] + 5)])
    assert first.success and second.success
    after = _available(world, handle)
    assert after[gone] == 0 and after[more] == stock[more] + 5
    assert after[untouched] == stock[untouched] + 3  # not named: not read, not written
    meta = first.asset_materializations_for_node("retailer_inventory")[0].metadata
    assert meta["skus_compared"].value == 1 and meta["skus_set_to_zero"].value == 1
    usage = {k: n - counted.get(k, 0) for k, n in store.usage.by_operation.items()}
    assert usage["InventoryItemsByIds"] == 2 and usage["InventorySetQuantities"] == 2
    assert usage.get("InventoryItems", 0) == 0 and usage.get("InventoryLevelsBulk", 0) == 0
    # The automation's full sync from the snapshot taken before both changes.
    full = _sync(world, handle, upstream=False)
    assert full.success
    after = _available(world, handle)
    assert after[gone] == 0 and after[more] == stock[more] + 5
    assert after[untouched] == stock[untouched]
    meta = full.asset_materializations_for_node("retailer_inventory")[0].metadata
    assert meta["skus_written"].value == 1


def test_an_archived_or_deleted_lgl_sku_reaches_0_at_every_retailer_in_one_cycle_told_once(world):
    """LGL archives 60 products (more than the mass-zero guard's share: an archive is LGL
    saying so, the guard's explicit override) and deletes one: one cycle takes each to 0 at
    both retailers, with one notice; the next cycle writes nothing and tells nothing."""
    handles = [RETAILERS[0][0], RETAILERS[1][0]]
    stock, _ = _seed(world, 100, handles, changed=0.0)
    for handle in handles:
        assert _sync(world, handle).success  # LGL's levels recorded for each retailer
    lgl = world.sandbox.engine.stores["lgl"]
    archived = [f"SKU-{i:06d}" for i in range(60) if stock[f"SKU-{i:06d}"] > 0]
    deleted = next(f"SKU-{i:06d}" for i in range(60, 100) if stock[f"SKU-{i:06d}"] > 0)
    with lgl.lock:
        for sku in archived:
            lgl.products[lgl.variants_by_sku(sku)[0].product_id].status = "ARCHIVED"
        lgl.delete_product(lgl.variants_by_sku(deleted)[0].product_id)
    for cycle in range(2):
        results = [_sync(world, h, upstream=(h == handles[0])) for h in handles]
        assert all(r.success for r in results)
        for handle in handles:
            after = _available(world, handle)
            assert {s: after[s] for s in [*archived, deleted]} == dict.fromkeys(
                [*archived, deleted], 0
            )
            others = [s for s in stock if s not in archived and s != deleted]
            assert all(after[s] == stock[s] for s in others)
        written = [
            r.asset_materializations_for_node("retailer_inventory")[0].metadata["skus_written"]
            for r in results
        ]
        assert [w.value for w in written] == ([len(archived) + 1] * 2 if cycle == 0 else [0, 0])
    with world.engine.connect() as connection:
        told = (
            connection.execute(
                sa.select(email_notifications.c.subject).where(
                    email_notifications.c.notification_type == "discontinued"
                )
            )
            .scalars()
            .all()
        )
    assert told == [f"{len(archived) + 1} SKU(s) discontinued at LGL: retailers set to 0"]
    # LGL sells one again: the next cycle restores it.
    with lgl.lock:
        lgl.products[lgl.variants_by_sku(archived[0])[0].product_id].status = "ACTIVE"
    for handle in handles:
        assert _sync(world, handle).success
        assert _available(world, handle)[archived[0]] == stock[archived[0]]
