"""Email from Dagster: a failure alert for every failed run, an activity alert after a run that
did something, a recovery mail when a failing flow succeeds again, and the morning digest.

Sensors, not hooks inside the runs: the alert reads the run's whole event log (the failing
step's message and category, every materialization), and a notifier failure can never fail a
sync run.
"""

import logging
import os
from collections import Counter
from datetime import UTC, datetime

import dagster as dg
from dagster import DagsterEventType

from lgl_sync import settings
from lgl_sync.control_plane import notifications, offboarding
from lgl_sync.control_plane.retailers import get_retailer, list_retailers
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.flows import Flow, flow_of, flow_of_asset, retailer_of
from lgl_sync.notify.notices import (
    activity_notice,
    failure_notice,
    purged_notice,
    recovery_notice,
)
from lgl_sync.notify.notifier import Notifier
from lgl_sync.notify.policy import Settings
from lgl_sync.notify.transports import transport_from_env
from lgl_sync.ops.runs import failure_category, root_cause
from lgl_sync.retailer import RetailerError

log = logging.getLogger(__name__)

ACTIVITY_FIGURES = (
    "imported",
    "held",
    "failed",
    "cancelled",
    "edited",
    "edit_for_person",
    "held_at_retailer",
    "held_after_shipment",
    "shipped_before_cancel",
    "pushed",
    "tracking_updated",
    "skipped",
    "skus_written",
    "conflicts_retried",
)


class NotifierResource(dg.ConfigurableResource):
    """Who gets email and how; the transport and its secrets come from the environment."""

    email_from: str = "LGL Sync <lgl-sync@localhost>"
    email_to: str = ""
    ui_base_url: str = "http://127.0.0.1:3000"

    def notifier(self, engine, recipients: list[str] | None = None) -> Notifier:
        """A notifier to ``email_to``, or to ``recipients`` when some are given."""
        return Notifier(
            engine=engine,
            transport=transport_from_env(),
            sender=self.email_from,
            recipients=recipients or [r.strip() for r in self.email_to.split(",") if r.strip()],
            settings=Settings.from_env(),
        )

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"


def _name(engine, retailer_id: str | None) -> str | None:
    """The retailer's name for an email, its id when the row is gone or invalid."""
    try:
        retailer = get_retailer(engine, retailer_id) if retailer_id else None
    except RetailerError:
        return retailer_id
    return retailer.name if retailer else retailer_id


