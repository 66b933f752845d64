"""Field resolvers for the sandbox's queries; mutations live in ``mutations.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox import returns, services
from shopify_sandbox.connections import connection
from shopify_sandbox.models import gid
from shopify_sandbox.search import search
from shopify_sandbox.state import Store

_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)(\?.*)?$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class RequestContext:
    """What a resolver needs to know about the request it serves."""

    store: Store
    version: str
    base_url: str
    bulk: bool = False
    search_warnings: list[str] = field(default_factory=list)
    app: str | None = None  # the client ID of the app whose token made the request


def parse_gid(value: str | None, kind: str | None = None) -> tuple[str, int] | None:
    """Splits ``gid://shopify/Kind/123`` into ("Kind", 123); None if malformed or of another
    kind."""
    match = _GID.match(value or "")
    if not match or (kind and match.group(1) != kind):
        return None
    return match.group(1), int(match.group(2))


def lookup(store: Store, value: str | None, kind: str | None = None) -> Any:
    parsed = parse_gid(value, kind)
    record = store.find(*parsed) if parsed else None
    return record if visible(store, record) else None


ALL_ORDERS_DAYS = 60


def visible(store: Store, record: Any) -> bool:
    """Whether the token may see a record: without ``read_all_orders`` only the last 60 days
    of orders can be read (https://shopify.dev/docs/api/usage/access-scopes#orders-permissions);
    older ones read as null and are absent from ``orders``. A fulfillment order outside the
    token's fulfillment-order scopes is hidden the same way (services.py)."""
    kind = getattr(record, "gid_type", None)
    if kind == "FulfillmentOrder":
        return services.readable(store, record)
    if kind != "Order" or "read_all_orders" in store.scopes:
        return True
    return record.created_at >= store.now() - timedelta(days=ALL_ORDERS_DAYS)


def _shipping_lines(order: Any) -> list[dict]:
    return [
        {
            "id": gid("ShippingLine", order.id * 10 + n),
            "title": line["title"],
            "code": line.get("code"),
            "source": line.get("source"),
            "originalPriceSet": _money(line.get("price") or Decimal("0"), order.currency_code),
        }
        for n, line in enumerate(order.shipping_lines)
    ]


def _delivery(fo: Any) -> dict | None:
    method = fo.delivery_method
    if not method:
        return None
    return {
        "id": gid("DeliveryMethod", fo.id),
        "methodType": method.get("method_type") or "SHIPPING",
        "serviceCode": method.get("service_code"),
        "presentedName": method.get("presented_name"),
        "maxDeliveryDateTime": method.get("max_delivery"),
        "minDeliveryDateTime": None,
    }


def default_resolver(source: Any, info: GraphQLResolveInfo, **_: Any) -> Any:
    """Dicts by key; records by snake_case attribute; ``id`` as a global id."""
    name = info.field_name
    if isinstance(source, dict):
        return source.get(name)
    if name == "id" and hasattr(source, "gid_type"):
        return gid(source.gid_type, source.id)
    return getattr(source, _CAMEL.sub("_", name).lower(), None)


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    return info.context


def _page(info: GraphQLResolveInfo, records: Any, args: dict[str, Any], key=None) -> dict:
    ctx = _ctx(info)
    found = search(ctx.store, records, args.get("query"), ctx.search_warnings)
    kwargs = {"key": key} if key else {}
    return connection(found, args, bulk=ctx.bulk, **kwargs)


_ORDER_SORT = {
    "CREATED_AT": lambda o: o.created_at,
    "UPDATED_AT": lambda o: o.updated_at,
    "PROCESSED_AT": lambda o: o.processed_at,
    "ID": lambda o: o.id,
    "ORDER_NUMBER": lambda o: o.number,
}


def _money(amount: Any, currency: str) -> dict[str, Any]:
    money = {"amount": str(amount), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _metafield(record: Any, namespace: str | None, key: str) -> Any:
    if namespace is None and "." in key:
        namespace, key = key.split(".", 1)
    return record.metafields.get((namespace or "custom", key))


def _query_root(store_attr: str, sort: dict | None = None, default_sort: str | None = None):
    def resolve(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
        store = _ctx(info).store
        table = getattr(store, store_attr)
        # Only orders and fulfillment orders can be hidden from a token; other tables stay a
        # dict view, so an exact ``sku:`` search takes the SKU index instead of a scan.
        records = (
            [r for r in table.values() if visible(store, r)]
            if store_attr in ("orders", "fulfillment_orders")
            else table.values()
        )
        key = (sort or {}).get(args.get("sortKey") or default_sort)
        return _page(info, records, args, key)

    return resolve


def _locations(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    """Active locations; deactivated ones with ``includeInactive``, and fulfillment services'
    locations ("legacy") only with ``includeLegacy`` (queries/locations)."""
    records = [
        loc
        for loc in _ctx(info).store.locations.values()
        if (loc.is_active or args.get("includeInactive"))
        and (loc.fulfillment_service is None or args.get("includeLegacy"))
    ]
    return _page(info, records, args, lambda loc: loc.name)


def _shop(_: Any, info: GraphQLResolveInfo) -> dict:
    store = _ctx(info).store
    return {
        "id": gid("Shop", store.id),
        "name": store.name,
        "myshopifyDomain": f"{store.handle}.myshopify.com",
        "currencyCode": store.currency,
        "ianaTimezone": store.timezone,
        "plan": {
            "displayName": store.bucket.plan.title(),
            "publicDisplayName": store.bucket.plan.title(),
            "partnerDevelopment": store.development_store,
            "shopifyPlus": store.bucket.plan == "plus",
        },
    }


def _app_installation(_: Any, info: GraphQLResolveInfo) -> dict:
    store = _ctx(info).store
    scopes = [{"handle": s, "description": s.replace("_", " ")} for s in store.scopes]
    return {"id": gid("AppInstallation", store.id), "accessScopes": scopes}


def _location(_: Any, info: GraphQLResolveInfo, id: str | None = None) -> Any:
    store = _ctx(info).store
    if id is None:
        return store.locations.get(store.primary_location_id)
    return lookup(store, id, "Location")


def _by_kind(kind: str):
    def resolve(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
        return lookup(_ctx(info).store, id, kind)

    return resolve


def _node(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return lookup(_ctx(info).store, id)


def _nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    return [lookup(_ctx(info).store, i) for i in ids]


def _order_by_identifier(_: Any, info: GraphQLResolveInfo, identifier: dict) -> Any:
    """An order by id or by custom ID (an ``id``-type metafield). In the lagging variants the
    lookup sees an order only ``search_lag`` seconds after it was created, like search."""
    store = _ctx(info).store
    if identifier.get("id"):
        return lookup(store, identifier["id"], "Order")
    custom = identifier.get("customId") or {}
    found = store.orders_by_custom_id(
        custom.get("namespace") or "app", custom["key"], custom["value"]
    )
    if store.custom_id_mode != "consistent":
        cutoff = store.now() - timedelta(seconds=store.search_lag)
        found = [o for o in found if o.created_at <= cutoff]
    found = [o for o in found if visible(store, o)]
    return found[0] if found else None


def _metafield_definitions(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    definitions = [
        d
        for (owner, namespace, key), d in _ctx(info).store.metafield_definitions.items()
        if owner == args["ownerType"]
        and args.get("namespace") in (None, namespace)
        and args.get("key") in (None, key)
    ]
    return connection(definitions, args, bulk=_ctx(info).bulk)


def _current_bulk(_: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> Any:
    ops = [op for op in _ctx(info).store.bulk_operations.values() if op.type == type]
    return max(ops, key=lambda op: op.id, default=None)


def _fulfillment_orders(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    store = _ctx(info).store
    records = [fo for fo in store.fulfillment_orders.values() if services.readable(store, fo)]
    if not args.get("includeClosed"):
        records = [fo for fo in records if fo.status not in ("CLOSED", "CANCELLED")]
    key = {"UPDATED_AT": lambda fo: fo.updated_at}.get(args.get("sortKey"))
    return _page(info, records, args, key)


def _order_fulfillment_orders(order: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    store = _ctx(info).store
    fos = [store.fulfillment_orders[i] for i in order.fulfillment_order_ids]
    return _page(info, [fo for fo in fos if services.readable(store, fo)], args)


def _assigned_fulfillment_orders(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    store = _ctx(info).store
    ids = args.get("locationIds")
    wanted = {parse_gid(i, "Location")[1] for i in ids if parse_gid(i, "Location")} if ids else None
    return _page(info, services.assigned(store, args.get("assignmentStatus"), wanted), args)


def _order_fulfillments(order: Any, info: GraphQLResolveInfo, **args: Any) -> list:
    store = _ctx(info).store
    found = [store.fulfillments[i] for i in order.fulfillment_ids]
    return found[: args["first"]] if args.get("first") is not None else found


def _order_metafields(order: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    found = [
        m
        for m in order.metafields.values()
        if args.get("namespace") in (None, m.namespace)
        and (not args.get("keys") or f"{m.namespace}.{m.key}" in args["keys"])
    ]
    return connection(found, args, bulk=_ctx(info).bulk)


def _inventory_level(item: Any, info: GraphQLResolveInfo, locationId: str, **_: Any) -> Any:
    parsed = parse_gid(locationId, "Location")
    return item.levels.get(parsed[1]) if parsed else None


def _quantities(level: Any, info: GraphQLResolveInfo, names: list[str]) -> list[dict]:
    return [
        {
            "id": f"gid://shopify/InventoryQuantity/{level.id}?name={name}",
            "name": name,
            "quantity": level.quantities[name],
            "updatedAt": level.updated_at,
        }
        for name in names
        if name in level.quantities
    ]


def _attributes(record: Any, _: GraphQLResolveInfo) -> list[dict]:
    return [{"key": k, "value": v} for k, v in record.custom_attributes]


def _protected(attr: str):
    """A Level 2 customer field (name, address, email, phone): null for an app without
    protected customer data access (https://shopify.dev/docs/apps/launch/protected-customer-data)."""

    def resolve(record: Any, info: GraphQLResolveInfo) -> Any:
        return getattr(record, attr) if _ctx(info).store.protected_customer_data else None

    return resolve


def _address(attr: str):
    def resolve(record: Any, info: GraphQLResolveInfo) -> dict | None:
        address = getattr(record, attr)
        if address is None or not _ctx(info).store.protected_customer_data:
            return None
        full = " ".join(filter(None, (address.get("firstName"), address.get("lastName"))))
        return {**address, "name": full or None, "countryCodeV2": address.get("countryCode")}

    return resolve


def _tracking(fulfillment: Any, _: GraphQLResolveInfo, first: int | None = None) -> list:
    return fulfillment.tracking_info[:first] if first is not None else fulfillment.tracking_info


def _store_record(table: str, attr: str):
    def resolve(record: Any, info: GraphQLResolveInfo) -> Any:
        value = getattr(record, attr)
        return None if value is None else getattr(_ctx(info).store, table).get(value)

    return resolve


def _supported_actions(fo: Any, _: GraphQLResolveInfo) -> list[dict]:
    actions = {
        "OPEN": ["CREATE_FULFILLMENT", "HOLD", "MOVE", "SPLIT"],
        "IN_PROGRESS": ["CREATE_FULFILLMENT", "HOLD", "SPLIT"],
        "ON_HOLD": ["RELEASE_HOLD"],
        "SCHEDULED": ["MARK_AS_OPEN"],
    }.get(fo.status, [])
    return [{"action": a} for a in actions]


def _fulfillment_line_items(fulfillment: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    return connection(fulfillment.line_items, args, bulk=_ctx(info).bulk)


def _fulfillment_fos(fulfillment: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    store = _ctx(info).store
    fos = [store.fulfillment_orders[i] for i in fulfillment.fulfillment_order_ids]
    fos = [fo for fo in fos if services.readable(store, fo)]
    return connection(fos, args, bulk=_ctx(info).bulk)


def _variant_inventory_quantity(variant: Any, info: GraphQLResolveInfo) -> int:
    item = _ctx(info).store.inventory_items[variant.inventory_item_id]
    return sum(level.quantities["available"] for level in item.levels.values())


QUERY_RESOLVERS: dict[str, dict[str, Any]] = {
    "QueryRoot": {
        "shop": _shop,
        "currentAppInstallation": _app_installation,
        "locations": _locations,
        "location": _location,
        "orders": _query_root("orders", _ORDER_SORT, "PROCESSED_AT"),
        "order": _by_kind("Order"),
        "productVariants": _query_root("variants", {"SKU": lambda v: v.sku or ""}),
        "products": _query_root("products", {"TITLE": lambda p: p.title}),
        "inventoryItems": _query_root("inventory_items"),
        "fulfillmentOrders": _fulfillment_orders,
        "assignedFulfillmentOrders": _assigned_fulfillment_orders,
        "fulfillmentOrder": _by_kind("FulfillmentOrder"),
        "fulfillment": _by_kind("Fulfillment"),
        "node": _node,
        "nodes": _nodes,
        "orderByIdentifier": _order_by_identifier,
        "metafieldDefinitions": _metafield_definitions,
        "bulkOperation": _by_kind("BulkOperation"),
        "currentBulkOperation": _current_bulk,
    },
    "Location": {
        "legacyResourceId": lambda loc, _: str(loc.id),
        "isFulfillmentService": lambda loc, _: loc.fulfillment_service is not None,
        "inventoryLevels": lambda loc, info, **args: _page(
            info,
            [
                i.levels[loc.id]
                for i in _ctx(info).store.inventory_items.values()
                if loc.id in i.levels
            ],
            args,
        ),
    },
    "Order": {
        "legacyResourceId": lambda o, _: str(o.id),
        "displayFinancialStatus": lambda o, _: o.financial_status,
        "displayFulfillmentStatus": lambda o, info: _ctx(info).store.fulfillment_status(o),
        "customAttributes": _attributes,
        "shippingAddress": _address("shipping_address"),
        "billingAddress": _address("billing_address"),
        "email": _protected("email"),
        "phone": _protected("phone"),
        "totalPriceSet": lambda o, _: _money(
            sum(li.price * li.quantity for li in o.line_items), o.currency_code
        ),
        "metafield": lambda o, _, key, namespace=None: _metafield(o, namespace, key),
        "metafields": _order_metafields,
        "lineItems": lambda o, info, **args: connection(o.line_items, args, bulk=_ctx(info).bulk),
        "fulfillmentOrders": _order_fulfillment_orders,
        "fulfillments": _order_fulfillments,
        "returns": lambda o, info, **args: returns.order_returns(o, info, **args),
        "returnStatus": lambda o, info: returns.return_status(_ctx(info).store, o),
        "shippingLine": lambda o, _: _shipping_lines(o)[0] if o.shipping_lines else None,
        "shippingLines": lambda o, info, **args: connection(
            _shipping_lines(o), args, bulk=_ctx(info).bulk
        ),
    },
    "LineItem": {
        "name": lambda li, _: li.title + (f" - {li.variant_title}" if li.variant_title else ""),
        "variant": _store_record("variants", "variant_id"),
        "product": _store_record("products", "product_id"),
        "originalUnitPriceSet": lambda li, info: _money(
            li.price, _ctx(info).store.orders[li.order_id].currency_code
        ),
        "customAttributes": _attributes,
        "unfulfilledQuantity": lambda li, info: sum(
            fl.remaining_quantity
            for fl in _ctx(info).store.fulfillment_order_line_items.values()
            if fl.line_item_id == li.id
        ),
        "fulfillableQuantity": lambda li, info: sum(
            fl.remaining_quantity
            for fl in _ctx(info).store.fulfillment_order_line_items.values()
            if fl.line_item_id == li.id
        ),
    },
    "FulfillmentOrder": {
        "orderId": lambda fo, _: gid("Order", fo.order_id),
        "order": _store_record("orders", "order_id"),
        "assignedLocation": lambda fo, info: {
            "name": _ctx(info).store.locations[fo.location_id].name,
            "location": _ctx(info).store.locations[fo.location_id],
        },
        "lineItems": lambda fo, info, **args: connection(fo.line_items, args, bulk=_ctx(info).bulk),
        "supportedActions": _supported_actions,
        "fulfillmentHolds": lambda fo, _: [
            {"id": gid("FulfillmentHold", number), "handle": handle, "reason": reason}
            for handle, reason, number in fo.holds
        ],
        "fulfillments": lambda fo, info, **args: connection(
            [_ctx(info).store.fulfillments[i] for i in fo.fulfillment_ids],
            args,
            bulk=_ctx(info).bulk,
        ),
        "deliveryMethod": lambda fo, _: _delivery(fo),
    },
    "FulfillmentOrderLineItem": {
        "lineItem": _store_record("line_items", "line_item_id"),
        "sku": lambda fl, info: _ctx(info).store.line_items[fl.line_item_id].sku,
        "variant": lambda fl, info: _ctx(info).store.variants.get(
            _ctx(info).store.line_items[fl.line_item_id].variant_id
        ),
        "inventoryItemId": lambda fl, info: (
            lambda v: gid("InventoryItem", v.inventory_item_id) if v else None
        )(_ctx(info).store.variants.get(_ctx(info).store.line_items[fl.line_item_id].variant_id)),
    },
    "Fulfillment": {
        "displayStatus": lambda f, _: {"SUCCESS": "FULFILLED", "CANCELLED": "CANCELED"}.get(
            f.status
        ),
        "order": _store_record("orders", "order_id"),
        "location": _store_record("locations", "location_id"),
        "trackingInfo": _tracking,
        "fulfillmentLineItems": _fulfillment_line_items,
        "fulfillmentOrders": _fulfillment_fos,
    },
    "FulfillmentService": {"location": _store_record("locations", "location_id")},
    "FulfillmentLineItem": {"lineItem": _store_record("line_items", "line_item_id")},
    "Product": {
        "variants": lambda p, info, **args: connection(
            [_ctx(info).store.variants[v] for v in p.variant_ids], args, bulk=_ctx(info).bulk
        ),
    },
    "ProductVariant": {
        "displayName": lambda v, info: (
            f"{_ctx(info).store.products[v.product_id].title} - {v.title}"
        ),
        "price": lambda v, _: str(v.price),
        "inventoryItem": _store_record("inventory_items", "inventory_item_id"),
        "product": _store_record("products", "product_id"),
        "metafield": lambda v, _, key, namespace=None: _metafield(v, namespace, key),
        "inventoryQuantity": _variant_inventory_quantity,
    },
    "InventoryItem": {
        "variant": _store_record("variants", "variant_id"),
        "inventoryLevel": _inventory_level,
        "inventoryLevels": lambda item, info, **args: _page(info, list(item.levels.values()), args),
    },
    "InventoryLevel": {
        "item": _store_record("inventory_items", "item_id"),
        "location": _store_record("locations", "location_id"),
        "quantities": _quantities,
    },
}


def resolve_node_type(record: Any, *_: Any) -> str:
    return record.gid_type
