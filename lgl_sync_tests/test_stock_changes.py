"""LGL's stock changes pushed to every retailer they concern in one run (``sync_stock_changes``).

Contract: one read of the named items at LGL for every retailer; each retailer set for its own
items only; a materialization of ``retailer_inventory`` per retailer synced, in that retailer's
partition; one retailer's failure (a revoked token, its lock held by another inventory run) is
that partition's alone: no materialization for it, an observation saying why, the others synced,
and the run failed naming it. A held lock is waited for, bounded, then given up.
"""

from __future__ import annotations

import dagster as dg
import pytest

from lgl_sync.control_plane.locks import RETRY_EVERY, FlowBusyError, flow_lock
from lgl_sync.defs.stock_changes import INVENTORY, LOCK_WAIT, sync_stock_changes_job
from lgl_sync.devkit.world import RETAILERS
from lgl_sync.flows import Flow
from lgl_sync.shopify.throttle import waiting_on
from lgl_sync_tests.test_bounds import RecordingClock
from lgl_sync_tests.test_defs_inventory import _available, _lgl_set, _seed, _sync

HANDLES = [handle for handle, _name in RETAILERS[:3]]


def _changes(world, items: dict[str, list[str]]) -> dg.ExecuteInProcessResult:
    """The run the webhook sensor starts, as the daemon would launch it."""
    return sync_stock_changes_job.execute_in_process(
        run_config={"ops": {"stock_changes": {"config": {"items": items}}}},
        instance=world.instance,
        resources=world.resources(),
        raise_on_error=False,
    )


def _synced_everywhere(world) -> dict[str, int]:
    stock, _differing = _seed(world, 40, HANDLES, changed=0.0)
    for n, handle in enumerate(HANDLES):  # each retailer's first full sync, one snapshot
        assert _sync(world, handle, upstream=n == 0).success
    return stock


def _latest_run(world, handle: str) -> str:
    """The run of the partition's latest materialization."""
    records = world.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=INVENTORY, asset_partitions=[handle]), limit=1
    ).records
    return records[0].run_id


def _recorded(result, kind) -> dict[str, dg.AssetMaterialization | dg.AssetObservation]:
    events = (
        result.get_asset_materialization_events()
        if kind == "materialization"
        else result.get_asset_observation_events()
    )
    found = {}
    for event in events:
        data = event.event_specific_data
        record = data.materialization if kind == "materialization" else data.asset_observation
        assert record.asset_key == INVENTORY
        found[record.partition] = record
    return found


def test_one_run_sets_each_retailer_its_own_changed_skus_from_one_lgl_read(world):
    stock = _synced_everywhere(world)
    more = _lgl_set(world, "SKU-000001", stock["SKU-000001"] + 5)
    gone = _lgl_set(world, "SKU-000002", 0)
    lgl = world.sandbox.engine.stores["lgl"]
    counted = dict(lgl.usage.by_operation)
    first, second, third = HANDLES
    result = _changes(world, {first: [more, gone], second: [more], third: [gone]})
    assert result.success
    usage = {k: n - counted.get(k, 0) for k, n in lgl.usage.by_operation.items()}
    # One read of the items at LGL for the three retailers (and its location, not configured).
    assert {k: n for k, n in usage.items() if n} == {"InventoryItemsByIds": 1, "PrimaryLocation": 1}
    raised, zero = stock["SKU-000001"] + 5, 0
    assert (_available(world, first)["SKU-000001"], _available(world, first)["SKU-000002"]) == (
        raised,
        zero,
    )
    assert _available(world, second)["SKU-000001"] == raised
    assert _available(world, second)["SKU-000002"] == stock["SKU-000002"]  # not named for it
    assert _available(world, third)["SKU-000001"] == stock["SKU-000001"]
    assert _available(world, third)["SKU-000002"] == zero
    recorded = _recorded(result, "materialization")
    assert set(recorded) == set(HANDLES)
    assert {h: recorded[h].metadata["skus_written"].value for h in HANDLES} == {
        first: 2,
        second: 1,
        third: 1,
    }
    for handle in HANDLES:  # each partition's latest materialization is this run's
        assert _latest_run(world, handle) == result.run_id


def test_one_retailers_failure_or_held_lock_fails_only_its_partition(any_world):
    world = any_world
    stock = _synced_everywhere(world)
    synced, revoked, locked = HANDLES
    world.sandbox.store(revoked).token = "revoked-by-the-retailer"
    before = {h: _available(world, h) for h in (revoked, locked)}
    changed = _lgl_set(world, "SKU-000003", stock["SKU-000003"] + 9)
    clock = RecordingClock()
    with flow_lock(world.engine, locked, Flow.INVENTORY), waiting_on(clock):
        result = _changes(world, {h: [changed] for h in HANDLES})
    assert not result.success
    assert _available(world, synced)["SKU-000003"] == stock["SKU-000003"] + 9
    assert {h: _available(world, h) for h in (revoked, locked)} == before  # nothing written
    assert set(_recorded(result, "materialization")) == {synced}
    observed = _recorded(result, "observation")
    assert set(observed) == {revoked, locked}
    assert observed[revoked].metadata["error_category"].value == "auth"
    assert observed[locked].metadata["error_category"].value == "busy"
    # The lock was tried for LOCK_WAIT on the run's clock, then given up: bounded.
    tries = [s for s in clock.sleeps if s == RETRY_EVERY]
    assert len(tries) == int(LOCK_WAIT / RETRY_EVERY)
    failure = result.get_step_failure_events()[0].step_failure_data
    assert f"2 of 3 retailers not synced: {revoked}" in failure.error.message
    assert f"{locked}: another run of {locked} inventory is running" in failure.error.message
    # The partitions' own history: only the synced retailer has this run's materialization.
    for handle in (revoked, locked):
        assert _latest_run(world, handle) != result.run_id
    # Its lock released, the locked retailer syncs in the next run.
    again = _changes(world, {locked: [changed]})
    assert again.success
    assert _available(world, locked)["SKU-000003"] == stock["SKU-000003"] + 9


def test_a_lock_is_waited_for_on_the_clock_and_taken_when_freed(world):
    """Bounded: tries every RETRY_EVERY seconds of the given clock until ``wait`` is spent."""
    engine = world.engine
    holder = flow_lock(engine, "epic-gardening", Flow.INVENTORY)
    holder.__enter__()

    class FreesOnThirdSleep(RecordingClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                holder.__exit__(None, None, None)

    clock = FreesOnThirdSleep()
    with flow_lock(engine, "epic-gardening", Flow.INVENTORY, wait=10, clock=clock):
        assert clock.sleeps == [RETRY_EVERY] * 3
    never = RecordingClock()
    with (
        flow_lock(engine, "epic-gardening", Flow.INVENTORY),
        pytest.raises(FlowBusyError),
        flow_lock(engine, "epic-gardening", Flow.INVENTORY, wait=2, clock=never),
    ):
        pass
    assert sum(never.sleeps) <= 2 and never.sleeps == [RETRY_EVERY] * 4


def test_the_control_plane_is_opened_and_migrated_once_whichever_threads_ask_first(tmp_path):
    """A stock-changes run's first use of the control plane may be in several threads at once
    (a forked run process starts with no engine): one engine, migrated once, no thread failing
    (Alembic's migration context is one per process)."""
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy as sa

    from lgl_sync.sync.clients import control_plane_engine

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _n: control_plane_engine(url), range(8)))
    assert len({id(e) for e in engines}) == 1
    with engines[0].connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert {"retailers", "lgl_read_marks", "alembic_version"} <= tables
