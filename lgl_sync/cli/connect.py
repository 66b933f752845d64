"""``lgl-sync retailer connect``: onboarding a retailer by installing LGL's app in its store.

Prints the install link, serves the OAuth callback (the ASGI app of ``lgl_sync.web``) until the
merchant approves or ``--timeout`` passes, stores the tokens encrypted, then validates.
"""

from __future__ import annotations

import os
import threading
import time

import click
import uvicorn

from lgl_sync import settings
from lgl_sync.cli.errors import fail_cleanly
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import get_retailer, update_retailer
from lgl_sync.retailer import client_secret_variables
from lgl_sync.secrets import APP
from lgl_sync.web.app import create_app
from lgl_sync.web.install import PendingInstall


@click.command("connect")
@click.argument("retailer_id")
@click.option("--client-id", default=settings.app_client_id, show_default="LGL_APP_CLIENT_ID")
@click.option(
    "--client-secret-env",
    default="LGL_APP_CLIENT_SECRET",
    show_default=True,
    help="The environment variable holding the app's client secret (never typed or shown): "
    "LGL_APP_CLIENT_SECRET, or SHOPIFY_<ID>_CLIENT_SECRET for the retailer's own app.",
)
@click.option(
    "--location-model",
    type=click.Choice(["merchant_managed", "fulfillment_service"]),
    default=None,
    help="fulfillment_service: create LGL's fulfillment service in the store (found again if "
    "it exists) and make its location the retailer's LGL location. Default: the retailer's.",
)
@click.option("--port", default=8765, show_default=True, help="Port of the callback server.")
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for approval.")
@fail_cleanly
def retailer_connect(
    retailer_id: str,
    client_id: str,
    client_secret_env: str,
    location_model: str | None,
    port: int,
    timeout: int,
) -> None:
    """Install LGL's app in a retailer's store: link, callback, tokens stored, validate."""
    from lgl_sync.cli.operators import _validate_live

    engine = create_engine()
    upgrade(engine)
    found = get_retailer(engine, retailer_id)
    if found is None:
        raise click.ClickException(f"no retailer {retailer_id}")
    if found.api_token != APP:
        raise click.ClickException(
            f"{retailer_id} has api_token {found.api_token!r}: set it to `app` (retailer file) "
            "so its runs use the installed app's tokens"
        )
    allowed = client_secret_variables(retailer_id)
    if client_secret_env not in allowed:
        raise click.ClickException(
            f"--client-secret-env must be {' or '.join(allowed)}: an app's secret is never "
            "read from another variable"
        )
    secret = os.environ.get(client_secret_env, "")
    if not client_id or not secret:
        raise click.ClickException(
            f"the app's client ID (--client-id or LGL_APP_CLIENT_ID) and secret "
            f"({client_secret_env}) are needed"
        )
    base = settings.public_url() or f"http://127.0.0.1:{port}"
    install = PendingInstall(found, client_id, secret, f"{base}/oauth/callback")
    if not _serve_until_installed(engine, install, port, timeout):
        raise click.ClickException(f"no approval within {timeout} s; run connect again")
    click.echo(f"{retailer_id}: tokens stored (encrypted).")
    if (location_model or found.location_model) == "fulfillment_service":
        found = _set_up_service(engine, found)
    click.echo("Validating...")
    if not _validate_live(found):
        raise click.ClickException(f"{retailer_id} is connected but has problems")
    click.echo(f"{retailer_id} is connected and ready.")


def _set_up_service(engine, found):
    """LGL's fulfillment service in the retailer's store, its location the retailer's."""
    from lgl_sync.sync.clients import retailer_client
    from lgl_sync.sync.onboarding import ensure_fulfillment_service

    location_id, created = ensure_fulfillment_service(retailer_client(found, engine=engine))
    updated = found.model_copy(
        update={"location_model": "fulfillment_service", "target_location_id": location_id}
    )
    update_retailer(engine, updated)
    what = "created" if created else "found"
    click.echo(f"{found.id}: LGL's fulfillment service {what}; its location {location_id}")
    return updated


def _serve_until_installed(engine, install: PendingInstall, port: int, timeout: int) -> bool:
    done = threading.Event()
    app = create_app(engine, {install.state: install}, lambda _install: done.set())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # listening before anyone is sent to it (at most 10 s)
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    if not server.started:
        raise click.ClickException(f"the callback server could not listen on port {port}")
    click.echo("Open this link as the store's owner to install LGL's app:")
    click.echo(install.link())
    click.echo(f"(waiting up to {timeout} s for Shopify to send the merchant back)", err=True)
    try:
        return done.wait(timeout)
    finally:
        server.should_exit = True
        thread.join(10)
