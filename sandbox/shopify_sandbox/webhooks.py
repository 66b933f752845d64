"""Webhooks as Shopify sends them (docs/sandbox.md, "webhooks"; FACTS.md §6).

- Subscriptions belong to the app whose token created them (``webhookSubscriptionCreate``);
  ``webhookSubscriptions`` lists only that app's. A topic needs the read scope of its resource
  (https://shopify.dev/docs/api/admin-graphql/latest/enums/WebhookSubscriptionTopic).
- Each delivery is a POST of the REST-shaped JSON payload, trimmed to ``includeFields``, with
  ``X-Shopify-Topic``, ``X-Shopify-Shop-Domain``, ``X-Shopify-API-Version``,
  ``X-Shopify-Webhook-Id`` (one per delivery, the same on its retries), ``X-Shopify-Event-Id``
  (one per event, the same in every subscription's delivery), ``X-Shopify-Triggered-At`` and
  ``X-Shopify-Hmac-Sha256``: the base64 HMAC-SHA256 of the raw body with the app's client secret
  (https://shopify.dev/docs/apps/build/webhooks/delivery-structure,
  https://shopify.dev/docs/apps/build/webhooks/verify-deliveries).
- Anything but a 2xx within 5 s is retried 8 times over about 4 hours, same payload and
  Webhook-Id; after 8 consecutive failed deliveries a subscription made through the Admin API is
  deleted (https://shopify.dev/changelog/updates-to-webhook-retry-mechanism).
- Delivery is at least once, in no order, and not guaranteed
  (https://shopify.dev/docs/apps/build/webhooks/best-practices): ``Chaos`` drops, duplicates and
  delays deliveries (a random delay reorders them), seeded, for the tests and the benchmark.

Times are on the sandbox clock, so a test moves through the 4-hour retry schedule by advancing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)

# Seconds after each failed attempt: 8 retries, about 4 hours in all.
RETRY_SECONDS = (10, 30, 60, 180, 600, 1800, 3600, 8100)
MAX_CONSECUTIVE_FAILURES = 8
TIMEOUT_SECONDS = 5.0
# The read scope a topic's resource needs (any of them); None: any app may subscribe.
TOPIC_SCOPES: dict[str, tuple[str, ...] | None] = {
    "ORDERS_": ("read_orders",),
    "FULFILLMENTS_": ("read_fulfillments", "read_orders"),
    "INVENTORY_LEVELS_": ("read_inventory",),
    "FULFILLMENT_ORDERS_": (
        "read_merchant_managed_fulfillment_orders",
        "read_assigned_fulfillment_orders",
        "read_third_party_fulfillment_orders",
    ),
    "APP_UNINSTALLED": None,
}


def topic_scopes(topic: str) -> tuple[str, ...] | None:
    for prefix, scopes in TOPIC_SCOPES.items():
        if topic.startswith(prefix):
            return scopes
    return ()


def topic_header(topic: str) -> str:
    """``ORDERS_PAID`` -> ``orders/paid`` (the header's form)."""
    head, _, rest = topic.lower().partition("_")
    if topic.startswith("FULFILLMENT_ORDERS_"):
        return "fulfillment_orders/" + topic.lower().removeprefix("fulfillment_orders_")
    if topic.startswith("INVENTORY_LEVELS_"):
        return "inventory_levels/" + topic.lower().removeprefix("inventory_levels_")
    return f"{head}/{rest}"


@dataclass
class Subscription:
    id: int
    topic: str
    uri: str
    app: str | None  # the client ID of the app that made it; None: the store's custom app
    created_at: datetime
    updated_at: datetime
    filter: str | None = None
    include_fields: list[str] = field(default_factory=list)
    format: str = "JSON"
    failures: int = 0  # consecutive failed deliveries
    deleted: bool = False
    gid_type: str = "WebhookSubscription"


@dataclass
class Delivery:
    store: Any
    subscription: Subscription
    topic: str
    body: bytes
    webhook_id: str
    event_id: str
    triggered_at: str
    due: float
    attempts: int = 0


@dataclass
class Chaos:
    """How delivery misbehaves: a share dropped, a share sent twice, a random delay."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> Chaos:
        delay = payload.get("delay", (0.0, 0.0))
        if isinstance(delay, int | float):
            delay = (0.0, float(delay))
        chaos = cls(
            float(payload.get("drop", 0)),
            float(payload.get("duplicate", 0)),
            (float(delay[0]), float(delay[1])),
            int(payload.get("seed", 0)),
        )
        chaos.rng.seed(chaos.seed)
        return chaos


@dataclass
class Counters:
    emitted: int = 0
    dropped: int = 0
    duplicated: int = 0
    delivered: int = 0
    failed: int = 0
    deleted_subscriptions: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def trimmed(payload: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """The payload cut to ``includeFields`` (top-level names; ``a.b`` keeps ``a``)."""
    if not include:
        return payload
    keep = {name.split(".", 1)[0] for name in include}
    return {k: v for k, v in payload.items() if k in keep}


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Dispatcher:
    """Queues every store's deliveries and sends them from one background thread."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.chaos = Chaos()
        self.counters = Counters()
        self._queue: list[Delivery] = []
        self._sending = 0  # taken from the queue, being sent
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def set_chaos(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.chaos = Chaos.parse(payload)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.counters = Counters()
            self.chaos = Chaos()

    def pending(self) -> int:
        """Deliveries queued or being sent."""
        with self._lock:
            return len(self._queue) + self._sending

    def emit(self, store: Any, topic: str, payload: dict[str, Any]) -> None:
        """One event: a delivery per subscription to ``topic`` (unless chaos drops it)."""
        subscriptions = [s for s in store.webhook_subscriptions.values() if s.topic == topic]
        if not subscriptions:
            return
        event_id, now = str(uuid.uuid4()), self.clock.monotonic()
        triggered = store.now().isoformat().replace("+00:00", "Z")
        with self._lock:
            self.counters.emitted += 1
            for subscription in subscriptions:
                body = json.dumps(trimmed(payload, subscription.include_fields)).encode()
                copies = 1
                if self.chaos.rng.random() < self.chaos.drop:
                    self.counters.dropped += 1
                    continue
                if self.chaos.rng.random() < self.chaos.duplicate:
                    copies, self.counters.duplicated = 2, self.counters.duplicated + 1
                webhook_id = str(uuid.uuid4())
                for _ in range(copies):
                    low, high = self.chaos.delay
                    self._queue.append(
                        Delivery(
                            store, subscription, topic, body, webhook_id, event_id, triggered,
                            now + self.chaos.rng.uniform(low, high),
                        )
                    )  # fmt: skip
        self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._pump, daemon=True, name="webhooks")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _pump(self) -> None:
        while not self._stop.is_set():
            if not self.send_due():
                time.sleep(0.02)

    def send_due(self) -> int:
        """Sends every delivery now due; the number sent."""
        now = self.clock.monotonic()
        with self._lock:
            due = sorted((d for d in self._queue if d.due <= now), key=lambda d: d.due)
            self._queue = [d for d in self._queue if d.due > now]
            self._sending += len(due)
        for delivery in due:
            try:
                self._attempt(delivery)
            finally:
                with self._lock:
                    self._sending -= 1
        return len(due)

    def _attempt(self, delivery: Delivery) -> None:
        subscription, store = delivery.subscription, delivery.store
        if subscription.deleted:
            return  # deleted meanwhile: Shopify stops delivering
        ok = _post(store, delivery)
        with self._lock:
            delivery.attempts += 1
            if ok:
                subscription.failures = 0
                self.counters.delivered += 1
                return
            self.counters.failed += 1
            subscription.failures += 1
            if subscription.failures >= MAX_CONSECUTIVE_FAILURES:
                store.webhook_subscriptions.pop(subscription.id, None)
                subscription.deleted = True
                self.counters.deleted_subscriptions += 1
                self._queue = [d for d in self._queue if d.subscription is not subscription]
                return
            if delivery.attempts <= len(RETRY_SECONDS):
                delivery.due = self.clock.monotonic() + RETRY_SECONDS[delivery.attempts - 1]
                self._queue.append(delivery)


def _post(store: Any, delivery: Delivery) -> bool:
    """One HTTP attempt; True on a 2xx within the timeout."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic_header(delivery.topic),
        "X-Shopify-Shop-Domain": store.shop_domain,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Event-Id": delivery.event_id,
        "X-Shopify-Triggered-At": delivery.triggered_at,
        "X-Shopify-Hmac-Sha256": signature(
            store.signing_secret(delivery.subscription.app), delivery.body
        ),
    }
    request = urllib.request.Request(
        delivery.subscription.uri, data=delivery.body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.debug("webhook to %s failed: %s", delivery.subscription.uri, exc)
        return False


# -- payloads (REST-shaped, as Shopify's webhooks carry them) --------------------------------------


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _at(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_payload(store: Any, order: Any) -> dict[str, Any]:
    return {
        "id": order.id,
        "admin_graphql_api_id": _gid("Order", order.id),
        "name": order.name,
        "order_number": order.number,
        "financial_status": order.financial_status.lower(),
        "fulfillment_status": store.fulfillment_status(order).lower(),
        "created_at": _at(order.created_at),
        "updated_at": _at(order.updated_at),
        "cancelled_at": _at(order.cancelled_at),
        "tags": ", ".join(order.tags),
        "email": order.email,
        "shipping_address": order.shipping_address,
        "line_items": [
            {"id": li.id, "sku": li.sku, "quantity": li.current_quantity} for li in order.line_items
        ],
    }


def fulfillment_payload(fulfillment: Any) -> dict[str, Any]:
    return {
        "id": fulfillment.id,
        "admin_graphql_api_id": _gid("Fulfillment", fulfillment.id),
        "order_id": fulfillment.order_id,
        "status": fulfillment.status.lower(),
        "created_at": _at(fulfillment.created_at),
        "updated_at": _at(fulfillment.updated_at),
        "tracking_company": next((t.company for t in fulfillment.tracking_info), None),
        "tracking_numbers": [t.number for t in fulfillment.tracking_info if t.number],
        "location_id": fulfillment.location_id,
    }


def level_payload(level: Any) -> dict[str, Any]:
    return {
        "inventory_item_id": level.item_id,
        "location_id": level.location_id,
        "available": level.quantities["available"],
        "updated_at": _at(level.updated_at),
        "admin_graphql_api_id": _gid(
            "InventoryLevel", level.id
        ) + f"?inventory_item_id={level.item_id}",
    }  # fmt: skip


def fulfillment_order_payload(fo: Any) -> dict[str, Any]:
    return {
        "fulfillment_order": {
            "id": _gid("FulfillmentOrder", fo.id),
            "status": fo.status.lower(),
            "request_status": fo.request_status.lower(),
        }
    }


def shop_payload(store: Any) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "domain": store.shop_domain,
        "myshopify_domain": store.shop_domain,
    }
