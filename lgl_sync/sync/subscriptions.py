"""Webhook subscriptions as code: the topics each store must send to ``LGL_PUBLIC_URL/webhooks``,
created or repaired idempotently (``webhookSubscriptionCreate``/``Update``/``Delete``), with
``includeFields`` keeping payloads to the ids LGL Sync reads
(https://shopify.dev/docs/api/admin-graphql/latest/mutations/webhookSubscriptionCreate).

Shopify deletes a subscription after 8 consecutive failed deliveries, so drift is normal: the
status command and ``retailer validate`` report it, and repair puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lgl_sync import settings
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.shopify.models import FULFILLMENT_SERVICE

ORDER_FIELDS = ["id", "admin_graphql_api_id", "updated_at"]
RETAILER_TOPICS: dict[str, list[str]] = {
    "ORDERS_PAID": ORDER_FIELDS,
    "ORDERS_UPDATED": ORDER_FIELDS,
    "ORDERS_CANCELLED": ORDER_FIELDS,
    "ORDERS_EDITED": ["order_edit"],
    "APP_UNINSTALLED": [],
}
MERCHANT_MANAGED_TOPICS = {"FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE": []}
SERVICE_TOPICS = {
    "FULFILLMENT_ORDERS_FULFILLMENT_REQUEST_SUBMITTED": [],
    "FULFILLMENT_ORDERS_CANCELLATION_REQUEST_SUBMITTED": [],
}
LGL_TOPICS: dict[str, list[str]] = {
    "FULFILLMENTS_CREATE": ["id", "order_id", "admin_graphql_api_id", "updated_at"],
    "FULFILLMENTS_UPDATE": ["id", "order_id", "admin_graphql_api_id", "updated_at"],
    "INVENTORY_LEVELS_UPDATE": ["inventory_item_id", "location_id", "available", "updated_at"],
    "APP_UNINSTALLED": [],
}


class SubscriptionError(ShopifyError):
    """Shopify refused a subscription change (the user error's message)."""


def endpoint() -> str | None:
    """Where Shopify sends webhooks: ``LGL_PUBLIC_URL/webhooks``; None when it is not set."""
    base = settings.public_url()
    return f"{base.rstrip('/')}/webhooks" if base else None


def retailer_topics(retailer: Retailer) -> dict[str, list[str]]:
    extra = SERVICE_TOPICS if retailer.location_model == FULFILLMENT_SERVICE else (
        MERCHANT_MANAGED_TOPICS
    )  # fmt: skip
    return {**RETAILER_TOPICS, **extra}


@dataclass
class Drift:
    """What a store's subscriptions lack or carry beyond what LGL Sync wants."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.extra)

    def lines(self) -> list[str]:
        found = [f"missing: {t}" for t in self.missing] + [f"changed: {t}" for t in self.changed]
        found += [f"not wanted: {t}" for t in self.extra]
        verb = "repaired" if self.repaired else "drift"
        return [f"{verb} {line}" for line in found] or [f"{len(self.ok)} subscriptions in place"]


def current(client: ShopifyClient) -> list[dict[str, Any]]:
    return list(client.paginate("WebhookSubscriptions", path="webhookSubscriptions", page_size=50))


def _spec(uri: str, include: list[str]) -> dict[str, Any]:
    return {"uri": uri, "format": "JSON", "includeFields": include}


def _check(answer: dict[str, Any], key: str) -> None:
    errors = answer[key]["userErrors"]
    if errors and "already been taken" not in errors[0]["message"]:
        raise SubscriptionError(f"Shopify refused the webhook subscription: {errors[0]['message']}")


def ensure(client: ShopifyClient, uri: str, wanted: dict[str, list[str]], *, repair: bool) -> Drift:
    """Compares the store's subscriptions to ``uri`` with ``wanted`` (topic -> include fields);
    with ``repair`` creates, updates and deletes until they match. Safe to run again."""
    drift, seen = Drift(), set()
    for sub in current(client):
        if sub["uri"] != uri:
            continue  # another endpoint (another app's or a person's): not ours to touch
        topic = sub["topic"]
        if topic not in wanted or topic in seen:
            drift.extra.append(topic)
            if repair:
                answer = client.mutate(
                    "WebhookSubscriptionDelete", {"id": sub["id"]}, idempotent=True
                )
                _check(answer, "webhookSubscriptionDelete")
            continue
        seen.add(topic)
        if sorted(sub.get("includeFields") or []) != sorted(wanted[topic]) or sub.get("filter"):
            drift.changed.append(topic)
            if repair:
                variables = {"id": sub["id"], "subscription": _spec(uri, wanted[topic])}
                variables["subscription"]["filter"] = ""
                answer = client.mutate("WebhookSubscriptionUpdate", variables, idempotent=True)
                _check(answer, "webhookSubscriptionUpdate")
        else:
            drift.ok.append(topic)
    for topic in sorted(set(wanted) - seen):
        drift.missing.append(topic)
        if repair:
            variables = {"topic": topic, "subscription": _spec(uri, wanted[topic])}
            answer = client.mutate("WebhookSubscriptionCreate", variables, idempotent=True)
            _check(answer, "webhookSubscriptionCreate")
    drift.repaired = repair and not drift.clean
    return drift
