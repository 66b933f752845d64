"""The control-plane store behaves the same on SQLite and on a real Postgres server.

Contract: migrations create every table and are idempotent; retailers round-trip with location
ids normalised and duplicate slugs refused; a ledger key is recorded exactly once even when two
writers race for it, the loser getting a clean "already recorded" answer; sync_jobs rows are
upserted by run id; activity rows are not duplicated on replay; partitions follow the table.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.history import append_activity, upsert_sync_job
from lgl_sync.control_plane.ledger import (
    claim_fulfillment,
    claim_inventory_write,
    claim_order,
    fulfillment_links_of,
)
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import (
    DuplicateRetailerError,
    Retailer,
    add_retailer,
    get_retailer,
    list_retailers,
    partition_changes,
    remove_retailer,
    set_enabled,
)
from lgl_sync.control_plane.tables import (
    LEDGER_TABLES,
    SUPABASE_TABLES,
    fulfillment_links,
    order_links,
    sync_jobs,
)

DEFINITION = {
    "id": "nationwide-plants",
    "name": "Nationwide Plants",
    "domain": "nationwide-plants.myshopify.com",
    "api_token": "SHOPIFY_NATIONWIDE_PLANTS_TOKEN",
    "target_location_id": "84385005803",
    "lgl_location_id": "gid://shopify/Location/7001",
}


def test_migrations_create_every_table_and_run_again_harmlessly(store_engine):
    upgrade(store_engine)
    names = set(sa.inspect(store_engine).get_table_names())
    assert {t.name for t in (*SUPABASE_TABLES, *LEDGER_TABLES)} <= names


def test_retailer_round_trip_normalises_location_ids(store_engine):
    add_retailer(store_engine, Retailer.parse(DEFINITION))
    found = get_retailer(store_engine, "nationwide-plants")
    assert found.target_location_id == "gid://shopify/Location/84385005803"
    assert found.lookback_hours == 6 and found.enabled
    assert [r.id for r in list_retailers(store_engine)] == ["nationwide-plants"]
    with pytest.raises(DuplicateRetailerError, match="exists already"):
        add_retailer(store_engine, Retailer.parse(DEFINITION))


def test_enable_disable_remove_drive_partition_changes(store_engine):
    add_retailer(store_engine, Retailer.parse(DEFINITION))
    add_retailer(
        store_engine,
        Retailer.parse(
            {**DEFINITION, "id": "epic-gardening", "api_token": "SHOPIFY_EPIC_GARDENING_TOKEN"}
        ),
    )
    assert partition_changes(store_engine, set()) == (["epic-gardening", "nationwide-plants"], [])
    assert set_enabled(store_engine, "epic-gardening", False)
    # Disabled: keeps its partition, gets no new one.
    assert partition_changes(store_engine, {"epic-gardening"}) == (["nationwide-plants"], [])
    assert partition_changes(store_engine, set()) == (["nationwide-plants"], [])
    assert remove_retailer(store_engine, "epic-gardening")
    assert partition_changes(store_engine, {"epic-gardening", "nationwide-plants"}) == (
        [],
        ["epic-gardening"],
    )
    assert not set_enabled(store_engine, "nobody", True)


def test_ledger_key_is_recorded_once(store_engine):
    kwargs = {"retailer_id": "r", "source_order_id": "gid://shopify/Order/1"}
    assert claim_order(store_engine, **kwargs) is True
    assert claim_order(store_engine, **kwargs) is False
    assert (
        claim_fulfillment(store_engine, lgl_fulfillment_id="f1", retailer_id="r", lgl_order_id="o1")
        is True
    )
    assert (
        claim_fulfillment(store_engine, lgl_fulfillment_id="f1", retailer_id="r", lgl_order_id="o1")
        is False
    )
    assert (
        claim_inventory_write(store_engine, idempotency_key="k", retailer_id="r", batch=0, items=3)
        is True
    )
    assert (
        claim_inventory_write(store_engine, idempotency_key="k", retailer_id="r", batch=0, items=3)
        is False
    )


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_writers_of_one_ledger_key_make_exactly_one_row(store_engine, round_):
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def claim() -> None:
        barrier.wait()
        results.append(
            claim_order(
                store_engine, retailer_id="race", source_order_id=f"gid://shopify/Order/{round_}"
            )
        )

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    with store_engine.connect() as connection:
        rows = connection.execute(sa.select(sa.func.count()).select_from(order_links)).scalar()
    assert rows == 1


def test_sync_job_is_upserted_by_run_id(store_engine):
    upsert_sync_job(
        store_engine, run_id="run-1", job_type="orders", status="running", retailer_id="r"
    )
    upsert_sync_job(
        store_engine, run_id="run-1", job_type="orders", status="completed", results={"imported": 3}
    )
    with store_engine.connect() as connection:
        rows = connection.execute(sa.select(sync_jobs)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["status"] == "completed" and rows[0]["results"] == {"imported": 3}
    assert rows[0]["retailer_id"] == "r"
    with pytest.raises(ValueError, match="status must be"):
        upsert_sync_job(store_engine, run_id="run-2", job_type="orders", status="done")


def test_activity_replayed_with_the_same_event_is_not_duplicated(store_engine):
    assert append_activity(store_engine, operation="orders", success=True, event_id=41)
    assert not append_activity(store_engine, operation="orders", success=True, event_id=41)
    assert append_activity(store_engine, operation="orders", success=True)  # no event id


def test_a_finished_sync_job_never_goes_back_to_running(store_engine):
    upsert_sync_job(store_engine, run_id="run-9", job_type="orders", status="completed")
    upsert_sync_job(store_engine, run_id="run-9", job_type="orders", status="running")
    with store_engine.connect() as connection:
        status = connection.execute(sa.select(sync_jobs.c.status)).scalar()
    assert status == "completed"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrade_moves_skip_reasons_out_of_the_tracking_fingerprint(backend, tmp_path, request):
    """Revision 0003: rows written before it keep everything, and a skip reason that was
    stored as the fingerprint is now the reason (pushed rows keep their fingerprint)."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    upgrade(engine, "0002")
    now = datetime.now(UTC)
    rows = [
        ("gid://shopify/Fulfillment/1", "skipped", "retailer_order_cancelled"),
        ("gid://shopify/Fulfillment/2", "created", '["UPS", ["1Z"], [null]]'),
        ("gid://shopify/Fulfillment/3", "pending", None),
    ]
    with engine.begin() as connection:
        for fulfillment, status, fingerprint in rows:
            connection.execute(
                fulfillment_links.insert().values(
                    lgl_fulfillment_id=fulfillment,
                    retailer_id="nationwide-plants",
                    lgl_order_id="gid://shopify/Order/9",
                    status=status,
                    tracking_fingerprint=fingerprint,
                    created_at=now,
                    updated_at=now,
                )
            )
    upgrade(engine)
    links = fulfillment_links_of(engine, "nationwide-plants")
    assert [
        (links[f].status, links[f].reason, links[f].tracking_fingerprint) for f, _, _ in rows
    ] == [
        ("skipped", "retailer_order_cancelled", None),
        ("created", None, '["UPS", ["1Z"], [null]]'),
        ("pending", None, None),
    ], backend
    engine.dispose()