@dg.run_failure_sensor(
    name="failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One email per failed run: retailer, flow, error category, the failing step's "
    "message and a link to the run.",
)
def failure_alerts(
    context: dg.RunFailureSensorContext,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> None:
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    first = step_failures[0] if step_failures else None
    message = (
        root_cause(first.step_failure_data)
        if first and first.step_failure_data
        else context.failure_event.message or "the run failed"
    )
    engine = control_plane.engine()
    retailer_id = retailer_of(run.tags)
    outcome = notifier.notifier(engine).notify(
        failure_notice(
            retailer_id=retailer_id,
            retailer_name=_name(engine, retailer_id),
            flow=_flow_name(flow_of(run.job_name, first.step_key if first else None)),
            category=failure_category(first.step_failure_data if first else None),
            message=message,
            run_id=run.run_id,
            run_url=notifier.run_url(run.run_id),
            step=first.step_key if first else None,
        )
    )
    context.log.info("failure alert for run %s: %s", run.run_id, outcome)


def _flow_name(flow: Flow | None) -> str | None:
    """A flow as the plain text stored in email_notifications.flow."""
    return flow.value if flow else None


def _changed_orders(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """The orders the run's change step acted on, with the outcome and the reason."""
    found: list[dict] = []
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        value = record.event_log_entry.asset_materialization.metadata.get("changed_orders")
        if value is not None and isinstance(value.value, list):
            found += value.value
    return found


def _run_activity(instance: dg.DagsterInstance, run_id: str) -> dict[str, Counter]:
    """Per flow, the numbers of what the run's materializations did."""
    per_flow: dict[str, Counter] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = record.event_log_entry.asset_materialization
        flow = _flow_name(flow_of_asset(materialization.asset_key.to_user_string()))
        if flow is None or materialization.partition is None:
            continue
        numbers = per_flow.setdefault(flow, Counter())
        for key, value in materialization.metadata.items():
            if isinstance(value.value, int) and not isinstance(value.value, bool):
                numbers[key] += value.value
    return per_flow


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="activity_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful run that did something: an activity email (orders "
    "imported and held, shipments pushed, SKUs updated); a recovery email when the flow had "
    "failed before.",
)
def activity_alerts(
    context: dg.RunStatusSensorContext,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> None:
    run = context.dagster_run
    retailer_id = retailer_of(run.tags)
    if not retailer_id:
        return
    engine = control_plane.engine()
    sender = notifier.notifier(engine)
    name = _name(engine, retailer_id) or retailer_id
    run_url = notifier.run_url(run.run_id)
    for flow, numbers in _run_activity(context.instance, run.run_id).items():
        if notifications.failing_since_recovery(engine, retailer_id=retailer_id, flow=flow):
            sender.notify(
                recovery_notice(
                    retailer_id=retailer_id,
                    retailer_name=name,
                    flow=flow,
                    run_id=run.run_id,
                    run_url=run_url,
                )
            )
        # Held orders and skipped shipments need a person; skipped orders were just ineligible.
        prefix = Flow(flow).outcome_prefix
        reasons = {
            key.removeprefix(prefix): n
            for key, n in numbers.items()
            if n and prefix and key.startswith(prefix)
        }
        notice = activity_notice(
            retailer_id=retailer_id,
            retailer_name=name,
            flow=flow,
            numbers={k: numbers[k] for k in ACTIVITY_FIGURES if k in numbers},
            reasons=reasons,
            run_id=run.run_id,
            run_url=run_url,
            orders=_changed_orders(context.instance, run.run_id) if flow == Flow.ORDERS else [],
        )
        if notice is not None:
            sender.notify(notice)


@dg.op(description="Emails the daily digest: the last 24 hours per retailer and overall.")
def send_daily_digest(
    context: dg.OpExecutionContext,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> None:
    engine = control_plane.engine()
    from lgl_sync.ops.health import collect

    names = {r.id: r.name for r in list_retailers(engine)}
    statuses = collect(context.instance, engine)
    outcome = notifier.notifier(engine).send_digest(names, statuses)
    context.log.info("daily digest: %s", outcome)


class PurgeConfig(dg.Config):
    # The moment the retention is judged at (ISO 8601); empty: now.
    as_of: str = ""


@dg.op(
    description="Purges the personal data still held for retailers disabled longer than "
    "LGL_PII_RETENTION_DAYS, once each, and tells a person."
)
def purge_offboarded(
    context: dg.OpExecutionContext,
    config: PurgeConfig,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> None:
    engine = control_plane.engine()
    now = datetime.fromisoformat(config.as_of) if config.as_of else datetime.now(UTC)
    for timer in offboarding.due(engine, now, settings.pii_retention_days()):
        purged = offboarding.purge(engine, timer.retailer_id, now)
        if purged is None:
            continue
        context.log.info("purged %s: %s", timer.retailer_id, purged)
        notice = purged_notice(
            retailer_id=timer.retailer_id,
            reason=timer.reason,
            disabled_at=timer.disabled_at,
            purged=purged,
        )
        notifier.notifier(engine).notify(notice)


@dg.job(description="The morning digest email, and the offboarded retailers' data purge.")
def daily_digest():
    send_daily_digest()
    purge_offboarded()


daily_digest_schedule = dg.ScheduleDefinition(
    job=daily_digest,
    cron_schedule=settings.cron("NOTIFY_DIGEST_CRON")[0],
    execution_timezone=os.environ.get("NOTIFY_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="07:00 (NOTIFY_TIMEZONE): the digest, with what quiet hours held back.",
)
