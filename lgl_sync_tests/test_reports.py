"""Reports over the history the sync keeps: usage for billing, stock insight, anomalies.

Usage is counted from what real sync runs recorded against the sandbox, and compared with a
count made independently from the sandbox's LGL store. Forecasts and anomalies are judged on
90 days of generated history whose generator (trend, weekly and daily pattern, noise,
stock-outs, a promotion, an outage) is fixed in ``lgl_sync/devkit/history.py``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from shopify_sandbox.models import TrackingInfo

from lgl_sync.cli import main
from lgl_sync.control_plane import history, records
from lgl_sync.control_plane.retailers import get_retailer, update_retailer
from lgl_sync.control_plane.tables import email_notifications, stock_history
from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.defs.reports import (
    monthly_usage,
    monthly_usage_schedule,
    order_anomalies,
    stock_insight,
    stock_table,
)
from lgl_sync.devkit.history import Pattern, generate, now_hour, outage_window
from lgl_sync.devkit.world import load_world, token_for
from lgl_sync.reports import anomalies, insight, usage
from lgl_sync_tests.notify_fixtures import smtp_server
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, seed

ORDERS = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]
PUSH = [lgl_shipments, retailer_fulfillments]
ZONE = "America/New_York"  # the sandbox LGL store's shop.ianaTimezone
CANCEL = """
mutation($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true, notifyCustomer: true) {
    job { id } orderCancelUserErrors { message }
  }
}
"""


# -- usage for billing against the sandbox ------------------------------------------------------


def _set_clock(sandbox, moment: datetime) -> None:
    """Moves the sandbox's clock (both stores) to ``moment``."""
    sandbox.clock.advance((moment - sandbox.clock.utcnow()).total_seconds())


def _order(sandbox, handle: str, quantities: tuple[int, ...]):
    """A new paid order at the retailer for its first LGL SKUs, ``quantities`` of each."""
    store = sandbox.store(handle)
    skus = sorted(v.sku for v in store.variants.values() if v.sku.startswith("LGL-"))
    variant = {store.variants[v].sku: v for v in store.variants}
    return store.create_order(
        lines=[
            {"variant_id": variant[s], "quantity": q}
            for s, q in zip(skus, quantities, strict=False)
        ],
        email="buyer@example.com",
        shipping_address=BUYER_ADDRESS,
    )


def _ship(sandbox, lgl_order, units: int, numbers: list[str]):
    lgl = sandbox.store("lgl")
    fo = next(
        lgl.fulfillment_orders[i]
        for i in lgl_order.fulfillment_order_ids
        if lgl.fulfillment_orders[i].status in ("OPEN", "IN_PROGRESS")
    )
    line = next(li for li in fo.line_items if li.remaining_quantity)
    tracking = [TrackingInfo("UPS", n, None) for n in numbers]
    return lgl.create_fulfillment([(fo, [(line.id, units)])], tracking, True)


def independent_count(sandbox, retailer_id: str, start: datetime, end: datetime) -> dict:
    """Usage counted straight from the sandbox's LGL store, by the README's rules."""
    lgl = sandbox.store("lgl")
    mine = [
        o for o in lgl.orders.values() if (o.source_identifier or "").startswith(f"{retailer_id}:")
    ]
    live = {
        o.id: [
            lgl.fulfillments[f]
            for f in o.fulfillment_ids
            if lgl.fulfillments[f].status == "SUCCESS"
        ]
        for o in mine
    }
    billed = [
        o
        for o in mine
        if start <= o.created_at < end and not (o.cancelled_at is not None and not live[o.id])
    ]
    shipments = [f for o in mine for f in live[o.id] if start <= f.created_at < end]
    return {
        "orders": len(billed),
        "order_lines": sum(
            len({li.sku for li in o.line_items if li.current_quantity}) for o in billed
        ),
        "units": sum(li.current_quantity for o in billed for li in o.line_items),
        "shipments": len(shipments),
        "boxes": sum(max(1, len(f.tracking_info)) for f in shipments),
    }


COUNTED = ("orders", "order_lines", "units", "shipments", "boxes")


TWO = (RETAILER, "epic-gardening")


def _cycle(world) -> None:
    for handle in TWO:
        assert world.materialize(ORDERS, partition=handle).success
        assert world.materialize(PUSH, partition=handle).success


def _lgl_orders(sandbox, handle: str) -> list:
    lgl = sandbox.store("lgl")
    found = [o for o in lgl.orders.values() if o.source_identifier.startswith(f"{handle}:")]
    return sorted(found, key=lambda o: o.id)