def test_many_rows_are_upserted_alike_on_both_databases(store_engine):
    """``upsert_many`` (COPY into a staging table on Postgres): SKUs with commas, quotes, new
    lines and non-ASCII arrive intact, NULL stays NULL, a known key updates only the named
    columns, and without ``update`` a known key is left as it was."""
    from lgl_sync.control_plane.records import upsert_many
    from lgl_sync.control_plane.tables import retailer_stock_items

    odd = ['A,"quoted", sku', "line\nbreak", "naïve-é", "back\\slash", "N"]
    rows = [
        {"retailer_id": "r", "sku": sku, "inventory_item_id": f"item-{i}", "lgl_item_id": None}
        for i, sku in enumerate(odd)
    ]
    keys = ["retailer_id", "sku"]
    with store_engine.begin() as connection:
        upsert_many(connection, retailer_stock_items, rows, keys, ["inventory_item_id"])
    changed = [{**rows[0], "inventory_item_id": "new", "lgl_item_id": "lgl-1"}]
    with store_engine.begin() as connection:
        upsert_many(connection, retailer_stock_items, changed, keys, ["inventory_item_id"])
        upsert_many(connection, retailer_stock_items, [{**rows[1], "inventory_item_id": "x"}], keys)
        upsert_many(connection, retailer_stock_items, [], keys)
    with store_engine.connect() as connection:
        found = {
            sku: (item, lgl)
            for sku, item, lgl in connection.execute(
                sa.select(
                    retailer_stock_items.c.sku,
                    retailer_stock_items.c.inventory_item_id,
                    retailer_stock_items.c.lgl_item_id,
                )
            )
        }
    assert found == {
        odd[0]: ("new", None),  # only the named column was updated
        odd[1]: ("item-1", None),  # no update: left as it was
        **{sku: (f"item-{i}", None) for i, sku in enumerate(odd) if i > 1},
    }
