"""Access scopes: what each of LGL Sync's GraphQL operations needs, and so what each flow needs at
each store.

The table is generated from Shopify's schema file (its ``offline_scopes``: the scopes, any one of
which grants a type or a field) for every type and field the operations in ``queries/`` touch,
and kept in ``access_scopes.json`` beside this module, so nothing at run time needs the schema.
Regenerate it after changing a query:

    python -m lgl_sync.shopify.scopes ../shared/shopify/admin-2026-10.schema.json.gz

A ``write_`` scope grants its ``read_`` scope (https://shopify.dev/docs/api/usage/access-scopes).
"""

from __future__ import annotations

import gzip
import json
import sys
from functools import cache
from pathlib import Path

import graphql

from lgl_sync.shopify.documents import all_documents

TABLE = Path(__file__).with_name("access_scopes.json")

RETAILER, LGL = "retailer", "lgl"
# The operations each flow runs at each store (every operation in queries/ is in one at least).
FLOW_OPERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "import_orders": {
        RETAILER: (
            "EligibleOrders",
            "SourceOrdersByIds",
            "OrderFulfillmentOrders",
            "FulfillmentOrderLineItems",
            "RetailerChangedOrders",
            "TagsAdd",
        ),
        LGL: (
            "Shop",
            "VariantsBySku",
            "OrderCreate",
            "LglOrderByCustomId",
            "LglOrdersBySource",
            "LglOrdersBySourceBulk",
            "LglOrdersByIds",
            "CustomIdDefinitions",
            "LglOrderStates",
            "LglOrderHolds",
            "LglOrderLineItems",
            "OrderCancel",
            "OrderUpdateAddress",
            "FulfillmentOrderHold",
            "FulfillmentOrderReleaseHold",
            "OrderEditBegin",
            "OrderEditSetQuantity",
            "OrderEditAddVariant",
            "OrderEditAddLineItemDiscount",
            "OrderEditCommit",
        ),
    },
    "push_fulfillments": {
        RETAILER: (
            "RetailerOrderByName",
            "RetailerOrderFulfillmentState",
            "OrderFulfillmentOrders",
            "FulfillmentOrderLineItems",
            "FulfillmentCreate",
            "FulfillmentTrackingUpdate",
            "FulfillmentCancel",
            "FulfillmentLines",
            "FulfillmentLineItems",
            "TagsAdd",
            "RetailerOrderReturns",
            "OrderReturns",
            "ReturnLineItems",
        ),
        # LglImportedOrdersBulk: `ledger rebuild`, which needs what the pushback needs.
        LGL: (
            "LglShippedOrders",
            "LglShippedOrdersBulk",
            "FulfillmentLines",
            "FulfillmentLineItems",
            "LglOrdersByIds",
            "LglImportedOrdersBulk",
            "ReturnCreate",
            "OrderReturns",
            "ReturnLineItems",
            "LglReturnReceipts",
            "ReverseFulfillmentOrderLines",
        ),
    },
    "sync_inventory": {
        RETAILER: (
            "InventoryItems",
            "InventoryItemsByIds",
            "InventorySetQuantities",
            "ProductVariants",
            "ProductVariantsBulk",
            "BulkOperationRunQuery",
            "BulkOperationStatus",
            "InventoryLevelsBulk",
        ),
        LGL: (
            "LglInventoryItems",
            "LglInventoryLevelsBulk",
            "InventoryItemsByIds",
            "InventoryItems",
            "InventoryItemSkus",
            "BulkOperationRunQuery",
            "BulkOperationStatus",
            "InventoryLevelsBulk",
            "PrimaryLocation",
            "Location",
        ),
    },
}
# Read by every check and by `validate` itself, whatever the flows.
# Webhook subscriptions need no scope of their own (a topic needs its resource's, which the
# flows have already).
ALWAYS = (
    "AccessScopes",
    "Location",
    "PrimaryLocation",
    "CustomIdDefinitionCreate",
    "WebhookSubscriptions",
    "WebhookSubscriptionCreate",
    "WebhookSubscriptionUpdate",
    "WebhookSubscriptionDelete",
)
# What only LGL's fulfillment service runs (location_model fulfillment_service): answering the
# retailer store's requests, and `retailer connect` creating the service.
SERVICE_OPERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "import_orders": {
        RETAILER: (
            "AssignedFulfillmentOrders",
            "FulfillmentRequestAccept",
            "FulfillmentRequestReject",
            "CancellationRequestAccept",
            "CancellationRequestReject",
            "FulfillmentOrderRequestStatus",
        ),
        LGL: (),
    },
}
CONNECT_OPERATIONS = ("FulfillmentServiceCreate", "LocationsWithServices")
# Shopify lists several scopes for fulfillment-order fields (any one grants the field), but each
# reaches only one kind of location: the one LGL's location model needs, by flow.
MODEL_SCOPES: dict[str, dict[str, str]] = {
    "merchant_managed": {
        "import_orders": "read_merchant_managed_fulfillment_orders",
        "push_fulfillments": "write_merchant_managed_fulfillment_orders",
    },
    "fulfillment_service": {
        "import_orders": "write_assigned_fulfillment_orders",
        "push_fulfillments": "write_assigned_fulfillment_orders",
    },
}


