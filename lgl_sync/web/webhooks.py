"""The webhook receiver, ``POST /webhooks`` of the web app: Shopify's deliveries from the
retailers' stores and the LGL store, each verified and stored once in the inbox, never acted on
here (the webhook sensor turns them into runs) and never calling Shopify.

- ``X-Shopify-Hmac-Sha256`` must be the base64 HMAC-SHA256 of the raw body with one of the
  store's app secrets, compared in constant time before the body is parsed: the store's own
  (``store_credentials``, ``SHOPIFY_<ID>_CLIENT_SECRET``; ``SHOPIFY_LGL_CLIENT_SECRET`` for the
  LGL store), ``LGL_APP_CLIENT_SECRET``, and ``LGL_APP_PREVIOUS_CLIENT_SECRET`` during a rotation
  (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries). Otherwise 401, nothing kept.
- A shop that is neither a retailer nor the LGL store: 404, logged. A body over 256 KiB: 413;
  not JSON, or no topic or event id: 400. A topic LGL Sync does not use: 200, not stored.
- Stored once per ``X-Shopify-Event-Id`` with only the ids a run needs; the answer is 200 in
  milliseconds, well within Shopify's 5 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import inbox
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.flows import Flow
from lgl_sync.web.compliance import MAX_BODY, Refused, _secrets
from lgl_sync.web.install import MYSHOPIFY, shop_of

logger = logging.getLogger(__name__)
LGL = "lgl"
RETAILER_TOPICS = {
    "orders/create": Flow.ORDERS,
    "orders/paid": Flow.ORDERS,
    "orders/updated": Flow.ORDERS,
    "orders/cancelled": Flow.ORDERS,
    "orders/edited": Flow.ORDERS,
    "fulfillment_orders/order_routing_complete": Flow.ORDERS,
    "fulfillment_orders/fulfillment_request_submitted": Flow.ORDERS,
    "fulfillment_orders/cancellation_request_submitted": Flow.ORDERS,
    "app/uninstalled": None,
}
LGL_TOPICS = {
    "fulfillments/create": Flow.FULFILLMENTS,
    "fulfillments/update": Flow.FULFILLMENTS,
    "inventory_levels/update": Flow.INVENTORY,
    "app/uninstalled": None,
}


@dataclass(frozen=True)
class Sender:
    """Who a delivery comes from: a retailer (its id) or the LGL store (``retailer_id`` None)."""

    shop: str
    retailer_id: str | None
    domain: str


def sender(engine: Engine, shop: str) -> Sender | None:
    lgl_domain = os.environ.get("SHOPIFY_LGL_DOMAIN", "")
    if lgl_domain and shop_of(lgl_domain) == shop:
        return Sender(shop, None, lgl_domain)
    retailer = next((r for r in list_retailers(engine) if shop_of(r.domain) == shop), None)
    return Sender(shop, retailer.id, retailer.domain) if retailer else None


def secrets_for(engine: Engine, who: Sender) -> list[str]:
    """Every secret a genuine delivery from this store may be signed with."""
    found = _secrets(engine, who.domain)
    own = (
        os.environ.get("SHOPIFY_LGL_CLIENT_SECRET")
        if who.retailer_id is None
        else os.environ.get(f"SHOPIFY_{who.retailer_id.upper().replace('-', '_')}_CLIENT_SECRET")
    )
    found += [s for s in (own, settings.previous_client_secret()) if s]
    return list(dict.fromkeys(found))


def signed(secrets: list[str], body: bytes, given: str) -> bool:
    ok = False
    for secret in secrets:  # every secret compared, in constant time each
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        ok = hmac.compare_digest(digest.decode(), given) or ok
    return ok


def _gid(kind: str, value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("gid://"):
        return value.split("?", 1)[0]
    return f"gid://shopify/{kind}/{int(value)}" if value not in (None, "") else None


def objects_of(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The ids a run needs from a payload (nothing personal)."""
    if topic.startswith("orders/") and topic != "orders/edited":
        return {"order_ids": [_gid("Order", payload.get("admin_graphql_api_id") or payload["id"])]}
    if topic == "orders/edited":
        return {"order_ids": [_gid("Order", (payload.get("order_edit") or {})["order_id"])]}
    if topic.startswith("fulfillment_orders/"):
        fo = payload.get("fulfillment_order") or payload.get("original_fulfillment_order") or {}
        return {"fulfillment_order_ids": [fo["id"]] if fo.get("id") else []}
    if topic.startswith("fulfillments/"):
        return {
            "lgl_order_ids": [_gid("Order", payload["order_id"])],
            "fulfillment_ids": [_gid("Fulfillment", payload.get("id"))],
        }
    if topic == "inventory_levels/update":
        return {
            "inventory_item_id": _gid("InventoryItem", payload["inventory_item_id"]),
            "location_id": _gid("Location", payload.get("location_id")),
            "available": payload.get("available"),
        }
    return {}


def _triggered(headers: dict[str, str]) -> datetime | None:
    raw = headers.get("x-shopify-triggered-at", "")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


def accept(engine: Engine, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """(HTTP status, answer) for one delivery; a genuine one is stored once."""
    if len(body) > MAX_BODY:
        raise Refused(413, "body too large")
    topic, shop = headers.get("x-shopify-topic", ""), headers.get("x-shopify-shop-domain", "")
    if not MYSHOPIFY.match(shop):
        raise Refused(400, "no shop domain")
    who = sender(engine, shop)
    if who is None:
        raise Refused(404, f"unknown shop {shop}")
    if not signed(secrets_for(engine, who), body, headers.get("x-shopify-hmac-sha256", "")):
        raise Refused(401, "signature does not match")
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    topics = LGL_TOPICS if who.retailer_id is None else RETAILER_TOPICS
    if not event_id or not topic:
        raise Refused(400, "no topic or event id")
    if topic not in topics:
        return 200, "ignored"
    try:
        payload = json.loads(body)
        objects = objects_of(topic, payload)
    except (ValueError, KeyError, TypeError):
        raise Refused(400, "body is not a webhook payload this topic carries") from None
    flow: Any = topics[topic]
    retailer_id = who.retailer_id
    if topic.startswith("fulfillments/"):  # the LGL order's retailer, if LGL Sync imported it
        retailer_id = inbox.retailer_of_lgl_order(engine, objects["lgl_order_ids"][0])
        flow = flow if retailer_id else None
    kind = flow.value if flow else ("uninstalled" if topic == "app/uninstalled" else None)
    fresh = inbox.receive(
        engine,
        taken_at=None if kind else datetime.now(UTC),  # nothing to run: done on arrival
        event_id=event_id,
        webhook_id=headers.get("x-shopify-webhook-id", event_id),
        topic=topic,
        shop=shop,
        retailer_id=retailer_id,
        flow=kind,
        objects=objects,
        triggered_at=_triggered(headers),
    )
    return 200, "stored" if fresh else "duplicate"
