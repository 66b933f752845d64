"""Notifications: real transports, the policy on a fake clock, and Dagster's sensors.

Contract (issue "Alerts and notifications"):
- SMTP goes through a real SMTP server with AUTH; Mailgun gets exactly its documented request
  (URL, basic auth api:KEY, form fields from/to/subject/text/html); temporary failures are
  retried, permanent ones are recorded as failed; nothing raises out of the notifier.
- Quiet hours defer to the digest (failures break them only when configured), activity is rate
  limited per (type, retailer), identical errors collapse with a count and an escalating
  interval, a recovery mail follows a failure, and the digest adds up the day.
- A failed run in a real Dagster instance produces exactly one failure email with the run link;
  the following successful run produces a recovery mail and an activity mail.
- Every email, sent or not, has its row in email_notifications; no secret is in any email.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from lgl_sync.control_plane.history import upsert_sync_job
from lgl_sync.control_plane.tables import activity_logs, email_notifications, sync_jobs
from lgl_sync.defs.alerts import NotifierResource, activity_alerts, failure_alerts
from lgl_sync.defs.history import mirror_once
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.devkit.world import token_for
from lgl_sync.notify.notices import activity_notice, failure_notice, recovery_notice
from lgl_sync.notify.notifier import Notifier
from lgl_sync.notify.policy import Settings
from lgl_sync.notify.transports import MailgunTransport, SmtpTransport, transport_from_env
from lgl_sync_tests.notify_fixtures import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    MailgunEndpoint,
    mailgun_server,
    smtp_server,
)
from lgl_sync_tests.orders_world import RETAILER, seed

TO = ["ops@lgl.example", "warehouse@lgl.example"]
SENDER = "LGL Sync <sync@lgl.example>"
UI = "https://dagster.lgl.example"


@pytest.fixture
def smtp():
    controller, url, inbox = smtp_server()
    inbox.url = url
    yield inbox
    controller.stop()


@pytest.fixture
def mailgun():
    endpoint = MailgunEndpoint()
    server = mailgun_server(endpoint)
    yield endpoint
    server.shutdown()


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta) -> None:
        self.current += timedelta(**delta)


def _notifier(engine, transport, clock=None, **settings) -> Notifier:
    return Notifier(
        engine=engine,
        transport=transport,
        sender=SENDER,
        recipients=TO,
        settings=Settings(**settings),
        now=clock or (lambda: datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
        sleep=lambda _s: None,
    )


def _rows(engine) -> list[dict]:
    t = email_notifications
    with engine.connect() as c:
        return [
            dict(r)
            for r in c.execute(
                sa.select(
                    t.c.notification_type, t.c.status, t.c.reason, t.c.subject, t.c.error_message
                ).order_by(t.c.id)
            ).mappings()
        ]


def _failure(run_id="run-1", message="auth: [API] Invalid API key or access token", **kw):
    return failure_notice(
        retailer_id=kw.get("retailer_id", "nationwide-plants"),
        retailer_name=kw.get("retailer_name", "Nationwide Plants"),
        flow=kw.get("flow", "orders"),
        category=kw.get("category", "auth"),
        message=message,
        run_id=run_id,
        run_url=f"{UI}/runs/{run_id}",
        step="retailer_paid_orders",
    )


def _activity(run_id="run-a", retailer=("nationwide-plants", "Nationwide Plants"), **numbers):
    return activity_notice(
        retailer_id=retailer[0],
        retailer_name=retailer[1],
        flow="orders",
        numbers=numbers or {"imported": 12, "held": 1},
        reasons={"unknown_sku": 1},
        run_id=run_id,
        run_url=f"{UI}/runs/{run_id}",
    )


# -- transports ---------------------------------------------------------------------------------


def test_smtp_delivers_text_and_html_after_logging_in(smtp, store_engine):
    notifier = _notifier(store_engine, SmtpTransport(smtp.url))
    assert notifier.notify(_activity()) == "sent"
    assert smtp.logins == ["lgl-alerts"]
    assert smtp.subjects() == ["[Nationwide Plants] Orders: 12 imported, 1 held"]
    message = smtp.messages[0]
    assert message["From"] == SENDER and message["To"] == ", ".join(TO)
    assert "12 imported, 1 held" in smtp.body(0, "plain")
    assert "1 x unknown sku" in smtp.body(0, "plain")
    assert f"{UI}/runs/run-a" in smtp.body(0, "html")
    assert [(r["notification_type"], r["status"]) for r in _rows(store_engine)] == [
        ("activity", "sent")
    ]


def test_mailgun_gets_exactly_its_documented_request(mailgun, store_engine):
    transport = MailgunTransport(MAILGUN_KEY, MAILGUN_DOMAIN, api_base=mailgun.url)
    assert _notifier(store_engine, transport).notify(_failure()) == "sent"
    assert mailgun.refused == []
    (form,) = mailgun.received
    assert set(form) == {"from", "to", "subject", "text", "html"}
    assert form["from"] == [SENDER]
    assert form["to"] == TO
    assert form["subject"] == [
        "[Nationwide Plants] Orders failed: auth — [API] Invalid API key or access token"
    ]
    assert f"{UI}/runs/run-1" in form["text"][0] and f"{UI}/runs/run-1" in form["html"][0]
    assert form["html"][0].lstrip().startswith("<!doctype html>")


EVIL_NAME = "Nationwide Plants\r\nBcc: someone@evil.example"


def test_a_line_break_in_a_retailer_name_never_reaches_a_header_over_smtp(smtp, store_engine):
    notifier = _notifier(store_engine, SmtpTransport(smtp.url))
    assert notifier.notify(_failure(retailer_name=EVIL_NAME)) == "sent"
    (subject,) = smtp.subjects()
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("[Nationwide Plants Bcc: someone@evil.example] Orders failed")
    assert smtp.messages[0]["Bcc"] is None
    assert [r["status"] for r in _rows(store_engine)] == ["sent"]


def test_a_line_break_in_a_retailer_name_never_reaches_mailgun_raw(mailgun, store_engine):
    transport = MailgunTransport(MAILGUN_KEY, MAILGUN_DOMAIN, api_base=mailgun.url)
    assert _notifier(store_engine, transport).notify(_failure(retailer_name=EVIL_NAME)) == "sent"
    (form,) = mailgun.received
    assert "\r" not in form["subject"][0] and "\n" not in form["subject"][0]


def test_smtp_refuses_to_log_in_without_starttls(smtp, store_engine):
    insecure = smtp.url.removesuffix("?tls=none")  # the test relay offers no STARTTLS
    notifier = _notifier(store_engine, SmtpTransport(insecure))
    assert notifier.notify(_failure()) == "failed"
    assert smtp.logins == [] and smtp.messages == []
    (row,) = _rows(store_engine)
    assert row["status"] == "failed" and "does not offer STARTTLS" in row["error_message"]


def test_plaintext_smtp_is_only_for_a_relay_on_this_machine():
    with pytest.raises(ValueError, match="only for a relay on this machine"):
        SmtpTransport("smtp://u:p@mail.example:25?tls=none")


@pytest.mark.parametrize(
    ("url", "user", "password"),
    [
        ("smtp://alerts:p%2Fa%23ss%40w@mail.example:587", "alerts", "p/a#ss@w"),  # encoded
        ("smtp://alerts:p/a#ss@w@mail.example:587", "alerts", "p/a#ss@w"),  # raw / # @
        ("smtps://a%40lgl:s3cret@mail.example", "a@lgl", "s3cret"),  # an @ in the user
    ],
)
def test_smtp_credentials_with_special_characters_parse(url, user, password):
    transport = SmtpTransport(url)
    assert (transport.host, transport._user, transport._password) == (
        "mail.example",
        user,
        password,
    )
    assert password not in repr(transport)


@pytest.mark.parametrize(
    "url",
    ["smtp://u:se#cret@mail.example:notaport", "smtp://u:se/cret@", "ftp://u:se#cret@h"],
)
def test_a_malformed_smtp_url_is_refused_without_its_password(url):
    with pytest.raises(ValueError) as raised:
        SmtpTransport(url)
    assert "cret" not in str(raised.value)


def test_mailgun_server_errors_are_retried_and_a_bad_key_is_not(mailgun, store_engine):
    mailgun.script = [503, 500]
    good = MailgunTransport(MAILGUN_KEY, MAILGUN_DOMAIN, api_base=mailgun.url)
    notifier = _notifier(store_engine, good)
    assert notifier.notify(_failure("run-1")) == "sent"
    assert len(mailgun.received) == 1
    bad = MailgunTransport("key-" + "f" * 32, MAILGUN_DOMAIN, api_base=mailgun.url)
    assert _notifier(store_engine, bad).notify(_failure("run-2", "other error")) == "failed"
    assert mailgun.refused == ["authorization"]  # one attempt only: 401 is permanent
    rows = _rows(store_engine)
    assert [r["status"] for r in rows] == ["sent", "failed"]
    assert "attempt 3" in rows[0]["reason"]
    assert "401" in rows[1]["error_message"] and "f" * 32 not in rows[1]["error_message"]


def test_unreachable_transport_is_recorded_and_never_raises(store_engine):
    transport = SmtpTransport("smtp://127.0.0.1:9")  # nothing listens on the discard port
    assert _notifier(store_engine, transport).notify(_activity()) == "failed"
    assert _rows(store_engine)[0]["status"] == "failed"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Mailgun wins when both are configured; the EU base URL is honoured.
        (
            {
                "MAILGUN_API_KEY": MAILGUN_KEY,
                "MAILGUN_DOMAIN": MAILGUN_DOMAIN,
                "MAILGUN_API_BASE": "https://api.eu.mailgun.net",
                "SMTP_URL": "smtp://h:25",
            },
            "MailgunTransport(https://api.eu.mailgun.net/v3/mg.lgl.example/messages)",
        ),
        ({"SMTP_URL": "smtp://u:secret@mail.example:2525"}, "SmtpTransport(mail.example:2525)"),
        # Nothing configured: notices are logged, not sent.
        ({}, "log"),
    ],
)
def test_transport_is_chosen_by_configuration(env, expected):
    transport = transport_from_env(env)
    assert (transport.name if expected == "log" else repr(transport)) == expected


def test_without_a_transport_notices_are_logged_and_recorded(store_engine, caplog):
    assert _notifier(store_engine, transport_from_env({})).notify(_activity()) == "logged"
    assert "email not sent (no transport configured)" in caplog.text
    assert _rows(store_engine)[0]["status"] == "logged"


# -- policy -------------------------------------------------------------------------------------


def test_quiet_hours_defer_to_the_morning_digest(smtp, store_engine):
    clock = FakeClock(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), clock)
    assert notifier.notify(_activity("run-night")) == "deferred"
    clock.advance(minutes=30)
    assert notifier.notify(_failure("run-night-2")) == "deferred"  # failures wait by default
    assert smtp.messages == []
    clock.current = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    assert notifier.send_digest({"nationwide-plants": "Nationwide Plants"}) == "sent"
    digest = smtp.body(0, "plain")
    assert "Held back overnight" in digest
    assert "[Nationwide Plants] Orders: 12 imported, 1 held" in digest
    assert "[Nationwide Plants] Orders failed: auth" in digest
    assert [r["status"] for r in _rows(store_engine)] == ["digested", "digested", "sent"]
    # The next digest does not carry them again.
    clock.advance(days=1)
    notifier.send_digest({})
    assert "Held back overnight" not in smtp.body(1, "plain")


def test_failures_break_quiet_hours_when_configured(smtp, store_engine):
    clock = FakeClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    notifier = _notifier(
        store_engine, SmtpTransport(smtp.url), clock, failures_break_quiet_hours=True
    )
    assert notifier.notify(_failure()) == "sent"
    assert notifier.notify(_activity()) == "deferred"  # activity still waits
    assert len(smtp.messages) == 1


def test_quiet_hours_follow_the_configured_timezone(store_engine, smtp):
    # 04:00 UTC is 22:00 in Chicago: quiet there.
    clock = FakeClock(datetime(2026, 11, 24, 4, 0, tzinfo=UTC))
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), clock, timezone="America/Chicago")
    assert notifier.notify(_activity()) == "deferred"


def test_quiet_hours_can_be_turned_off():
    night = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert Settings.from_env({}).in_quiet_hours(night)
    for off in ("off", "none", ""):
        assert not Settings.from_env({"NOTIFY_QUIET_HOURS": off}).in_quiet_hours(night)
    with pytest.raises(ValueError, match="bad notification setting"):
        Settings.from_env({"NOTIFY_QUIET_HOURS": "late"})


def test_activity_is_rate_limited_per_type_and_retailer(smtp, store_engine):
    clock = FakeClock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), clock)
    other = ("epic-gardening", "Epic Gardening")
    assert notifier.notify(_activity("r1")) == "sent"
    clock.advance(minutes=20)
    assert notifier.notify(_activity("r2")) == "suppressed"  # same retailer, within the hour
    assert notifier.notify(_activity("r3", other)) == "sent"  # another retailer
    assert notifier.notify(_failure("r4")) == "sent"  # another type
    clock.advance(minutes=41)
    assert notifier.notify(_activity("r5")) == "sent"  # the hour has passed
    assert len(smtp.messages) == 4
    assert _rows(store_engine)[1]["reason"].startswith("rate_limited")


def test_repeated_errors_collapse_with_a_count_and_an_escalating_interval(smtp, store_engine):
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    clock = FakeClock(start)
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), clock)
    outcomes = {}
    # Minutes after the first failure; the error's numbers vary but its shape does not.
    for minute in (0, 5, 10, 20, 31, 40, 90, 92, 150, 210, 213):
        clock.current = start + timedelta(minutes=minute)
        message = f"{minute % 7 + 1} of 40 orders failed to import"
        outcomes[minute] = notifier.notify(_failure(f"run-{minute}", message, category="server"))
    sent = [m for m, outcome in outcomes.items() if outcome == "sent"]
    # Intervals 30, 60, 120 minutes: sent at 0, 31 (30 later), 92 (61 later), 213 (121 later).
    assert sent == [0, 31, 92, 213]
    assert smtp.subjects()[1].endswith("(4 times)")  # 5, 10, 20 collapsed, 31 itself
    assert "The same error happened 4 times" in smtp.body(1, "plain")
    assert smtp.subjects()[2].endswith("(3 times)")  # 40, 90, 92
    # A different error is not collapsed into this one.
    clock.advance(minutes=1)
    assert notifier.notify(_failure("run-x", "auth: token revoked", category="auth")) == "sent"


def test_recovery_is_mailed_once_after_a_failure_and_resets_the_collapse(smtp, store_engine):
    from lgl_sync.control_plane.notifications import failing_since_recovery

    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), clock)
    key = {"retailer_id": "nationwide-plants", "flow": "orders"}
    assert not failing_since_recovery(store_engine, **key)
    notifier.notify(_failure("run-1"))
    assert failing_since_recovery(store_engine, **key)
    clock.advance(minutes=10)
    recovery = recovery_notice(
        retailer_id="nationwide-plants",
        retailer_name="Nationwide Plants",
        flow="orders",
        run_id="run-2",
        run_url=f"{UI}/runs/run-2",
    )
    assert notifier.notify(recovery) == "sent"
    assert not failing_since_recovery(store_engine, **key)
    clock.advance(minutes=5)  # the same error again, 15 minutes after the first: a new streak
    assert notifier.notify(_failure("run-3")) == "sent"
    assert smtp.subjects() == [
        "[Nationwide Plants] Orders failed: auth — [API] Invalid API key or access token",
        "[Nationwide Plants] Orders recovered",
        "[Nationwide Plants] Orders failed: auth — [API] Invalid API key or access token",
    ]


def test_digest_adds_up_each_retailer_and_the_whole_day(smtp, store_engine):
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    day = now - timedelta(hours=5)

    def job(run_id, retailer, status, results=None, error=None, when=day):
        upsert_sync_job(
            store_engine,
            run_id=run_id,
            job_type="import_orders",
            status=status,
            retailer_id=retailer,
            completed_at=when,
            results=results,
            error_message=error,
        )

    orders = {
        "imported_lgl_orders": {
            "imported": 12,
            "held": 2,
            "held_unknown_sku": 2,
            "retailer_api_requests": 5,
            "lgl_api_requests": 30,
            "lgl_api_cost_actual": 400.0,
        }
    }
    job("a1", "nationwide-plants", "completed", orders)
    job("a2", "nationwide-plants", "completed", {"retailer_fulfillments": {"pushed": 7}})
    job("a3", "nationwide-plants", "completed", {"retailer_inventory": {"skus_written": 40}})
    job("b1", "epic-gardening", "completed", {"imported_lgl_orders": {"imported": 3, "held": 0}})
    job(
        "b2",
        "epic-gardening",
        "failed",
        error="auth: token shpat_1234567890abcdef revoked\nTraceback",
    )
    job(
        "old",
        "epic-gardening",
        "completed",
        {"imported_lgl_orders": {"imported": 99}},
        when=now - timedelta(days=2),
    )
    notifier = _notifier(store_engine, SmtpTransport(smtp.url), FakeClock(now))
    names = {"nationwide-plants": "Nationwide Plants", "epic-gardening": "Epic Gardening"}
    assert notifier.send_digest(names) == "sent"
    text = smtp.body(0, "plain")
    assert smtp.subjects() == [
        "LGL Sync digest 2026-11-25: 15 orders imported, 2 held, 7 shipments pushed, "
        "40 SKUs updated, 1 failed runs"
    ]
    blocks = {b.splitlines()[0]: b for b in text.split("\n\n") if b.strip()}
    assert "orders imported / held: 15 / 2" in blocks["All retailers"]
    assert "runs ok / failed: 4 / 1" in blocks["All retailers"]
    assert "orders imported / held: 12 / 2" in blocks["Nationwide Plants"]
    assert "shipments pushed: 7" in blocks["Nationwide Plants"]
    assert "SKUs updated: 40" in blocks["Nationwide Plants"]
    assert "Shopify API requests (cost): 35 (400)" in blocks["Nationwide Plants"]
    assert "holds: 2 x unknown sku" in blocks["Nationwide Plants"]
    assert "runs ok / failed: 1 / 1" in blocks["Epic Gardening"]
    assert "! auth: token [redacted] revoked" in blocks["Epic Gardening"]
    assert "shpat_" not in text and "shpat_" not in smtp.body(0, "html")


def test_no_secret_reaches_an_email(smtp, store_engine):
    message = (
        "connection failed: postgresql://lgl:hunter2pw@db.example/postgres\n"
        "X-Shopify-Access-Token: shpat_abcdef0123456789abcdef\n"
        "Mailgun key-0123456789abcdef0123456789abcdef\nline 4 of a stack trace\nline 5"
    )
    _notifier(store_engine, SmtpTransport(smtp.url)).notify(_failure(message=message))
    whole = smtp.messages[0].as_string()
    for secret in ("hunter2pw", "shpat_abcdef", "0123456789abcdef0123456789abcdef"):
        assert secret not in whole
    assert "line 4 of a stack trace" not in smtp.body(0, "plain")  # first lines only


# -- Dagster: a failed run, then a recovered one -------------------------------------------------


def _event(instance, run_id, event_type):
    (record,) = instance.get_records_for_run(run_id, of_type=event_type).records
    return record.event_log_entry.dagster_event


def test_failed_run_mails_once_with_its_link_and_the_next_success_mails_recovery(
    world, smtp, monkeypatch
):
    monkeypatch.setenv("SMTP_URL", smtp.url)
    monkeypatch.setenv("NOTIFY_QUIET_HOURS", "off")  # the sensors read the real clock
    seed(world.sandbox, normal=5, lgl_skus=40)
    world.add_retailer(RETAILER, name="Nationwide Plants")
    resources = {
        **world.resources(),
        "notifier": NotifierResource(email_from=SENDER, email_to=",".join(TO), ui_base_url=UI),
    }
    store = world.sandbox.store(RETAILER)
    store.token = "revoked-by-the-retailer"
    failed = dg.materialize(
        [retailer_paid_orders, imported_lgl_orders],
        partition_key=RETAILER,
        instance=world.instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not failed.success
    run = world.instance.get_run_by_id(failed.run_id)
    failure = _event(world.instance, failed.run_id, dg.DagsterEventType.RUN_FAILURE)
    sensor_resources = {k: resources[k] for k in ("control_plane", "notifier")}
    for _ in range(2):  # a second evaluation of the same run sends nothing more
        context = dg.build_run_status_sensor_context(
            sensor_name="failure_alerts",
            dagster_event=failure,
            dagster_instance=world.instance,
            dagster_run=run,
            resources=sensor_resources,
        ).for_run_failure()
        failure_alerts(context)
    assert len(smtp.messages) == 1
    assert smtp.subjects()[0].startswith("[Nationwide Plants] Orders failed: auth — ")
    # Shopify's own words, not Dagster's "Error occurred while executing op ..." wrapper.
    assert "Invalid API key or access token" in smtp.subjects()[0]
    assert "Invalid API key or access token" in smtp.body(0, "plain")
    assert "Error occurred while executing" not in smtp.body(0, "plain")
    assert f"{UI}/runs/{failed.run_id}" in smtp.body(0, "plain")
    assert "retailer_paid_orders" in smtp.body(0, "plain")

    store.token = token_for(RETAILER)
    succeeded = dg.materialize(
        [retailer_paid_orders, imported_lgl_orders],
        partition_key=RETAILER,
        instance=world.instance,
        resources=resources,
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="activity_alerts",
        dagster_event=_event(world.instance, succeeded.run_id, dg.DagsterEventType.RUN_SUCCESS),
        dagster_instance=world.instance,
        dagster_run=world.instance.get_run_by_id(succeeded.run_id),
        resources=sensor_resources,
    )
    activity_alerts(context)
    imported = sum(o.status == "imported" for o in succeeded.output_for_node("imported_lgl_orders"))
    assert imported >= 5
    assert smtp.subjects()[1:] == [
        "[Nationwide Plants] Orders recovered",
        f"[Nationwide Plants] Orders: {imported} imported"
        + _held_suffix(succeeded.output_for_node("imported_lgl_orders")),
    ]
    rows = _rows(ControlPlaneResource(database_url=world.database_url).engine())
    assert [(r["notification_type"], r["status"]) for r in rows] == [
        ("failure", "sent"),
        ("recovery", "sent"),
        ("activity", "sent"),
    ]
    # The mirrored run history names the cause too, as the old tools read it.
    engine = ControlPlaneResource(database_url=world.database_url).engine()
    mirror_once(world.instance, engine, {})
    with engine.connect() as connection:
        error = connection.execute(
            sa.select(sync_jobs.c.error_message).where(sync_jobs.c.id == failed.run_id)
        ).scalar_one()
        logged = connection.execute(
            sa.select(activity_logs.c.details).where(activity_logs.c.success.is_(False))
        ).scalar_one()
    assert "Invalid API key or access token" in error
    assert "Invalid API key or access token" in logged["error"]


def _held_suffix(outcomes) -> str:
    held = sum(o.status == "held" for o in outcomes)
    return f", {held} held" if held else ""


# -- Orders changed at the retailer: the activity email and the warehouse ------------------------

CANCEL_AT_RETAILER = """
mutation($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true) {
    job { id } orderCancelUserErrors { message }
  }
}
"""


def test_changed_orders_are_named_in_the_activity_email_and_a_late_cancellation_reaches_the_floor(
    world, smtp, monkeypatch
):
    from lgl_sync.defs.orders import retailer_order_changes
    from lgl_sync_tests.orders_world import lgl_orders_by_source

    monkeypatch.setenv("SMTP_URL", smtp.url)
    monkeypatch.setenv("NOTIFY_QUIET_HOURS", "off")  # the sensors read the real clock
    monkeypatch.setenv("LGL_PICK_WINDOW_MINUTES", "0")  # every open LGL order may be picked
    monkeypatch.setenv("LGL_WAREHOUSE_EMAIL", "floor@lgl.example")
    seed(world.sandbox, normal=3, lgl_skus=40)
    world.add_retailer(RETAILER, name="Nationwide Plants")
    resources = {
        **world.resources(),
        "notifier": NotifierResource(email_from=SENDER, email_to=",".join(TO), ui_base_url=UI),
    }
    assets = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]
    assert world.materialize(assets, resources=resources).success
    source = sorted(lgl_orders_by_source(world.sandbox))[0]
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source]
    answer = world.sandbox.raw(RETAILER, CANCEL_AT_RETAILER, {"id": source}).json()
    assert answer["data"]["orderCancel"]["orderCancelUserErrors"] == []
    world.sandbox.clock.advance(5)
    smtp.messages.clear()
    run = world.materialize(assets, resources=resources)
    assert run.success
    # The warehouse is told from the run itself, at once, before any sensor.
    assert smtp.subjects() == [
        f"[Nationwide Plants] Pull from pick: 1 cancelled order(s), first {lgl_order.name}"
    ]
    assert "floor@lgl.example" in str(smtp.messages[0]["To"])
    context = dg.build_run_status_sensor_context(
        sensor_name="activity_alerts",
        dagster_event=_event(world.instance, run.run_id, dg.DagsterEventType.RUN_SUCCESS),
        dagster_instance=world.instance,
        dagster_run=world.instance.get_run_by_id(run.run_id),
        resources={k: resources[k] for k in ("control_plane", "notifier")},
    )
    activity_alerts(context)
    assert smtp.subjects()[1].startswith("[Nationwide Plants] Orders: ")
    body = smtp.body(1, "plain")
    assert "Changed at the retailer:" in body
    assert f"-> {lgl_order.name}: cancel" in body and "cancelled at the retailer" in body