def _cancel(world, handle: str, lgl_order) -> None:
    source = "gid://shopify/Order/" + lgl_order.source_identifier.split(":")[1]
    answer = world.sandbox.raw(handle, CANCEL, {"id": source}).json()["data"]["orderCancel"]
    assert not answer["orderCancelUserErrors"]


def _late(sandbox, handle: str, late) -> tuple:
    """The LGL order of ``late``, and the retailer's other LGL orders."""
    lgl_orders = _lgl_orders(sandbox, handle)
    mine = next(o for o in lgl_orders if o.source_identifier.endswith(f":{late.id}"))
    return mine, [o for o in lgl_orders if o is not mine]


def test_usage_for_a_month_equals_an_independent_count_from_the_lgl_store(world, monkeypatch):
    """Real import and pushback runs for two retailers around the end of November in the LGL
    store's zone (New York: November began in daylight time and ends in standard time), with
    orders at 23:20-23:30 on the 30th, a cancellation before shipping, partial shipments and a
    voided label."""
    world.sandbox.engine.reset()
    load_world(world.sandbox.engine, {"skus": 40, "orders": 8, "seed": 5})
    for handle in TWO:
        world.add_retailer(handle, lookback_hours=720)
    _set_clock(world.sandbox, datetime(2026, 12, 1, 4, 20, tzinfo=UTC))  # Nov 30, 23:20 EST
    _cycle(world)  # the world's orders arrive in November
    late = {handle: _order(world.sandbox, handle, (2, 1)) for handle in TWO}  # 23:2x on the 30th
    _cycle(world)
    for handle in TWO:
        late_lgl, others = _late(world.sandbox, handle, late[handle])
        assert late_lgl.created_at < datetime(2026, 12, 1, 5, tzinfo=UTC)  # November there
        _ship(world.sandbox, others[0], 1, ["1ZNOV1", "1ZNOV2"])  # in November, two boxes
        _cancel(world, handle, others[2])
    world.sandbox.clock.advance(5)
    _cycle(world)
    world.sandbox.clock.advance(5)
    world.sandbox.store("lgl").run_due_jobs()
    _cycle(world)  # the cancellations are confirmed: not billed

    _set_clock(world.sandbox, datetime(2026, 12, 1, 5, 30, tzinfo=UTC))  # Dec 1, 00:30 EST
    for handle in TWO:
        _order(world.sandbox, handle, (3,))
        late_lgl, others = _late(world.sandbox, handle, late[handle])
        _ship(world.sandbox, late_lgl, 1, ["1ZDEC1"])  # partial shipments in December
        _ship(world.sandbox, late_lgl, 1, ["1ZDEC2"])
        voided = _ship(world.sandbox, others[1], 1, ["1ZVOID"])
        world.sandbox.store("lgl").cancel_fulfillment(voided)  # a voided label counts nothing
    _cycle(world)
    _cycle(world)

    november = (datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 12, 1, 5, tzinfo=UTC))
    for handle in TWO:
        expected = independent_count(world.sandbox, handle, *november)
        assert expected["orders"] >= 5 and expected["shipments"] == 1
        key = dg.MultiPartitionKey({"month": "2026-11-01", "retailer": handle})
        result = world.materialize([monthly_usage], partition=key)
        assert result.success
        row = result.output_for_node("monthly_usage").iloc[0].to_dict()
        assert {k: row[k] for k in COUNTED} == expected, handle
        assert row["cancelled_before_shipment"] == 1
        assert row["timezone"] == ZONE
    _december_from_the_command_line(world, monkeypatch)


def _december_from_the_command_line(world, monkeypatch) -> None:
    """December's usage as CSV and as XLSX, equal to the independent count."""
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "true")
    december = (datetime(2026, 12, 1, 5, tzinfo=UTC), datetime(2027, 1, 1, 5, tzinfo=UTC))
    runner = CliRunner()
    for handle in TWO:
        expected = independent_count(world.sandbox, handle, *december)
        assert expected["orders"] == 1 and expected["shipments"] == 2
        args = ["report", "usage", "--retailer", handle, "--month", "2026-12"]
        answer = runner.invoke(main, [*args, "--format", "csv"])
        assert answer.exit_code == 0, answer.output
        (counted,) = list(csv.DictReader(io.StringIO(answer.output)))
        assert {k: int(counted[k]) for k in COUNTED} == expected
        path = f"{world.instance.root_directory}/{handle}.xlsx"
        assert runner.invoke(main, [*args, "--format", "xlsx", "-o", path]).exit_code == 0
        book = openpyxl.load_workbook(path)
        assert book.sheetnames == ["Usage", "Orders", "Shipments"]
        assert book["Orders"].max_row - 1 == expected["orders"]
        assert book["Shipments"].max_row - 1 == expected["shipments"]
    bad = runner.invoke(main, ["report", "usage", "--retailer", RETAILER, "--month", "12/2026"])
    assert bad.exit_code == 2 and "2026-11" in bad.output


