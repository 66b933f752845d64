"""The sandbox's records: one dataclass per Shopify resource it serves.

Attributes are snake_case versions of the GraphQL field names, so the default resolver finds
most fields without a hand-written resolver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


def gid(kind: str, number: int) -> str:
    """The global id Shopify uses for a resource, e.g. ``gid://shopify/Order/5``."""
    return f"gid://shopify/{kind}/{number}"


@dataclass
class Location:
    gid_type = "Location"
    id: int
    name: str
    is_active: bool = True
    fulfills_online_orders: bool = True
    fulfillment_service: FulfillmentService | None = None  # a fulfillment service's own location


@dataclass
class FulfillmentService:
    """A fulfillment service and the location Shopify made for it (services.py). ``ours``: it
    belongs to the app whose token calls (every store here has one app)."""

    gid_type = "FulfillmentService"
    id: int
    handle: str
    service_name: str
    location_id: int
    ours: bool = True
    callback_url: str | None = None
    inventory_management: bool = False
    tracking_support: bool = False
    requires_shipping_method: bool = True
    fulfillment_orders_opt_in: bool = True
    type: str = "THIRD_PARTY"


@dataclass
class Metafield:
    gid_type = "Metafield"
    id: int
    namespace: str
    key: str
    value: str
    type: str = "single_line_text_field"


@dataclass
class Product:
    gid_type = "Product"
    id: int
    title: str
    handle: str
    status: str = "ACTIVE"
    variant_ids: list[int] = field(default_factory=list)


@dataclass
class ProductVariant:
    gid_type = "ProductVariant"
    id: int
    product_id: int
    title: str
    sku: str | None
    price: Decimal
    inventory_item_id: int
    barcode: str | None = None
    metafields: dict[tuple[str, str], Metafield] = field(default_factory=dict)
    # Where the store routes this variant's orders (Shopify's order routing, simplified).
    ships_from_location_id: int | None = None


@dataclass
class InventoryLevel:
    gid_type = "InventoryLevel"
    id: int
    item_id: int
    location_id: int
    quantities: dict[str, int]
    updated_at: datetime


@dataclass
class InventoryItem:
    gid_type = "InventoryItem"
    id: int
    sku: str | None
    variant_id: int
    created_at: datetime
    updated_at: datetime
    tracked: bool = True
    levels: dict[int, InventoryLevel] = field(default_factory=dict)


@dataclass
class LineItem:
    gid_type = "LineItem"
    id: int
    order_id: int
    variant_id: int | None
    product_id: int | None
    sku: str | None
    title: str
    variant_title: str | None
    quantity: int
    price: Decimal
    vendor: str | None = None
    requires_shipping: bool = True
    current_quantity: int = 0
    custom_attributes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class FulfillmentOrderLineItem:
    gid_type = "FulfillmentOrderLineItem"
    id: int
    fulfillment_order_id: int
    line_item_id: int
    total_quantity: int
    remaining_quantity: int


@dataclass
class FulfillmentOrder:
    gid_type = "FulfillmentOrder"
    id: int
    order_id: int
    location_id: int
    status: str
    created_at: datetime
    updated_at: datetime
    line_items: list[FulfillmentOrderLineItem] = field(default_factory=list)
    request_status: str = "UNSUBMITTED"
    cancel_restock: bool = False  # orderCancel's restock, applied when the service accepts
    # The service's answers, as the merchant sees them: (what, message, reason).
    answers: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    holds: list[tuple[str, str, int]] = field(default_factory=list)  # (handle, reason, id)
    status_before_hold: str | None = None
    fulfillment_ids: list[int] = field(default_factory=list)
    delivery_method: dict | None = None  # method_type, service_code, presented_name...
    fulfill_by: datetime | None = None


@dataclass
class FulfillmentLineItem:
    gid_type = "FulfillmentLineItem"
    id: int
    line_item_id: int
    quantity: int
    fulfillment_order_line_item_id: int


@dataclass
class TrackingInfo:
    company: str | None
    number: str | None
    url: str | None


@dataclass
class Fulfillment:
    gid_type = "Fulfillment"
    id: int
    order_id: int
    location_id: int
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    tracking_info: list[TrackingInfo] = field(default_factory=list)
    line_items: list[FulfillmentLineItem] = field(default_factory=list)
    fulfillment_order_ids: list[int] = field(default_factory=list)
    notify_customer: bool = False


@dataclass
class Order:
    gid_type = "Order"
    id: int
    number: int
    name: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    financial_status: str
    currency_code: str = "USD"
    email: str | None = None
    phone: str | None = None
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    po_number: str | None = None
    source_identifier: str | None = None
    source_name: str | None = None
    cancelled_at: datetime | None = None
    closed: bool = False
    test: bool = False
    commits_inventory: bool = False  # placed with inventory tracking: its units are committed
    custom_attributes: list[tuple[str, str]] = field(default_factory=list)
    shipping_address: dict | None = None
    billing_address: dict | None = None
    metafields: dict[tuple[str, str], Metafield] = field(default_factory=dict)
    line_items: list[LineItem] = field(default_factory=list)
    fulfillment_order_ids: list[int] = field(default_factory=list)
    fulfillment_ids: list[int] = field(default_factory=list)
    # Checkout's shipping lines ({title, code, source, price}) and the delivery method chosen
    # ({method_type, service_code, presented_name, max_delivery}), copied onto the fulfillment
    # orders by routing, with the date they must be fulfilled by.
    shipping_lines: list[dict] = field(default_factory=list)
    delivery: dict | None = None
    fulfill_by: datetime | None = None


@dataclass
class BulkOperation:
    gid_type = "BulkOperation"
    id: int
    query: str
    status: str
    created_at: datetime
    type: str = "QUERY"
    completed_at: datetime | None = None
    error_code: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_data_url: str | None = None
    ready_at: float = 0.0
    body: bytes | None = None


@dataclass
class MetafieldDefinition:
    id: int
    name: str
    namespace: str
    key: str
    owner_type: str
    type: dict[str, str]  # {"name": "id"}
    gid_type: str = "MetafieldDefinition"
