"""``lgl-sync web serve``: LGL Sync's one ASGI app (``lgl_sync.web``) for everything that
reaches it over HTTP: the app-install callback, Shopify's compliance webhooks, ``/healthz`` and
Prometheus's ``/metrics``.
Deployed beside the Dagster webserver, behind the same TLS proxy."""

from __future__ import annotations

import os

import click
import uvicorn

from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane.database import create_engine
from lgl_sync.ops.instance import prepare_dagster_home


@click.group()
def web() -> None:
    """The HTTP endpoints: install callback, /healthz, /metrics."""


@web.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
@fail_cleanly
def web_serve(host: str, port: int) -> None:
    """Serve the web app (uvicorn) until stopped."""
    import dagster as dg

    from lgl_sync.defs.alerts import NotifierResource
    from lgl_sync.notify.notices import compliance_notice
    from lgl_sync.ops.health import collect
    from lgl_sync.ops.metrics import render
    from lgl_sync.web.app import create_app

    os.environ["DAGSTER_HOME"] = str(prepare_dagster_home())
    engine = create_engine()

    def metrics() -> str:
        with dg.DagsterInstance.get() as instance:
            return render(collect(instance, engine))

    def tell(topic: str, title: str, lines: list[str], delivery: str) -> None:
        notifier = NotifierResource(
            email_from=os.environ.get("EMAIL_FROM", "LGL Sync <lgl-sync@localhost>"),
            email_to=os.environ.get("EMAIL_TO", ""),
        ).notifier(engine)
        notice = compliance_notice(topic=topic, title=title, lines=lines, delivery=delivery)
        notifier.notify(notice)

    app = create_app(engine, {}, metrics=metrics, tell=tell)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = (web,)