def test_month_bounds_follow_the_zone_across_daylight_saving():
    nov = usage.month_bounds(date(2026, 11, 1), ZONE)  # starts in EDT, ends in EST
    assert nov == (datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 12, 1, 5, tzinfo=UTC))
    march = usage.month_bounds(date(2027, 3, 1), ZONE)  # starts in EST, ends in EDT
    assert march == (datetime(2027, 3, 1, 5, tzinfo=UTC), datetime(2027, 4, 1, 4, tzinfo=UTC))
    with pytest.raises(usage.MonthError):
        usage.parse_month("November")


# -- the monthly email ------------------------------------------------------------------------


@pytest.fixture
def smtp(monkeypatch):
    controller, url, inbox = smtp_server()
    monkeypatch.setenv("SMTP_URL", url)
    monkeypatch.setenv("NOTIFY_QUIET_HOURS", "off")
    yield inbox
    controller.stop()


def _attachments(message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_content()
        for part in message.iter_attachments()
        if part.get_filename()
    }


def test_the_monthly_schedule_emails_last_months_usage_with_csv_and_xlsx(world, smtp, monkeypatch):
    seed(world.sandbox, normal=0, lgl_skus=20)
    world.add_retailer(RETAILER)
    monkeypatch.setenv("LGL_BILLING_EMAIL", "billing@lgl.example, accounts@lgl.example")
    generate(world.engine, RETAILER, datetime(2026, 11, 20, tzinfo=UTC), Pattern(days=60, skus=10))

    context = dg.build_schedule_context(
        instance=world.instance,
        scheduled_execution_time=datetime(2026, 11, 1, 12, tzinfo=UTC),
        resources={"control_plane": world.resources()["control_plane"]},
    )
    requests = list(monthly_usage_schedule(context))
    assert [r.partition_key for r in requests] == [f"2026-10-01|{RETAILER}"]
    result = world.materialize([monthly_usage], partition=requests[0].partition_key)
    assert result.success
    expected = usage.usage(world.engine, RETAILER, date(2026, 10, 1), ZONE).row()
    start, end = usage.month_bounds(date(2026, 10, 1), ZONE)
    with world.engine.connect() as connection:  # the ledger of what was imported
        in_month = connection.execute(
            sa.text(
                "SELECT count(*), sum(units) FROM order_history WHERE retailer_id = :r "
                "AND received_at >= :s AND received_at < :e"
            ),
            {"r": RETAILER, "s": start, "e": end},
        ).one()
    assert (expected["orders"], expected["units"]) == (in_month[0], in_month[1])

    assert len(smtp.messages) == 1  # LGL's billing recipients; no copy is configured
    to_lgl = smtp.messages[0]
    assert str(to_lgl["To"]) == "billing@lgl.example, accounts@lgl.example"
    files = _attachments(to_lgl)
    name = f"lgl-usage-{RETAILER}-2026-10"
    assert set(files) == {f"{name}.csv", f"{name}.xlsx", "usage.png"}
    text = files[f"{name}.csv"]
    (row,) = list(csv.DictReader(io.StringIO(text if isinstance(text, str) else text.decode())))
    assert {k: int(row[k]) for k in COUNTED} == {k: expected[k] for k in COUNTED}
    book = openpyxl.load_workbook(io.BytesIO(files[f"{name}.xlsx"]))
    assert book["Orders"].max_row - 1 == expected["orders"]
    assert files["usage.png"].startswith(b"\x89PNG")
    assert "Usage for 2026-10" in str(to_lgl["Subject"])

    again = world.materialize([monthly_usage], partition=requests[0].partition_key)
    assert again.success and len(smtp.messages) == 1  # the same numbers are not sent twice

    # With a copy address configured, the retailer gets its own email (LGL's is not resent).
    retailer = get_retailer(world.engine, RETAILER)
    copy = retailer.model_copy(update={"usage_copy_to": "ap@plants.example"})
    update_retailer(world.engine, copy)
    assert world.materialize([monthly_usage], partition=requests[0].partition_key).success
    assert len(smtp.messages) == 2 and str(smtp.messages[1]["To"]) == "ap@plants.example"
    assert set(_attachments(smtp.messages[1])) == set(files)


