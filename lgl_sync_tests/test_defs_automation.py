"""Automation: retailer partitions follow the control plane; schedules request one run per
retailer whose flow is on, never a second one while the first is going.

Contract: evaluated for real with build_sensor_context / build_schedule_context on a real
DagsterInstance, with SQLite storage and with Postgres storage.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from lgl_sync.control_plane.retailers import Retailer, add_retailer, remove_retailer, set_enabled
from lgl_sync.definitions import defs
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.defs.schedules import import_orders_schedule, push_fulfillments_schedule
from lgl_sync.defs.sensors import retailer_partitions_sensor
from lgl_sync.flows import RETAILER_FLOW_TAG as FLOW_TAG
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.retailer import token_variable

TICK = datetime(2026, 11, 24, 12, 10, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request, tmp_path, monkeypatch):
    pg_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    if pg_url:
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    home = prepare_dagster_home(tmp_path / "home", pg_url=pg_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def control_plane(tmp_path) -> ControlPlaneResource:
    return ControlPlaneResource(database_url=f"sqlite:///{tmp_path / 'control.db'}")


def _add(control_plane, slug: str, **flags) -> None:
    add_retailer(
        control_plane.engine(),
        Retailer.parse(
            {
                "id": slug,
                "name": slug.title(),
                "domain": f"{slug}.myshopify.com",
                "api_token": token_variable(slug),
                "target_location_id": "1",
                **flags,
            }
        ),
    )


def _sense(instance, control_plane) -> None:
    """One sensor tick, its partition requests applied as the daemon would."""
    context = dg.build_sensor_context(instance=instance, resources={"control_plane": control_plane})
    result = retailer_partitions_sensor(context)
    for request in result.dynamic_partitions_requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions("retailers", list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition("retailers", key)


def test_partitions_follow_the_control_plane(instance, control_plane):
    _add(control_plane, "nationwide-plants")
    _add(control_plane, "epic-gardening", enabled=False, target_location_id=None)
    _sense(instance, control_plane)
    assert instance.get_dynamic_partitions("retailers") == ["nationwide-plants"]
    set_enabled(control_plane.engine(), "nationwide-plants", False)
    _sense(instance, control_plane)  # disabled: keeps its partition
    assert instance.get_dynamic_partitions("retailers") == ["nationwide-plants"]
    set_enabled(control_plane.engine(), "epic-gardening", True)
    remove_retailer(control_plane.engine(), "nationwide-plants")
    _sense(instance, control_plane)
    assert instance.get_dynamic_partitions("retailers") == ["epic-gardening"]


def _tick(schedule, instance, control_plane, when=TICK) -> list:
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"control_plane": control_plane},
        repository_def=defs.get_repository_def(),
    )
    return list(schedule.evaluate_tick(context).run_requests or [])


def test_schedule_ticks_request_one_run_per_retailer_whose_flow_is_on(instance, control_plane):
    _add(control_plane, "nationwide-plants")
    _add(control_plane, "botanical-interests", import_orders=False)
    _add(control_plane, "epic-gardening", push_fulfillments=False)
    _add(control_plane, "test-retail-store", enabled=False)
    _sense(instance, control_plane)
    orders = _tick(import_orders_schedule, instance, control_plane)
    assert sorted(r.partition_key for r in orders) == ["epic-gardening", "nationwide-plants"]
    pushes = _tick(push_fulfillments_schedule, instance, control_plane)
    assert sorted(r.partition_key for r in pushes) == ["botanical-interests", "nationwide-plants"]
    assert orders[0].tags[FLOW_TAG] == f"{orders[0].partition_key}:orders"
    again = _tick(import_orders_schedule, instance, control_plane)
    assert [r.run_key for r in again] == [r.run_key for r in orders]  # same tick: same keys
    later = _tick(import_orders_schedule, instance, control_plane, TICK.replace(minute=20))
    assert not {r.run_key for r in later} & {r.run_key for r in orders}


def test_no_second_run_while_a_retailers_run_is_going(instance, control_plane):
    _add(control_plane, "nationwide-plants")
    _add(control_plane, "epic-gardening")
    _sense(instance, control_plane)
    instance.add_run(
        DagsterRun(
            job_name="import_orders",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={FLOW_TAG: "nationwide-plants:orders"},
        )
    )
    for minute in (10, 20):  # two ticks land while it runs
        requests = _tick(
            import_orders_schedule, instance, control_plane, TICK.replace(minute=minute)
        )
        assert [r.partition_key for r in requests] == ["epic-gardening"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, dg.DefaultScheduleStatus.STOPPED),
        ({"SHOPIFY_LGL_DOMAIN": "lgl.myshopify.com"}, dg.DefaultScheduleStatus.RUNNING),
        (
            {"SHOPIFY_LGL_DOMAIN": "lgl.myshopify.com", "LGL_SCHEDULES": "stopped"},
            dg.DefaultScheduleStatus.STOPPED,
        ),
        ({"LGL_SCHEDULES": "Running"}, dg.DefaultScheduleStatus.RUNNING),
    ],
)
def test_schedules_run_on_their_own_once_the_lgl_store_is_configured(monkeypatch, env, expected):
    from lgl_sync.defs.schedules import default_status

    monkeypatch.delenv("SHOPIFY_LGL_DOMAIN", raising=False)
    monkeypatch.delenv("LGL_SCHEDULES", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_status() == expected


def test_a_misspelt_schedule_setting_is_refused(monkeypatch):
    from lgl_sync.defs.schedules import default_status

    monkeypatch.setenv("LGL_SCHEDULES", "on")
    with pytest.raises(ValueError, match="LGL_SCHEDULES must be 'running' or 'stopped'"):
        default_status()