def coordinates(schema: graphql.GraphQLSchema, text: str) -> set[str]:
    """``Type`` and ``Type.field`` for every field a document selects, and its type."""
    found: set[str] = set()
    info = graphql.TypeInfo(schema)

    class Visitor(graphql.Visitor):
        def enter_field(self, node, *_args):
            parent = info.get_parent_type()
            field = info.get_field_def()
            if parent is None or field is None:
                return
            found.add(f"{parent.name}.{node.name.value}")
            found.add(graphql.get_named_type(field.type).name)

    graphql.visit(graphql.parse(text), graphql.TypeInfoVisitor(info, Visitor()))
    return found


def generate(schema_path: Path) -> dict[str, dict[str, list[str]]]:
    """{operation: {coordinate: scopes, any one of which grants it}} for every operation."""
    raw = json.loads(gzip.decompress(schema_path.read_bytes()))
    schema = graphql.build_client_schema(raw["data"])
    scopes: dict[str, list[str]] = {}
    for item in raw["offline_scopes"]["items"]:
        coordinate = item["typeName"]
        if item.get("type") == "field":
            coordinate += "." + item["fieldName"]
        if item.get("offlineScopes"):
            scopes[coordinate] = list(item["offlineScopes"])  # Shopify's order
    return {
        name: {c: scopes[c] for c in sorted(coordinates(schema, text)) if c in scopes}
        for name, text in sorted(all_documents().items())
    }


@cache
def table() -> dict[str, dict[str, list[str]]]:
    return json.loads(TABLE.read_text())


def grants(granted: set[str], scope: str) -> bool:
    """Is ``scope`` granted (a write scope grants its read scope)?"""
    return scope in granted or (
        scope.startswith("read_") and "write_" + scope.removeprefix("read_") in granted
    )


def missing(operations: tuple[str, ...] | list[str], granted: set[str]) -> dict[str, list[str]]:
    """{scopes a person must grant ("a or b" where any would do): [what needs them]} for every
    need no granted scope meets."""
    lacking: dict[str, list[str]] = {}
    for operation in operations:
        for coordinate, anyof in table().get(operation, {}).items():
            if not any(grants(granted, scope) for scope in anyof):
                needs = lacking.setdefault(" or ".join(anyof), [])
                if coordinate not in needs:
                    needs.append(coordinate)
    return lacking


def describe(lacking: dict[str, list[str]]) -> str:
    """``write_orders (Mutation.orderCreate); ...`` for a message."""
    return "; ".join(f"{scope} ({', '.join(needs[:3])})" for scope, needs in lacking.items())


def flow_operations(flow: str, store: str, model: str = "merchant_managed") -> tuple[str, ...]:
    """The operations a flow runs at a store under a location model."""
    extra = (
        SERVICE_OPERATIONS.get(flow, {}).get(store, ()) if model == "fulfillment_service" else ()
    )
    return (*FLOW_OPERATIONS[flow][store], *extra)


def flow_missing(
    flow: str, store: str, granted: set[str], model: str = "merchant_managed"
) -> dict[str, list[str]]:
    """What the flow lacks at the store; at the retailer's store also the fulfillment-order
    scope of the location model (Shopify's "any of" would accept one that hides LGL's
    fulfillment orders)."""
    lacking = missing(flow_operations(flow, store, model), granted)
    scope = MODEL_SCOPES.get(model, {}).get(flow) if store == RETAILER else None
    if scope and not grants(granted, scope):
        lacking.setdefault(scope, []).append(f"fulfillment orders at a {model} location")
    return lacking


def main() -> None:
    path = Path(sys.argv[1])
    TABLE.write_text(json.dumps(generate(path), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