# -- history, stock insight and the forecast --------------------------------------------------


def test_stock_history_keeps_changes_only_and_is_pruned(store_engine):
    at = datetime(2026, 11, 1, tzinfo=UTC)
    assert records.record_levels(store_engine, "r", {"A": 5, "B": 0}, at) == 2
    assert records.record_levels(store_engine, "r", {"A": 5, "B": 0}, at + timedelta(hours=1)) == 0
    assert records.record_levels(store_engine, "r", {"A": 4, "B": 0}, at + timedelta(hours=2)) == 1
    with store_engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(stock_history)).scalar() == 3
        )
    changes = records.level_changes(store_engine, "r", at + timedelta(hours=1))
    assert sorted(zip(changes["sku"], changes["available"], strict=True)) == [
        ("A", 4),
        ("A", 5),
        ("B", 0),
    ]  # the last change before the window, then those inside it
    removed = records.prune(store_engine, at + timedelta(hours=1), "r")
    assert removed["stock_history"] == 2
    assert dict(
        zip(*records.levels(store_engine, "r")[["sku", "available"]].T.values, strict=True)
    ) == {
        "A": 4,
        "B": 0,
    }


def _demand(engine, retailer_id: str, end: datetime, days: int):
    start = end - timedelta(days=days)
    first = (pd.Timestamp(start).tz_convert(ZONE) + pd.Timedelta(days=1)).date()
    last = (pd.Timestamp(end).tz_convert(ZONE) - pd.Timedelta(days=1)).date()
    orders = records.orders(engine, retailer_id, start, end)
    demand = insight.daily_demand(orders, ZONE, first, last)
    changes = records.level_changes(engine, retailer_id, start)
    return demand, insight.stocked_out(changes, list(demand.columns), ZONE, first, last)


def test_the_forecast_beats_last_week_on_held_out_history(store_engine, capsys):
    pattern = Pattern(days=91, skus=60)
    end = now_hour()
    generate(store_engine, "r", end, pattern)
    demand, censored = _demand(store_engine, "r", end, pattern.days)
    assert demand.shape[1] >= 50 and len(demand) >= 89
    result = insight.backtest(demand, censored)
    with capsys.disabled():
        print(
            f"\nforecast WAPE on {result.skus} SKUs, last 14 days held out: model "
            f"{result.model_wape:.3f}, naive last week {result.naive_wape:.3f}"
        )
    assert result.skus >= 50
    assert result.model_wape < result.naive_wape

    # Out-of-stock days are censored demand: not learnt as zero sales.
    sku, _, out_days = pattern.stockouts[1]
    name = f"LGL-{sku:04d}"
    assert censored[name].sum() >= out_days
    through = demand.index.get_loc(demand[censored[name]].index[-1]) + 1
    factors = insight.weekday_factors(demand.iloc[:through].sum(axis=1))
    before = demand[name].iloc[through - out_days - 28 : through - out_days].mean()
    masked = insight.forecast(demand[name].iloc[:through].mask(censored[name]), factors).mean()
    as_zero = insight.forecast(demand[name].iloc[:through], factors).mean()
    assert abs(masked - before) < abs(as_zero - before)


