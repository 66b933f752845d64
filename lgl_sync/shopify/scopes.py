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
            "LglOrdersByIds",
            "CustomIdDefinitions",
            "LglOrderStates",
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
        ),
        LGL: ("LglShippedOrders", "FulfillmentLines", "FulfillmentLineItems", "LglOrdersByIds"),
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
ALWAYS = ("AccessScopes", "Location", "PrimaryLocation", "CustomIdDefinitionCreate")


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


def flow_missing(flow: str, store: str, granted: set[str]) -> dict[str, list[str]]:
    return missing(FLOW_OPERATIONS[flow][store], granted)


def main() -> None:
    path = Path(sys.argv[1])
    TABLE.write_text(json.dumps(generate(path), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
