"""Offboarding (issue 27): disabling a retailer, by hand or by Shopify's ``app/uninstalled``
(test_webhooks.py), starts a retention timer; LGL_PII_RETENTION_DAYS later the daily job purges
the personal data LGL Sync still holds for it, once, and tells a person; enabling it again
stops the timer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner

from lgl_sync.cli import main
from lgl_sync.control_plane import offboarding
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.control_plane.tables import asset_handoffs, email_notifications, store_credentials
from lgl_sync.defs.alerts import daily_digest
from lgl_sync.defs.handoff import ControlPlaneIOManager
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync_tests.orders_world import RETAILER, seed


def _purge(world, days_later: float) -> dg.ExecuteInProcessResult:
    as_of = (datetime.now(UTC) + timedelta(days=days_later)).isoformat()
    result = daily_digest.execute_in_process(
        instance=world.instance,
        resources=world.resources(),
        op_selection=["purge_offboarded"],
        run_config={"ops": {"purge_offboarded": {"config": {"as_of": as_of}}}},
    )
    assert result.success
    return result


def _count(world, statement) -> int:
    with world.engine.connect() as connection:
        return connection.execute(statement).scalar()


def _held(world) -> dict[str, int]:
    return {
        "handoffs": _count(
            world,
            sa.select(sa.func.count()).where(asset_handoffs.c.partition_key == RETAILER),
        ),
        "credentials": _count(world, sa.select(sa.func.count()).select_from(store_credentials)),
    }


def test_a_disabled_retailers_personal_data_is_purged_once_after_the_retention(
    any_world, monkeypatch
):
    world = any_world
    seed(world.sandbox, normal=4, lgl_skus=20)
    world.add_retailer(RETAILER, usage_copy_to="owner@nationwide.example")
    resources = {
        **world.resources(),
        "io_manager": ControlPlaneIOManager(database_url=world.database_url),
    }
    result = world.materialize([retailer_paid_orders, imported_lgl_orders], resources=resources)
    assert result.success  # the orders read, addresses included, wait in asset_handoffs
    with world.engine.begin() as connection:
        connection.execute(
            store_credentials.insert().values(
                domain=get_retailer(world.engine, RETAILER).domain,
                grant="authorization_code",
                client_id="client",
                client_secret="enc:v1:secret",
                access_token="enc:v1:token",
            )
        )
    assert _held(world) == {"handoffs": 2, "credentials": 1}
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    runner = CliRunner()

    # Disabled, enabled again, disabled again: the timer runs from the last disabling.
    for command in ("disable", "enable", "disable"):
        assert runner.invoke(main, ["retailer", command, RETAILER]).exit_code == 0
    assert _purge(world, 29).success and _held(world)["handoffs"] == 2
    _purge(world, 31)
    assert _held(world) == {"handoffs": 0, "credentials": 0}
    retailer = get_retailer(world.engine, RETAILER)
    assert retailer.billing_email is None and retailer.billing_address1 is None
    assert retailer.usage_copy_to is None and retailer.name == "Nationwide Plants"
    _purge(world, 40)  # purged once: told once
    told = sa.select(email_notifications.c.recipients, email_notifications.c.notification_type)
    with world.engine.connect() as connection:
        rows = connection.execute(told).all()
    assert [r.notification_type for r in rows].count("purged") == 1
    assert not [r for r in rows if "billing@" in r.recipients]  # the addresses written over


def test_enabling_again_stops_the_timer(world):
    seed(world.sandbox, normal=1, lgl_skus=10)
    world.add_retailer(RETAILER)
    from lgl_sync.control_plane.retailers import set_enabled

    assert set_enabled(world.engine, RETAILER, False)
    assert [t.retailer_id for t in offboarding.due(world.engine, datetime.now(UTC), 0)] == [
        RETAILER
    ]
    assert set_enabled(world.engine, RETAILER, True)
    assert offboarding.due(world.engine, datetime.now(UTC) + timedelta(days=999), 0) == []
    _purge(world, 999)
    assert get_retailer(world.engine, RETAILER).billing_email == f"billing@{RETAILER}.example"