def test_a_sku_selling_out_is_listed_low_before_it_runs_out_and_emailed_once(
    world, smtp, monkeypatch
):
    seed(world.sandbox, normal=0, lgl_skus=20)
    world.add_retailer(RETAILER, low_stock_days=10)
    monkeypatch.setenv("LGL_STOCK_EMAIL", "stock@lgl.example")
    pattern = Pattern(days=91, skus=30)
    end = now_hour()
    made = generate(world.engine, RETAILER, end, pattern)
    retailer = get_retailer(world.engine, RETAILER)
    changes = records.level_changes(world.engine, RETAILER, end - timedelta(days=91))
    sellout = changes[changes["sku"] == made.sellout_sku].sort_values("at")
    empty_at = sellout[sellout["available"] <= 0]["at"].min()
    assert not pd.isna(empty_at), "the generator's sell-out SKU runs out"
    listed_at = None
    day = end - timedelta(days=91 - pattern.sellout_from)
    while day < empty_at:
        table = stock_table(world.engine, retailer, ZONE, day)
        row = table[table["sku"] == made.sellout_sku].iloc[0]
        if row["low_stock"]:
            listed_at, level = day, row["available"]
            break
        day += timedelta(days=1)
    assert listed_at is not None and listed_at < empty_at and level > 0
    assert row["reorder_units"] > 0

    config = {"as_of": listed_at.isoformat()}
    first = world.materialize([stock_insight], config=config)
    assert first.success
    low = first.output_for_node("stock_insight")
    assert made.sellout_sku in set(low[low["low_stock"]]["sku"])
    assert len(smtp.messages) == 1 and str(smtp.messages[0]["To"]) == "stock@lgl.example"
    assert made.sellout_sku in smtp.messages[0].get_body(("plain",)).get_content()
    assert set(_attachments(smtp.messages[0])) == {"cover.png"}
    assert world.materialize([stock_insight], config=config).success
    assert len(smtp.messages) == 1  # the same list is not sent again


# -- anomalies ----------------------------------------------------------------------------------


def test_normal_variation_over_90_days_raises_no_anomaly(store_engine):
    # Fixed, so the test is the same every day: 91 days across the end of daylight saving (the
    # history's hours are New York's, as the model's are; a fixed UTC offset raised a spike here).
    end = datetime(2026, 11, 29, 5, tzinfo=UTC)
    generate(store_engine, "r", end, Pattern(days=91, skus=20))
    received = records.orders(store_engine, "r", end - timedelta(days=91), end)["received_at"]
    raised = []
    for hours in range(24 * 14, 24 * 91):
        at = end - timedelta(days=91) + timedelta(hours=hours)
        raised += anomalies.order_anomalies(received[received < at], at, ZONE, "r")
    assert raised == []


def test_orders_stopping_for_three_busy_hours_raise_one_notice(world, monkeypatch):
    monkeypatch.setenv("NOTIFY_QUIET_HOURS", "off")
    seed(world.sandbox, normal=0, lgl_skus=20)
    world.add_retailer(RETAILER)
    pattern = Pattern(days=60, skus=10, outage=(55, 13, 3))  # 13:00-16:00 local, day 55
    end = now_hour()
    generate(world.engine, RETAILER, end, pattern)
    start, _ = outage_window(pattern, end)
    outcomes = []
    for hours in range(-2, 6):  # hourly runs from before the outage to after it
        at = start + timedelta(hours=hours, minutes=7)
        result = world.materialize([order_anomalies], config={"as_of": at.isoformat()})
        assert result.success
        outcomes.append(result.output_for_node("order_anomalies"))
    kinds = [k for frame in outcomes for k in frame["kind"]]
    assert set(kinds) == {"orders_stopped"}
    with world.engine.connect() as connection:
        notices = connection.execute(
            sa.select(email_notifications.c.subject).where(
                email_notifications.c.notification_type == "anomaly"
            )
        ).all()
    assert len(notices) == 1 and "orders stopped" in notices[0].subject


def test_a_flow_whose_run_time_jumps_is_raised_once_with_a_plot(world, smtp):
    seed(world.sandbox, normal=0, lgl_skus=20)
    world.add_retailer(RETAILER)
    now = datetime.now(UTC)
    for n in range(12):
        started = now - timedelta(hours=12 - n)
        seconds = 400 if n == 11 else 18 + n % 3
        history.upsert_sync_job(
            world.engine,
            run_id=f"run-{n}",
            job_type="orders",
            status="completed",
            retailer_id=RETAILER,
            started_at=started,
            completed_at=started + timedelta(seconds=seconds),
            results={"imported_lgl_orders": {"lgl_api_cost_actual": 120.0}},
        )
    runs = history.recent_runs(world.engine, RETAILER, now - timedelta(days=1))
    assert np.isclose(runs["cost"].iloc[0], 120.0)
    for _ in range(2):
        result = world.materialize([order_anomalies])
        assert result.success
        found = result.output_for_node("order_anomalies")
        assert list(found["key"]) == [f"duration_jump:{RETAILER}:orders:run-11"]
    assert len(smtp.messages) == 1  # raised once
    assert "run time jumped" in str(smtp.messages[0]["Subject"])
    chart = _attachments(smtp.messages[0])["chart.png"]
    assert chart.startswith(b"\x89PNG")
