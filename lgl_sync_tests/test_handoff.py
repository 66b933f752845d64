"""What one asset hands the next goes through the control plane, never pickles on disk.

Contract (operators' day two): with the Definitions' IO manager, a run writes no asset value
under ``$DAGSTER_HOME/storage`` (run workers may be on other machines, and the orders read hold
customers' addresses); the values are rows of ``asset_handoffs``, encrypted with LGL_SECRET_KEY
when it is set, deleted after LGL_HANDOFF_RETENTION_HOURS; a value gone is a clear failure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from cryptography.fernet import Fernet

from lgl_sync.control_plane.tables import asset_handoffs
from lgl_sync.definitions import defs
from lgl_sync.defs.handoff import ControlPlaneIOManager
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

ORDERS = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]


def test_the_definitions_hand_asset_values_over_through_the_control_plane():
    assert isinstance(defs.resources["io_manager"], ControlPlaneIOManager)


def test_a_run_leaves_no_asset_value_on_disk_and_none_in_clear(world, monkeypatch):
    monkeypatch.setenv("LGL_SECRET_KEY", Fernet.generate_key().decode())
    seed(world.sandbox, normal=3)
    world.add_retailer(RETAILER)
    resources = {
        **world.resources(),
        "io_manager": ControlPlaneIOManager(database_url=world.database_url),
    }
    assert world.materialize(ORDERS, resources=resources).success
    assert len(lgl_orders_by_source(world.sandbox)) >= 3  # the import read its input back
    storage = Path(world.instance.root_directory) / "storage"
    values = [p for p in storage.rglob("*") if p.is_file() and "compute_logs" not in p.parts]
    assert values == []
    with world.engine.connect() as connection:
        rows = connection.execute(sa.select(asset_handoffs)).all()
    assert {r.asset_key for r in rows} >= {"retailer_paid_orders", "imported_lgl_orders"}
    assert all(r.partition_key == RETAILER and r.value.startswith(b"enc:v1:") for r in rows)
    assert not any(BUYER_ADDRESS["address1"].encode() in r.value for r in rows)


def test_old_values_are_deleted_and_a_missing_one_fails_clearly(world, monkeypatch):
    monkeypatch.setenv("LGL_HANDOFF_RETENTION_HOURS", "1")
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    manager = ControlPlaneIOManager(database_url=world.database_url)
    resources = {**world.resources(), "io_manager": manager}
    with world.engine.begin() as connection:
        connection.execute(
            asset_handoffs.insert().values(
                asset_key="stale",
                partition_key="x",
                run_id="r0",
                value=b"old",
                created_at=datetime.now(UTC) - timedelta(hours=2),
            )
        )
    assert world.materialize([retailer_paid_orders], resources=resources).success
    with world.engine.connect() as connection:
        keys = set(connection.execute(sa.select(asset_handoffs.c.asset_key)).scalars())
    assert "stale" not in keys and "retailer_paid_orders" in keys
    with world.engine.begin() as connection:
        connection.execute(asset_handoffs.delete())
    result = dg.materialize(
        [retailer_paid_orders, imported_lgl_orders],
        selection=[imported_lgl_orders],
        partition_key=RETAILER,
        instance=world.instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "run the flow again from its first asset" in str(failure.step_failure_data.error)


def test_handoffs_are_stored_compressed_and_earlier_uncompressed_ones_still_load():
    import pickle

    import pandas as pd

    from lgl_sync.defs.handoff import _pack, _unpack

    frame = pd.DataFrame({"sku": [f"SKU-{i:06d}" for i in range(5_000)], "available": range(5_000)})
    frame["inventory_item_id"] = [f"gid://shopify/InventoryItem/{10**9 + i}" for i in range(5_000)]
    packed = _pack(frame)
    plain = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(packed) * 3 < len(plain)
    pd.testing.assert_frame_equal(_unpack(packed), frame)
    pd.testing.assert_frame_equal(_unpack(plain), frame)  # stored before this change
