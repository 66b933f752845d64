"""The sandbox's stores: records, indexes and the business operations Shopify performs.

Both the GraphQL mutations and the scenario loader go through these methods, so an order seeded
by a scenario and one created by ``orderCreate`` get the same fulfillment orders and inventory
effects.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from shopify_sandbox import webhooks
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.models import (
    BulkOperation,
    Fulfillment,
    FulfillmentLineItem,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    Metafield,
    Order,
    Product,
    ProductVariant,
    TrackingInfo,
)
from shopify_sandbox.oauth import Grants
from shopify_sandbox.throttle import LeakyBucket

_ids = itertools.count(1_000_001)
# Shopify's supported versions in November 2026 (FACTS.md §7); anything else answers 404.
SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
# A fulfillment service's fulfillment order it has taken on (fulfillable by it).
ACCEPTED_REQUESTS = frozenset({"ACCEPTED", "CANCELLATION_REJECTED"})
DEFAULT_SCOPES = (
    "read_orders",
    "write_orders",
    "read_all_orders",
    "read_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
    "read_fulfillments",
    "write_fulfillments",
    "write_order_edits",
    "write_returns",
)


def next_id() -> int:
    """A new numeric id, unique across every store of the process (as Shopify's are)."""
    return next(_ids)


class SandboxError(Exception):
    """A request the store refuses; becomes a ``userErrors`` entry."""

    def __init__(self, message: str, field: list[str] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_user_error(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass
class UsageCounters:
    requests: int = 0
    throttled: int = 0
    cost_requested: float = 0.0
    cost_actual: float = 0.0
    by_operation: dict[str, int] = field(default_factory=dict)
    cost_by_operation: dict[str, float] = field(default_factory=dict)  # actual points
    faults: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "cost_requested": self.cost_requested,
            "cost_actual": self.cost_actual,
            "faults": self.faults,
            "by_operation": dict(self.by_operation),
            "cost_by_operation": dict(self.cost_by_operation),
        }


CUSTOM_ID_MODES = ("consistent", "lagging_unique", "lagging_duplicates")
# How an order line's units move between inventory states at its location.
COMMITTED_MOVES: dict[str, dict[str, int]] = {
    "committed": {"available": -1, "committed": 1},  # the order is placed
    "available": {"committed": -1, "available": 1},  # cancelled with restock
    "gone": {"committed": -1, "on_hand": -1},  # fulfilled, or cancelled without restock
    "unfulfilled": {"committed": 1, "on_hand": 1},  # a fulfillment cancelled
}


class Store:
    """One Shopify store: its settings, its records and Shopify's operations on them."""

    def __init__(
        self,
        handle: str,
        token: str,
        clock: SandboxClock,
        *,
        name: str = "",
        plan: str = "standard",
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        currency: str = "USD",
    ) -> None:
        self.handle = handle
        self.token = token
        self.name = name or handle
        self.clock = clock
        self.currency = currency
        # Shop.ianaTimezone: the store's own clock for days and months (set by a test).
        self.timezone = "America/New_York"
        self.scopes = list(scopes)
        self.id = next_id()
        self.lock = threading.RLock()
        self.bucket = LeakyBucket(clock, plan)
        self.usage = UsageCounters()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=5000)
        self.development_store = False  # 5 orderCreate per minute when True (FACTS.md §1.5)
        self.order_create_times: deque[float] = deque()
        self.search_lag = 0.0
        # A round trip's network latency (mean, jitter) in real seconds, added before each
        # GraphQL request is served: Shopify is far away, the sandbox is not.
        self.latency = (0.0, 0.0)
        self.latency_random = random.Random(0)
        # "formula": the documented cost of a connection (the upper bound); "observed": what
        # real Shopify reports, ``cost_divisor`` (4-20) times less for a connection's nodes.
        self.cost_divisor = 1.0
        # How orderByIdentifier behaves (Shopify does not document it; FACTS.md §9):
        # consistent | lagging_unique (lags like search, a duplicate custom ID is refused) |
        # lagging_duplicates (lags, and a second order with the same custom ID is accepted).
        self.custom_id_mode = "consistent"
        # orderCancel is asynchronous on Shopify (it returns a Job): the order reads as
        # cancelled only ``job_seconds`` later on the store's clock.
        self.job_seconds = 2.0
        # What orderCancel does to a fulfillment order a fulfillment service has accepted
        # (undocumented, FACTS.md §9): "request" sends the service a cancellation request
        # that it accepts or rejects; "immediate" cancels the fulfillment order at once.
        self.service_cancel = "request"
        # True: Shopify sends the fulfillment request itself when an order is placed (as a
        # Flow action or the store's auto-request would); else a person requests it.
        self.auto_request = False
        # Shopify's routing creates fulfillment orders asynchronously after the order
        # (FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE); this many seconds later here.
        self.routing_delay = 0.0
        self.jobs: dict[int, tuple[float, Any]] = {}  # job id -> (due, what to run)
        self.edits: dict[int, Any] = {}  # calculated order id -> its staged changes
        self.grants = Grants()  # apps, and the tokens issued to them (oauth.py)
        # False: the app lacks protected customer data access, so customers' names,
        # addresses, emails and phones read as null (resolvers._protected).
        self.protected_customer_data = True
        self.metafield_definitions: dict[tuple[str, str, str], Any] = {}
        self.index_history: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.failed_keys: set[str] = set()  # idempotency keys whose request failed
        self.idempotency_faults: dict[str, int] = {}  # "concurrent" / "failed": next N requests
        self.locations: dict[int, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, ProductVariant] = {}
        self.inventory_items: dict[int, InventoryItem] = {}
        self.sku_index: dict[
            str, list[int]
        ] = {}  # lower-cased SKU -> variant ids (SKUs never change)
        self.inventory_levels: dict[int, InventoryLevel] = {}
        self.orders: dict[int, Order] = {}
        self.line_items: dict[int, LineItem] = {}
        self.fulfillment_services: dict[int, Any] = {}  # services.py
        self.fulfillment_orders: dict[int, FulfillmentOrder] = {}
        self.fulfillment_order_line_items: dict[int, FulfillmentOrderLineItem] = {}
        self.fulfillments: dict[int, Fulfillment] = {}
        self.returns: dict[int, Any] = {}  # returns.py
        self.reverse_fulfillment_orders: dict[int, Any] = {}
        self.bulk_operations: dict[int, BulkOperation] = {}
        self.next_order_number = 1001
        self.primary_location_id: int | None = None
        # Webhooks (webhooks.py): subscriptions by id; ``dispatcher`` queues the deliveries
        # (set by the Sandbox); ``api_secret`` signs for the store's own custom app.
        self.webhook_subscriptions: dict[int, Any] = {}
        self.dispatcher: Any = None
        self.api_secret = "shpss_" + hashlib.sha256(f"{handle}:{token}".encode()).hexdigest()[:32]

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Changes the store's plan, search lag, development-store order limit or scopes."""
        if "plan" in settings:
            self.bucket.set_plan(settings["plan"])
        if "search_lag" in settings:
            self.search_lag = float(settings["search_lag"])
        if "cost_mode" in settings:  # "formula", "observed" (divisor 10) or {"observed": 20}
            mode = settings["cost_mode"]
            divisor = mode.get("observed") if isinstance(mode, dict) else None
            if mode not in ("formula", "observed") and not 4 <= (divisor or 0) <= 20:
                raise ValueError('cost_mode must be "formula", "observed" or {"observed": 4..20}')
            self.cost_divisor = 1.0 if mode == "formula" else float(divisor or 10)
        if "latency_ms" in settings:  # 150, or [150, 50] for 150 ± 50 ms
            value = settings["latency_ms"]
            mean, jitter = (value, 0) if isinstance(value, int | float) else value
            if not 0 <= jitter <= mean <= 10_000:
                raise ValueError("latency_ms must be a mean (and a jitter up to it) in ms")
            self.latency = (mean / 1000, jitter / 1000)
        if "development_store" in settings:
            self.development_store = bool(settings["development_store"])
        if "protected_customer_data" in settings:
            self.protected_customer_data = bool(settings["protected_customer_data"])
        if "scopes" in settings:
            self.scopes = list(settings["scopes"])
        if "routing_delay" in settings:
            self.routing_delay = float(settings["routing_delay"])
        if "service_cancel" in settings:
            if settings["service_cancel"] not in ("request", "immediate"):
                raise ValueError("service_cancel must be request or immediate")
            self.service_cancel = settings["service_cancel"]
        if "auto_request" in settings:
            self.auto_request = bool(settings["auto_request"])
        if "job_seconds" in settings:
            self.job_seconds = float(settings["job_seconds"])
        if "custom_id" in settings:
            if settings["custom_id"] not in CUSTOM_ID_MODES:
                raise ValueError(f"custom_id must be one of {CUSTOM_ID_MODES}")
            self.custom_id_mode = settings["custom_id"]

    # -- lookups -------------------------------------------------------------------------------

    @property
    def shop_domain(self) -> str:
        """The store's ``*.myshopify.com`` name, as the install flow reports it."""
        return f"{self.handle}.myshopify.com"

    def signing_secret(self, app: str | None) -> str:
        """The client secret webhooks of ``app``'s subscriptions are signed with."""
        known = self.grants.apps.get(app) if app else None
        return known.secret if known is not None else self.api_secret

    def uninstall(self) -> None:
        """The merchant uninstalls the app: ``app/uninstalled`` is sent, then every token and
        subscription is gone (https://shopify.dev/docs/apps/build/webhooks/subscribe)."""
        self.emit("APP_UNINSTALLED", lambda: webhooks.shop_payload(self))
        self.token = "revoked-" + self.token
        self.grants.tokens.clear()
        self.grants.refresh.clear()
        self.webhook_subscriptions.clear()

    def emit(self, topic: str, build: Any) -> None:
        """An event for the webhooks: ``build()`` makes its payload, only when subscribed."""
        if self.dispatcher is not None and any(
            s.topic == topic for s in self.webhook_subscriptions.values()
        ):
            self.dispatcher.emit(self, topic, build())

    def authorized(self, token: str | None) -> bool:
        """The store's own token, or one its token endpoint issued that has not expired."""
        return token == self.token or self.grants.valid(token, self.clock.monotonic())

    def now(self) -> datetime:
        return self.clock.utcnow()

    def find(self, kind: str, number: int) -> Any:
        """The record of GraphQL type ``kind`` with this numeric id, or None."""
        table = {
            "Location": self.locations,
            "Product": self.products,
            "ProductVariant": self.variants,
            "InventoryItem": self.inventory_items,
            "InventoryLevel": self.inventory_levels,
            "Order": self.orders,
            "LineItem": self.line_items,
            "FulfillmentOrder": self.fulfillment_orders,
            "Fulfillment": self.fulfillments,
            "FulfillmentOrderLineItem": self.fulfillment_order_line_items,
            "FulfillmentService": self.fulfillment_services,
            "BulkOperation": self.bulk_operations,
            "Return": self.returns,
            "ReverseFulfillmentOrder": self.reverse_fulfillment_orders,
        }.get(kind)
        return None if table is None else table.get(number)

    def touch(self, record: Any) -> None:
        """Records that ``record`` changed. Search sees each state only ``search_lag`` seconds
        after it was written, so the last few states are kept whatever the lag is now."""
        from shopify_sandbox.search import index_document

        if hasattr(record, "updated_at"):
            record.updated_at = self.now()
        history = self.index_history.setdefault(f"{record.gid_type}/{record.id}", [])
        history.append((self.clock.monotonic(), index_document(self, record)))
        del history[:-8]
        if isinstance(record, Order):
            self.emit("ORDERS_UPDATED", lambda: webhooks.order_payload(self, record))

    def orders_by_custom_id(self, namespace: str, key: str, value: str) -> list[Any]:
        """Orders whose ``id``-type metafield (namespace, key) holds ``value``, oldest first."""
        return sorted(
            (
                o
                for o in self.orders.values()
                if (m := o.metafields.get((namespace, key))) is not None
                and m.type == "id"
                and m.value == value
            ),
            key=lambda o: o.id,
        )

    # -- catalog and inventory -----------------------------------------------------------------

    def add_location(self, name: str, *, primary: bool = False) -> Location:
        location = Location(id=next_id(), name=name)
        self.locations[location.id] = location
        if primary or self.primary_location_id is None:
            self.primary_location_id = location.id
        return location

    def add_product(self, title: str, variants: list[dict[str, Any]]) -> Product:
        """Adds a product; each variant dict has sku, price, and optionally title,
        retailer_cost, barcode and ships_from (a location id)."""
        product = Product(id=next_id(), title=title, handle=_handle(title))
        self.products[product.id] = product
        now = self.now()
        for spec in variants:
            item_id = next_id()
            variant = ProductVariant(
                id=next_id(),
                product_id=product.id,
                title=spec.get("title", "Default Title"),
                sku=spec.get("sku"),
                price=Decimal(str(spec.get("price", "0.00"))),
                inventory_item_id=item_id,
                barcode=spec.get("barcode"),
                ships_from_location_id=spec.get("ships_from"),
            )
            if spec.get("retailer_cost") is not None:
                variant.metafields[("custom", "retailer_cost")] = Metafield(
                    next_id(),
                    "custom",
                    "retailer_cost",
                    str(spec["retailer_cost"]),
                    "number_decimal",
                )
            self.variants[variant.id] = variant
            if variant.sku:
                self.sku_index.setdefault(variant.sku.lower(), []).append(variant.id)
            product.variant_ids.append(variant.id)
            self.inventory_items[item_id] = InventoryItem(
                id=item_id, sku=variant.sku, variant_id=variant.id, created_at=now, updated_at=now
            )
        return product

    def delete_product(self, product_id: int) -> None:
        """``productDelete``: the product, its variants and their inventory items (with every
        level) are gone; orders keep their line items
        (https://shopify.dev/docs/api/admin-graphql/latest/mutations/productDelete)."""
        product = self.products.pop(product_id)
        for variant_id in product.variant_ids:
            variant = self.variants.pop(variant_id)
            item = self.inventory_items.pop(variant.inventory_item_id, None)
            for level in item.levels.values() if item else ():
                self.inventory_levels.pop(level.id, None)
            if variant.sku:
                ids = self.sku_index.get(variant.sku.lower(), [])
                self.sku_index[variant.sku.lower()] = [i for i in ids if i != variant_id]

    def variants_by_sku(self, sku: str) -> list[ProductVariant]:
        return [
            v for i in self.sku_index.get(sku.lower(), ()) if (v := self.variants[i]).sku == sku
        ]

    def stock(self, item_id: int, location_id: int, available: int = 0) -> InventoryLevel:
        """Stocks an item at a location (idempotent) and sets its available quantity."""
        item = self.inventory_items[item_id]
        level = item.levels.get(location_id)
        if level is None:
            level = InventoryLevel(
                id=next_id(),
                item_id=item_id,
                location_id=location_id,
                quantities={
                    "available": 0,
                    "on_hand": 0,
                    "committed": 0,
                    "reserved": 0,
                    "incoming": 0,
                },
                updated_at=self.now(),
            )
            item.levels[location_id] = level
            self.inventory_levels[level.id] = level
        self.set_quantity(level, "available", available)
        return level

    def set_quantity(self, level: InventoryLevel, name: str, quantity: int) -> int:
        """Sets ``available`` or ``on_hand``; the other moves by the same delta, as on Shopify.
        Returns the delta."""
        delta = quantity - level.quantities[name]
        level.quantities["available"] += delta
        level.quantities["on_hand"] += delta
        level.updated_at = self.now()
        self.inventory_items[level.item_id].updated_at = level.updated_at
        if delta:
            self.emit("INVENTORY_LEVELS_UPDATE", lambda: webhooks.level_payload(level))
        return delta

    def adjust_available(self, item_id: int, location_id: int, delta: int) -> None:
        level = self.inventory_items[item_id].levels.get(location_id)
        if level is None:
            level = self.stock(item_id, location_id, 0)
        self.set_quantity(level, "available", level.quantities["available"] + delta)

    def move_committed(self, line: LineItem, location_id: int, units: int, *, to: str) -> None:
        """Moves an order line's units between Shopify's inventory states at a location (see
        ``COMMITTED_MOVES``): "committed: the number of units that are part of a placed order
        but aren't fulfilled" (inventory states, docs/sandbox.md)."""
        if not units or not line.variant_id:
            return
        item_id = self.variants[line.variant_id].inventory_item_id
        level = self.inventory_items[item_id].levels.get(location_id)
        if level is None:
            level = self.stock(item_id, location_id, 0)
        before = level.quantities["available"]
        for name, sign in COMMITTED_MOVES[to].items():
            level.quantities[name] += sign * units
        level.updated_at = self.now()
        self.inventory_items[item_id].updated_at = level.updated_at
        if level.quantities["available"] != before:
            self.emit("INVENTORY_LEVELS_UPDATE", lambda: webhooks.level_payload(level))

    # -- orders --------------------------------------------------------------------------------

    def create_order(
        self,
        *,
        lines: list[dict[str, Any]],
        financial_status: str = "PAID",
        created_at: datetime | None = None,
        decrement_inventory: bool = False,
        **attributes: Any,
    ) -> Order:
        """Creates an order and its fulfillment orders, one per assigned location.

        Each line dict has quantity and either variant_id or (sku, title, price); location_id
        overrides routing. Routing: the variant's ``ships_from`` location, else the store's
        primary location.
        """
        now = self.now()
        created = created_at or now
        order = Order(
            id=next_id(),
            number=self.next_order_number,
            name=f"#{self.next_order_number}",
            created_at=created,
            updated_at=created,
            processed_at=created,
            financial_status=financial_status,
            currency_code=self.currency,
            **attributes,
        )
        self.next_order_number += 1
        by_location: dict[int, list[tuple[LineItem, int]]] = {}
        for spec in lines:
            variant = self.variants.get(spec["variant_id"]) if spec.get("variant_id") else None
            item = LineItem(
                id=next_id(),
                order_id=order.id,
                variant_id=variant.id if variant else None,
                product_id=variant.product_id if variant else None,
                sku=variant.sku if variant else spec.get("sku"),
                title=spec.get("title")
                or (self.products[variant.product_id].title if variant else "Custom item"),
                variant_title=variant.title if variant else spec.get("variant_title"),
                quantity=spec["quantity"],
                current_quantity=spec["quantity"],
                price=Decimal(str(spec.get("price", variant.price if variant else "0"))),
                vendor=spec.get("vendor"),
                requires_shipping=spec.get("requires_shipping", True),
            )
            order.line_items.append(item)
            self.line_items[item.id] = item
            location_id = spec.get("location_id") or (
                variant.ships_from_location_id if variant else None
            )
            location_id = location_id or self.primary_location_id
            if item.requires_shipping:
                by_location.setdefault(location_id, []).append((item, item.quantity))
            if decrement_inventory and variant:
                order.commits_inventory = True
                self.move_committed(item, location_id, item.quantity, to="committed")
        self.orders[order.id] = order
        if self.routing_delay > 0:
            self.jobs[next_id()] = (
                self.clock.monotonic() + self.routing_delay,
                lambda: self._route(order, by_location, self.now()),
            )
            self.touch(order)
            order.updated_at = created
            self._created(order)
            return order
        self._route(order, by_location, created)
        self.touch(order)
        order.updated_at = created
        self._created(order)
        return order

    def _created(self, order: Order) -> None:
        self.emit("ORDERS_CREATE", lambda: webhooks.order_payload(self, order))
        if order.financial_status == "PAID":
            self.emit("ORDERS_PAID", lambda: webhooks.order_payload(self, order))

    def _route(
        self, order: Order, by_location: dict[int, list[tuple[LineItem, int]]], at: datetime
    ) -> None:
        """Creates the order's fulfillment orders, one per assigned location."""
        for location_id, items in by_location.items():
            fo = FulfillmentOrder(
                id=next_id(),
                order_id=order.id,
                location_id=location_id,
                status="OPEN",
                created_at=at,
                updated_at=at,
                delivery_method=_delivery_method(order),
                fulfill_by=order.fulfill_by,
            )
            if self.auto_request and order.financial_status == "PAID" and self.is_service(fo):
                fo.request_status = "SUBMITTED"
            for line, quantity in items:
                fo_line = FulfillmentOrderLineItem(next_id(), fo.id, line.id, quantity, quantity)
                fo.line_items.append(fo_line)
                self.fulfillment_order_line_items[fo_line.id] = fo_line
            self.fulfillment_orders[fo.id] = fo
            order.fulfillment_order_ids.append(fo.id)
            self.emit(
                "FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE",
                lambda fo=fo: webhooks.fulfillment_order_payload(fo),
            )
            if fo.request_status == "SUBMITTED":
                self.emit(
                    "FULFILLMENT_ORDERS_FULFILLMENT_REQUEST_SUBMITTED",
                    lambda fo=fo: webhooks.fulfillment_order_payload(fo),
                )
        if at != order.created_at:
            self.touch(order)  # routing completed later: updated_at moves

    def cancel_order(self, order: Order, *, restock: bool) -> None:
        if order.cancelled_at is not None:
            raise SandboxError("Order has already been cancelled.", ["orderId"], "INVALID")
        order.cancelled_at = self.now()
        order.closed = True
        for fo_id in order.fulfillment_order_ids:
            fo = self.fulfillment_orders[fo_id]
            if fo.status not in ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"):
                continue
            if self.service_cancel == "request" and fo.request_status in ACCEPTED_REQUESTS:
                # The service accepted it: it is asked to cancel, and answers (services.py).
                fo.request_status = "CANCELLATION_REQUESTED"
                fo.cancel_restock = restock
                fo.updated_at = self.now()
                continue
            self.cancel_fulfillment_order(order, fo, restock=restock)
        self.touch(order)
        self.emit("ORDERS_CANCELLED", lambda: webhooks.order_payload(self, order))

    def cancel_fulfillment_order(self, order: Order, fo: FulfillmentOrder, *, restock: bool):
        """The fulfillment order's unshipped units leave the order (closed if some shipped)."""
        fo.status = "CLOSED" if fo.fulfillment_ids else "CANCELLED"
        for fo_line in fo.line_items:
            line = self.line_items[fo_line.line_item_id]
            if order.commits_inventory:
                self.move_committed(
                    line,
                    fo.location_id,
                    fo_line.remaining_quantity,
                    to="available" if restock else "gone",
                )
            line.current_quantity -= fo_line.remaining_quantity
            fo_line.remaining_quantity = 0
        fo.updated_at = self.now()

    def is_service(self, fo: FulfillmentOrder) -> bool:
        """Is the fulfillment order assigned to a fulfillment service's location?"""
        return self.locations[fo.location_id].fulfillment_service is not None

    def start_job(self, work: Any) -> int:
        """Queues ``work`` to run ``job_seconds`` from now; returns the job's id."""
        job_id = next_id()
        self.jobs[job_id] = (self.clock.monotonic() + self.job_seconds, work)
        self.run_due_jobs()
        return job_id

    def run_due_jobs(self) -> None:
        """Runs the queued jobs whose time has come (called before every request)."""
        now = self.clock.monotonic()
        for job_id, (due, work) in sorted(self.jobs.items(), key=lambda j: j[1][0]):
            if due <= now and work is not None:
                self.jobs[job_id] = (due, None)  # done
                work()

    def job_done(self, job_id: int) -> bool:
        self.run_due_jobs()
        _due, work = self.jobs.get(job_id, (0.0, None))
        return work is None

    def hold_fulfillment_order(self, fo: FulfillmentOrder, handle: str, reason: str) -> None:
        """fulfillmentOrderHold: the FO goes ON_HOLD (several holds may stack, one per handle)."""
        if fo.status not in ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"):
            raise SandboxError(
                f"Fulfillment order {fo.id} cannot be put on hold in status {fo.status}.", ["id"]
            )
        if any(h == handle for h, _, _ in fo.holds):
            raise SandboxError(
                "A fulfillment hold with this handle already exists.",
                ["fulfillmentHold", "handle"],
                "DUPLICATE_FULFILLMENT_HOLD_HANDLE",
            )
        if fo.status != "ON_HOLD":
            fo.status_before_hold = fo.status
        fo.holds.append((handle, reason, next_id()))
        fo.status = "ON_HOLD"
        fo.updated_at = self.now()
        self.touch(self.orders[fo.order_id])

    def release_fulfillment_order(self, fo: FulfillmentOrder, hold_ids: set[int] | None) -> None:
        """fulfillmentOrderReleaseHold: the holds named (all when none are named) end; the FO
        reopens once no hold is left."""
        if fo.status != "ON_HOLD":
            raise SandboxError("The fulfillment order is not on hold.", ["id"])
        fo.holds = [h for h in fo.holds if hold_ids is not None and h[2] not in hold_ids]
        if fo.holds:
            fo.updated_at = self.now()
            self.touch(self.orders[fo.order_id])
            return
        fo.status = fo.status_before_hold or "OPEN"
        fo.updated_at = self.now()
        self.touch(self.orders[fo.order_id])

    def move_fulfillment_order(
        self, fo: FulfillmentOrder, location_id: int, units: dict[int, int]
    ) -> FulfillmentOrder:
        """Moves ``units`` ({FO line id: units}) to ``location_id``: the FO itself when nothing
        of it was fulfilled and all of it moves, else a new FO (the original keeps the rest)."""
        order = self.orders[fo.order_id]
        whole = not fo.fulfillment_ids and all(
            units.get(fl.id, 0) == fl.total_quantity for fl in fo.line_items
        )
        if order.commits_inventory:
            for fl in fo.line_items:
                line = self.line_items[fl.line_item_id]
                self.move_committed(line, fo.location_id, units.get(fl.id, 0), to="available")
                self.move_committed(line, location_id, units.get(fl.id, 0), to="committed")
        if whole:
            fo.location_id = location_id
            fo.updated_at = self.now()
            self.touch(order)
            return fo
        moved = FulfillmentOrder(next_id(), order.id, location_id, "OPEN", self.now(), self.now())
        for fl in fo.line_items:
            take = units.get(fl.id, 0)
            if not take:
                continue
            fl.remaining_quantity -= take
            fl.total_quantity -= take
            new_line = FulfillmentOrderLineItem(next_id(), moved.id, fl.line_item_id, take, take)
            moved.line_items.append(new_line)
            self.fulfillment_order_line_items[new_line.id] = new_line
        if not any(fl.remaining_quantity for fl in fo.line_items):
            fo.status = "CLOSED"
        fo.updated_at = self.now()
        self.fulfillment_orders[moved.id] = moved
        order.fulfillment_order_ids.append(moved.id)
        self.touch(order)
        return moved

    def fulfillment_status(self, order: Order) -> str:
        """Order.displayFulfillmentStatus derived from its fulfillment orders."""
        fos = [self.fulfillment_orders[i] for i in order.fulfillment_order_ids]
        total = sum(li.total_quantity for fo in fos for li in fo.line_items)
        remaining = sum(li.remaining_quantity for fo in fos for li in fo.line_items)
        live = [f for f in order.fulfillment_ids if self.fulfillments[f].status == "SUCCESS"]
        if total and remaining == 0 and live:
            return "FULFILLED"
        if live:
            return "PARTIALLY_FULFILLED"
        if fos and all(fo.status == "ON_HOLD" for fo in fos):
            return "ON_HOLD"
        return "UNFULFILLED"

    # -- fulfillments --------------------------------------------------------------------------

    def create_fulfillment(
        self,
        requests: list[tuple[FulfillmentOrder, list[tuple[int, int]] | None]],
        tracking: list[TrackingInfo],
        notify_customer: bool,
    ) -> Fulfillment:
        """Fulfills FO line items. ``requests`` pairs each FO with [(fo line id, quantity)], or
        None for everything remaining. Validates like Shopify before changing anything."""
        orders = {fo.order_id for fo, _ in requests}
        locations = {fo.location_id for fo, _ in requests}
        if len(orders) > 1 or len(locations) > 1:
            raise SandboxError(
                "All fulfillment orders must belong to the same order and be assigned to the "
                "same location.",
                ["fulfillment", "lineItemsByFulfillmentOrder"],
            )
        plan: list[tuple[FulfillmentOrderLineItem, int]] = []
        for index, (fo, wanted) in enumerate(requests):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                raise SandboxError(
                    f"Fulfillment order {fo.id} has an unfulfillable status= {fo.status.lower()}.",
                    path,
                )
            if self.is_service(fo) and fo.request_status not in ACCEPTED_REQUESTS | {
                "CANCELLATION_REQUESTED"
            }:
                raise SandboxError(
                    f"Fulfillment order {fo.id} has not been accepted by the fulfillment "
                    f"service (request status {fo.request_status.lower()}).",
                    path,
                )
            by_id = {li.id: li for li in fo.line_items}
            if wanted is None:
                plan += [
                    (li, li.remaining_quantity) for li in fo.line_items if li.remaining_quantity > 0
                ]
                continue
            for fo_line_id, quantity in wanted:
                fo_line = by_id.get(fo_line_id)
                if fo_line is None:
                    raise SandboxError("Fulfillment order line item does not exist.", path)
                if quantity <= 0 or quantity > fo_line.remaining_quantity:
                    raise SandboxError(
                        "Invalid fulfillment order line item quantity requested.", path
                    )
                plan.append((fo_line, quantity))
        if not plan:
            raise SandboxError("Line items are already fulfilled.", ["fulfillment"])
        order = self.orders[orders.pop()]
        now = self.now()
        fulfillment = Fulfillment(
            id=next_id(),
            order_id=order.id,
            location_id=locations.pop(),
            name=f"{order.name}-F{len(order.fulfillment_ids) + 1}",
            status="SUCCESS",
            created_at=now,
            updated_at=now,
            tracking_info=tracking,
            fulfillment_order_ids=[fo.id for fo, _ in requests],
            notify_customer=notify_customer,
        )
        for fo_line, quantity in plan:
            fo_line.remaining_quantity -= quantity
            if order.commits_inventory:
                line = self.line_items[fo_line.line_item_id]
                self.move_committed(line, fulfillment.location_id, quantity, to="gone")
            fulfillment.line_items.append(
                FulfillmentLineItem(next_id(), fo_line.line_item_id, quantity, fo_line.id)
            )
        for fo, _ in requests:
            fo.fulfillment_ids.append(fulfillment.id)
            done = all(li.remaining_quantity == 0 for li in fo.line_items)
            fo.status = "CLOSED" if done else "IN_PROGRESS"
            fo.updated_at = now
        self.fulfillments[fulfillment.id] = fulfillment
        order.fulfillment_ids.append(fulfillment.id)
        self.touch(order)
        self.emit("FULFILLMENTS_CREATE", lambda: webhooks.fulfillment_payload(fulfillment))
        return fulfillment

    def cancel_fulfillment(self, fulfillment: Fulfillment) -> None:
        if fulfillment.status == "CANCELLED":
            raise SandboxError("Fulfillment has already been cancelled.", ["id"])
        fulfillment.status = "CANCELLED"
        fulfillment.updated_at = self.now()
        order = self.orders[fulfillment.order_id]
        for line in fulfillment.line_items:
            fo_line = self.fulfillment_order_line_items[line.fulfillment_order_line_item_id]
            fo_line.remaining_quantity += line.quantity
            if order.commits_inventory:
                # Unfulfilled again: the units are on hand and committed to the order once more.
                item = self.line_items[line.line_item_id]
                self.move_committed(item, fulfillment.location_id, line.quantity, to="unfulfilled")
            fo = self.fulfillment_orders[fo_line.fulfillment_order_id]
            live = any(self.fulfillments[f].status == "SUCCESS" for f in fo.fulfillment_ids)
            accepted = self.is_service(fo) and fo.request_status != "UNSUBMITTED"
            fo.status = "IN_PROGRESS" if live or accepted else "OPEN"
        self.touch(self.orders[fulfillment.order_id])
        self.emit("FULFILLMENTS_UPDATE", lambda: webhooks.fulfillment_payload(fulfillment))

    # -- metering ------------------------------------------------------------------------------

    def record_order_create(self) -> float | None:
        """Applies the development-store limit; returns seconds to wait when it is exceeded."""
        if not self.development_store:
            return None
        now = self.clock.monotonic()
        while self.order_create_times and now - self.order_create_times[0] >= 60:
            self.order_create_times.popleft()
        if len(self.order_create_times) >= 5:
            return 60 - (now - self.order_create_times[0])
        self.order_create_times.append(now)
        return None


def _handle(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def _delivery_method(order: Order) -> dict:
    """The delivery method routing gives an order's fulfillment orders: the one chosen at
    checkout, else shipping by its first shipping line (an order created through the API)."""
    if order.delivery:
        return {"method_type": "SHIPPING", **order.delivery}
    line = order.shipping_lines[0] if order.shipping_lines else {}
    return {
        "method_type": "SHIPPING",
        "service_code": line.get("code"),
        "presented_name": line.get("title"),
        "max_delivery": None,
    }
