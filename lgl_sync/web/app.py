"""The ASGI app for everything that reaches LGL Sync over HTTP: ``GET /oauth/callback``
completes an app install, ``POST /webhooks`` takes Shopify's webhooks (``webhooks.py``),
``GET /healthz`` answers ok, ``GET /metrics`` serves Prometheus's
metrics. ``lgl-sync web serve`` runs it with uvicorn beside the Dagster webserver."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.web import webhooks
from lgl_sync.web.compliance import Refused, act, verified
from lgl_sync.web.install import InstallError, PendingInstall, complete

logger = logging.getLogger(__name__)
CONNECTED = (
    "<!doctype html><title>LGL Sync</title><p style='font-family:sans-serif'>"
    "{name} is connected to LGL Sync. You can close this tab.</p>"
)


def create_app(
    engine: Engine,
    installs: dict[str, PendingInstall],
    on_installed: Callable[[PendingInstall], None] = lambda _install: None,
    metrics: Callable[[], str] | None = None,
    tell: Callable[[str, str, list[str], str], None] | None = None,
) -> Starlette:
    """``installs`` maps each issued state to its pending install (used once); ``metrics``
    renders ``GET /metrics`` (Prometheus's text format), absent when None; ``tell(topic,
    title, lines, delivery)`` reaches a person about a compliance webhook."""

    async def callback(request: Request):
        query = dict(request.query_params)
        install = installs.get(query.get("state", ""))
        if install is None:
            return PlainTextResponse("unknown or already used install state", status_code=400)
        try:
            complete(engine, install, query)
        except InstallError as exc:
            logger.warning("install callback refused: %s", exc)
            return PlainTextResponse(str(exc), status_code=400)
        except ShopifyError as exc:
            return PlainTextResponse(f"Shopify refused the install: {exc}", status_code=502)
        installs.pop(install.state, None)
        on_installed(install)
        return HTMLResponse(CONNECTED.format(name=install.retailer.name))

    async def healthz(_request: Request):
        return PlainTextResponse("ok")

    routes = [
        Route("/oauth/callback", callback),
        Route("/healthz", healthz),
        Route("/webhooks/compliance", _compliance(engine, tell), methods=["POST"]),
        Route("/webhooks", _webhook(engine), methods=["POST"]),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", _scrape(metrics)))
    return Starlette(routes=routes)


def _scrape(metrics: Callable[[], str]):
    async def scrape(_request: Request):
        text = await run_in_threadpool(metrics)  # reads the instance and the control plane
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return scrape


def _webhook(engine: Engine):
    async def webhook(request: Request):
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            status, answer = await run_in_threadpool(webhooks.accept, engine, headers, body)
        except Refused as refused:
            logger.warning(
                "webhook %s from %s refused (%s): %s",
                headers.get("x-shopify-topic", "?")[:60],
                headers.get("x-shopify-shop-domain", "?")[:100],
                refused.status,
                refused,
            )
            return PlainTextResponse(str(refused), status_code=refused.status)
        return PlainTextResponse(answer, status_code=status)

    return webhook


def _compliance(engine: Engine, tell):
    async def compliance_webhook(request: Request):
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            topic, retailer, payload = verified(engine, headers, body)
        except Refused as refused:
            logger.warning("compliance webhook refused (%s): %s", refused.status, refused)
            return PlainTextResponse(str(refused), status_code=refused.status)
        delivery = headers.get("x-shopify-webhook-id") or hashlib.sha256(body).hexdigest()

        def to_person(title: str, lines: list[str]) -> None:
            if tell is not None:
                tell(topic, title, lines, delivery)

        done = await run_in_threadpool(act, engine, topic, retailer, payload, to_person)
        return PlainTextResponse(done)

    return compliance_webhook
