"""Keeping installed apps' tokens alive: a store nobody syncs (a disabled retailer) would see
its refresh token expire after 90 days and need the merchant to install LGL's app again
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens).
Each day the refresh tokens that would expire within LGL_TOKEN_UPKEEP_DAYS are used once, so
every connected store stays reachable however long its retailer is paused."""

import os

import dagster as dg

from lgl_sync import settings
from lgl_sync.control_plane import credentials
from lgl_sync.defs.resources import ControlPlaneResource


@dg.op(description="Renews the tokens of stores whose refresh token would expire soon.")
def renew_idle_tokens(context: dg.OpExecutionContext, control_plane: ControlPlaneResource):
    renewed, failed = credentials.renew_idle(
        control_plane.engine(), within_days=settings.token_upkeep_days()
    )
    context.log.info("tokens renewed for %d store(s)", len(renewed))
    context.add_output_metadata({"renewed": len(renewed), "failed": len(failed)})
    if failed:
        raise dg.Failure(
            f"{len(failed)} store(s) could not renew their token; reconnect them with "
            f"`lgl-sync retailer connect`: {'; '.join(failed)[:500]}",
            metadata={"error_category": "auth"},
        )


@dg.job(description="Keeps installed apps' refresh tokens alive, disabled retailers included.")
def token_upkeep():
    renew_idle_tokens()


token_upkeep_schedule = dg.ScheduleDefinition(
    job=token_upkeep,
    cron_schedule="17 3 * * *",
    execution_timezone=os.environ.get("NOTIFY_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="03:17 daily: refresh tokens within LGL_TOKEN_UPKEEP_DAYS of expiry are used once.",
)
