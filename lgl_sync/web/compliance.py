"""Shopify's mandatory compliance webhooks, for LGL's app as a public app
(https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance): ``customers/data_request``,
``customers/redact`` and ``shop/redact``, all to ``POST /webhooks/compliance``.

Each delivery is verified first: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw
body with the app's client secret (the store's own, from ``store_credentials``, else
``LGL_APP_CLIENT_SECRET``), compared in constant time; a bad or missing signature is answered
401 and nothing is done. What LGL Sync keeps of a store's customers is only in flight: the
orders handed from one asset to the next (``asset_handoffs``). So:

- ``customers/data_request``: a person is told (the store, the customer's orders named), to
  answer the merchant within 30 days;
- ``customers/redact``: the store's handed-over values are deleted; a person is told, for the
  LGL orders, which Shopify redacts itself in LGL's store;
- ``shop/redact`` (48 hours after an uninstall): the store's credentials and handed-over values
  are deleted, the retailer disabled, and a person told.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane.retailers import list_retailers, set_enabled
from lgl_sync.control_plane.tables import asset_handoffs, store_credentials
from lgl_sync.secrets import SecretError, decrypt_secret
from lgl_sync.web.install import MYSHOPIFY, shop_of

logger = logging.getLogger(__name__)
TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
MAX_BODY = 256 * 1024


class Refused(Exception):
    """A delivery that is not acted on: ``status`` is the HTTP answer."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def _secrets(engine: Engine, retailer_domain: str | None) -> list[str]:
    """The app secrets a delivery for this store may be signed with."""
    found = []
    if retailer_domain:
        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(store_credentials.c.client_secret).where(
                    store_credentials.c.domain == retailer_domain
                )
            ).scalar()
        if stored:
            try:
                found.append(decrypt_secret(stored))
            except SecretError:
                logger.error("the stored app secret of %s cannot be decrypted", retailer_domain)
    if settings.app_client_secret():
        found.append(settings.app_client_secret())
    return found


def verified(engine: Engine, headers: dict[str, str], body: bytes) -> tuple[str, Any, dict]:
    """(topic, the retailer or None, the payload) of a genuine delivery; Refused otherwise."""
    if len(body) > MAX_BODY:
        raise Refused(413, "body too large")
    topic, shop = headers.get("x-shopify-topic", ""), headers.get("x-shopify-shop-domain", "")
    if topic not in TOPICS or not MYSHOPIFY.match(shop):
        raise Refused(400, "not a compliance webhook")
    retailer = next((r for r in list_retailers(engine) if shop_of(r.domain) == shop), None)
    given = headers.get("x-shopify-hmac-sha256", "")
    for secret in _secrets(engine, retailer.domain if retailer else None):
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if hmac.compare_digest(digest.decode(), given):
            break
    else:
        raise Refused(401, "signature does not match")
    try:
        payload = json.loads(body)
    except ValueError:
        raise Refused(400, "body is not JSON") from None
    return topic, retailer, payload


def act(engine: Engine, topic: str, retailer, payload: dict, tell) -> str:
    """Carries a verified delivery out; ``tell(subject, lines)`` reaches a person."""
    shop = payload.get("shop_domain", "")
    orders = ", ".join(str(o) for o in (payload.get("orders_requested") or [])[:50])
    orders = orders or ", ".join(str(o) for o in (payload.get("orders_to_redact") or [])[:50])
    if retailer is not None and topic in ("customers/redact", "shop/redact"):
        with engine.begin() as connection:
            connection.execute(
                asset_handoffs.delete().where(asset_handoffs.c.partition_key == retailer.id)
            )
    if topic == "customers/data_request":
        tell(
            f"Customer data request from {shop}",
            [f"Orders: {orders or '(none named)'}", "Answer the merchant within 30 days."],
        )
        return "told"
    if topic == "customers/redact":
        tell(
            f"Customer data redacted for {shop}",
            [f"Orders: {orders or '(none named)'}", "LGL Sync deleted what it held in flight."],
        )
        return "redacted"
    if retailer is not None:
        with engine.begin() as connection:
            connection.execute(
                store_credentials.delete().where(store_credentials.c.domain == retailer.domain)
            )
        set_enabled(engine, retailer.id, False, reason="shop_redact")
    tell(f"Shop data redacted: {shop}", ["Its app tokens are deleted and the retailer disabled."])
    return "redacted"
