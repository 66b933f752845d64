"""Writes the sandbox's SDL as a strict subset of Shopify's real Admin GraphQL schema.

The sandbox must accept exactly what Shopify accepts for the operations LGL Sync uses, so its
schema is cut out of Shopify's own introspection file rather than typed by hand: the fields
listed in ``SUBSET`` keep their real types, arguments and defaults; enums and scalars are copied
whole. Regenerate with ``python -m shopify_sandbox.tools.schema_subset PATH_TO_SCHEMA_JSON_GZ``.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import graphql

SDL_PATH = Path(__file__).resolve().parents[1] / "schema.graphql"
SCOPES_PATH = Path(__file__).resolve().parents[1] / "access_scopes.json"

# Type name -> fields kept. Input objects list the fields the sandbox understands (required
# fields must all be there). Enums and scalars reachable from these are copied whole.
SUBSET: dict[str, list[str]] = {
    "QueryRoot": [
        "shop",
        "currentAppInstallation",
        "locations",
        "location",
        "orders",
        "order",
        "productVariants",
        "products",
        "inventoryItems",
        "fulfillmentOrders",
        "fulfillment",
        "node",
        "nodes",
        "bulkOperation",
        "currentBulkOperation",
        "orderByIdentifier",
        "metafieldDefinitions",
        "assignedFulfillmentOrders",
        "fulfillmentOrder",
        "webhookSubscriptions",
    ],
    "Mutation": [
        "orderCreate",
        "webhookSubscriptionCreate",
        "webhookSubscriptionUpdate",
        "webhookSubscriptionDelete",
        "orderUpdate",
        "orderCancel",
        "orderMarkAsPaid",
        "tagsAdd",
        "tagsRemove",
        "fulfillmentCreate",
        "fulfillmentTrackingInfoUpdate",
        "fulfillmentCancel",
        "fulfillmentOrderHold",
        "fulfillmentOrderReleaseHold",
        "fulfillmentOrderMove",
        "orderEditBegin",
        "orderEditAddVariant",
        "orderEditSetQuantity",
        "orderEditAddLineItemDiscount",
        "orderEditCommit",
        "refundCreate",
        "inventorySetQuantities",
        "inventoryAdjustQuantities",
        "inventoryActivate",
        "bulkOperationRunQuery",
        "metafieldDefinitionCreate",
        "fulfillmentServiceCreate",
        "fulfillmentOrderSubmitFulfillmentRequest",
        "fulfillmentOrderAcceptFulfillmentRequest",
        "fulfillmentOrderRejectFulfillmentRequest",
        "fulfillmentOrderSubmitCancellationRequest",
        "fulfillmentOrderAcceptCancellationRequest",
        "fulfillmentOrderRejectCancellationRequest",
        "returnCreate",
        "reverseFulfillmentOrderDispose",
    ],
    "Node": ["id"],
    "Shop": ["id", "name", "myshopifyDomain", "currencyCode", "ianaTimezone", "plan"],
    "ShopPlan": ["displayName", "partnerDevelopment", "shopifyPlus", "publicDisplayName"],
    "AppInstallation": ["id", "accessScopes"],
    "AccessScope": ["handle", "description"],
    "PageInfo": ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"],
    "Location": [
        "id",
        "name",
        "isActive",
        "legacyResourceId",
        "fulfillsOnlineOrders",
        "inventoryLevels",
        "isFulfillmentService",
        "fulfillmentService",
    ],
    "FulfillmentService": [
        "id",
        "handle",
        "serviceName",
        "callbackUrl",
        "inventoryManagement",
        "trackingSupport",
        "requiresShippingMethod",
        "fulfillmentOrdersOptIn",
        "type",
        "location",
    ],
    "FulfillmentServiceCreatePayload": ["fulfillmentService", "userErrors"],
    "FulfillmentOrderSubmitFulfillmentRequestPayload": [
        "originalFulfillmentOrder",
        "submittedFulfillmentOrder",
        "unsubmittedFulfillmentOrder",
        "userErrors",
    ],
    "FulfillmentOrderAcceptFulfillmentRequestPayload": ["fulfillmentOrder", "userErrors"],
    "FulfillmentOrderRejectFulfillmentRequestPayload": ["fulfillmentOrder", "userErrors"],
    "FulfillmentOrderSubmitCancellationRequestPayload": ["fulfillmentOrder", "userErrors"],
    "FulfillmentOrderAcceptCancellationRequestPayload": ["fulfillmentOrder", "userErrors"],
    "FulfillmentOrderRejectCancellationRequestPayload": ["fulfillmentOrder", "userErrors"],
    "IncomingRequestLineItemInput": ["fulfillmentOrderLineItemId", "message"],
    "LocationConnection": ["edges", "nodes", "pageInfo"],
    "LocationEdge": ["cursor", "node"],
    "Order": [
        "id",
        "legacyResourceId",
        "name",
        "createdAt",
        "updatedAt",
        "processedAt",
        "cancelledAt",
        "closed",
        "test",
        "email",
        "phone",
        "note",
        "tags",
        "poNumber",
        "sourceIdentifier",
        "sourceName",
        "currencyCode",
        "displayFinancialStatus",
        "displayFulfillmentStatus",
        "customAttributes",
        "shippingAddress",
        "billingAddress",
        "totalPriceSet",
        "metafield",
        "metafields",
        "lineItems",
        "fulfillmentOrders",
        "fulfillments",
        "shippingLine",
        "shippingLines",
        "returns",
        "returnStatus",
    ],
    "OrderConnection": ["edges", "nodes", "pageInfo"],
    "OrderEdge": ["cursor", "node"],
    "Attribute": ["key", "value"],
    "MailingAddress": [
        "firstName",
        "lastName",
        "name",
        "company",
        "address1",
        "address2",
        "city",
        "province",
        "provinceCode",
        "zip",
        "country",
        "countryCodeV2",
        "phone",
    ],
    "MoneyBag": ["shopMoney", "presentmentMoney"],
    "MoneyV2": ["amount", "currencyCode"],
    "Metafield": ["id", "namespace", "key", "value", "type"],
    "MetafieldDefinition": ["id", "name", "namespace", "key", "ownerType", "type"],
    "MetafieldDefinitionType": ["name"],
    "MetafieldDefinitionConnection": ["edges", "nodes", "pageInfo"],
    "MetafieldDefinitionEdge": ["cursor", "node"],
    "MetafieldDefinitionCreatePayload": ["createdDefinition", "userErrors"],
    "MetafieldDefinitionCreateUserError": ["field", "message", "code"],
    "MetafieldConnection": ["edges", "nodes", "pageInfo"],
    "MetafieldEdge": ["cursor", "node"],
    "LineItem": [
        "id",
        "name",
        "title",
        "variantTitle",
        "sku",
        "vendor",
        "quantity",
        "currentQuantity",
        "unfulfilledQuantity",
        "fulfillableQuantity",
        "requiresShipping",
        "variant",
        "product",
        "originalUnitPriceSet",
        "customAttributes",
    ],
    "LineItemConnection": ["edges", "nodes", "pageInfo"],
    "LineItemEdge": ["cursor", "node"],
    "DeliveryMethod": [
        "id",
        "methodType",
        "serviceCode",
        "presentedName",
        "maxDeliveryDateTime",
        "minDeliveryDateTime",
    ],
    "ShippingLine": ["id", "title", "code", "source", "originalPriceSet"],
    "ShippingLineConnection": ["edges", "nodes", "pageInfo"],
    "ShippingLineEdge": ["cursor", "node"],
    "OrderCreateShippingLineInput": ["title", "code", "source", "priceSet"],
    "FulfillmentOrder": [
        "id",
        "orderId",
        "order",
        "status",
        "requestStatus",
        "createdAt",
        "updatedAt",
        "assignedLocation",
        "lineItems",
        "supportedActions",
        "fulfillments",
        "fulfillmentHolds",
        "deliveryMethod",
        "fulfillBy",
    ],
    "FulfillmentOrderConnection": ["edges", "nodes", "pageInfo"],
    "FulfillmentOrderEdge": ["cursor", "node"],
    "FulfillmentOrderAssignedLocation": ["name", "location"],
    "FulfillmentOrderSupportedAction": ["action"],
    "FulfillmentOrderLineItem": [
        "id",
        "sku",
        "totalQuantity",
        "remainingQuantity",
        "lineItem",
        "variant",
        "inventoryItemId",
    ],
    "FulfillmentOrderLineItemConnection": ["edges", "nodes", "pageInfo"],
    "FulfillmentOrderLineItemEdge": ["cursor", "node"],
    "Fulfillment": [
        "id",
        "name",
        "status",
        "displayStatus",
        "createdAt",
        "updatedAt",
        "order",
        "location",
        "trackingInfo",
        "fulfillmentLineItems",
        "fulfillmentOrders",
    ],
    "FulfillmentConnection": ["edges", "nodes", "pageInfo"],
    "FulfillmentEdge": ["cursor", "node"],
    "FulfillmentTrackingInfo": ["company", "number", "url"],
    "FulfillmentLineItem": ["id", "lineItem", "quantity"],
    "FulfillmentLineItemConnection": ["edges", "nodes", "pageInfo"],
    "FulfillmentLineItemEdge": ["cursor", "node"],
    "Product": ["id", "title", "handle", "status", "variants"],
    "ProductConnection": ["edges", "nodes", "pageInfo"],
    "ProductEdge": ["cursor", "node"],
    "ProductVariant": [
        "id",
        "title",
        "displayName",
        "sku",
        "barcode",
        "price",
        "inventoryQuantity",
        "inventoryItem",
        "product",
        "metafield",
    ],
    "ProductVariantConnection": ["edges", "nodes", "pageInfo"],
    "ProductVariantEdge": ["cursor", "node"],
    "InventoryItem": [
        "id",
        "sku",
        "tracked",
        "createdAt",
        "updatedAt",
        "variant",
        "inventoryLevel",
        "inventoryLevels",
    ],
    "InventoryItemConnection": ["edges", "nodes", "pageInfo"],
    "InventoryItemEdge": ["cursor", "node"],
    "InventoryLevel": ["id", "item", "location", "quantities"],
    "InventoryLevelConnection": ["edges", "nodes", "pageInfo"],
    "InventoryLevelEdge": ["cursor", "node"],
    "InventoryQuantity": ["id", "name", "quantity", "updatedAt"],
    "InventoryAdjustmentGroup": ["id", "createdAt", "reason", "referenceDocumentUri", "changes"],
    "InventoryChange": ["name", "delta", "quantityAfterChange", "item", "location"],
    "BulkOperation": [
        "id",
        "status",
        "errorCode",
        "type",
        "query",
        "createdAt",
        "completedAt",
        "objectCount",
        "rootObjectCount",
        "fileSize",
        "url",
        "partialDataUrl",
    ],
    # Returns (returns.py).
    "Return": [
        "id",
        "name",
        "status",
        "createdAt",
        "closedAt",
        "order",
        "totalQuantity",
        "returnLineItems",
        "reverseFulfillmentOrders",
    ],
    "ReturnConnection": ["edges", "nodes", "pageInfo"],
    "ReturnEdge": ["cursor", "node"],
    "ReturnLineItemType": ["id", "quantity", "returnReason", "returnReasonNote", "customerNote"],
    "ReturnLineItem": [
        "id",
        "quantity",
        "returnReason",
        "returnReasonNote",
        "customerNote",
        "fulfillmentLineItem",
    ],
    "ReturnLineItemTypeConnection": ["edges", "nodes", "pageInfo"],
    "ReturnLineItemTypeEdge": ["cursor", "node"],
    "ReverseFulfillmentOrder": ["id", "status", "order", "lineItems"],
    "ReverseFulfillmentOrderConnection": ["edges", "nodes", "pageInfo"],
    "ReverseFulfillmentOrderEdge": ["cursor", "node"],
    "ReverseFulfillmentOrderLineItem": [
        "id",
        "totalQuantity",
        "fulfillmentLineItem",
        "dispositions",
    ],
    "ReverseFulfillmentOrderLineItemConnection": ["edges", "nodes", "pageInfo"],
    "ReverseFulfillmentOrderLineItemEdge": ["cursor", "node"],
    "ReverseFulfillmentOrderDisposition": ["id", "type", "quantity", "location", "createdAt"],
    "ReturnInput": ["orderId", "returnLineItems", "notifyCustomer", "requestedAt"],
    "ReturnLineItemInput": [
        "fulfillmentLineItemId",
        "quantity",
        "returnReason",
        "returnReasonNote",
    ],
    "ReverseFulfillmentOrderDisposeInput": [
        "reverseFulfillmentOrderLineItemId",
        "quantity",
        "dispositionType",
        "locationId",
    ],
    "ReturnCreatePayload": ["return", "userErrors"],
    "ReverseFulfillmentOrderDisposePayload": ["reverseFulfillmentOrderLineItems", "userErrors"],
    "ReturnUserError": ["field", "message", "code"],
    # Payloads and their errors.
    "OrderCreatePayload": ["order", "userErrors"],
    "OrderCreateUserError": ["field", "message", "code"],
    "OrderUpdatePayload": ["order", "userErrors"],
    "OrderMarkAsPaidPayload": ["order", "userErrors"],
    "OrderMarkAsPaidInput": ["id"],
    "OrderCancelPayload": ["job", "orderCancelUserErrors", "userErrors"],
    "Job": ["id", "done"],
    "FulfillmentOrderHoldPayload": [
        "fulfillmentHold",
        "fulfillmentOrder",
        "remainingFulfillmentOrder",
        "userErrors",
    ],
    "FulfillmentOrderHoldUserError": ["field", "message", "code"],
    "FulfillmentHold": ["id", "handle", "reason", "reasonNotes"],
    "FulfillmentOrderMovePayload": [
        "movedFulfillmentOrder",
        "originalFulfillmentOrder",
        "remainingFulfillmentOrder",
        "userErrors",
    ],
    "FulfillmentOrderMoveFulfillmentOrderMoveUserError": ["field", "message", "code"],
    "OrderEditBeginPayload": ["calculatedOrder", "orderEditSession", "userErrors"],
    "OrderEditAddVariantPayload": [
        "calculatedLineItem",
        "calculatedOrder",
        "orderEditSession",
        "userErrors",
    ],
    "OrderEditSetQuantityPayload": [
        "calculatedLineItem",
        "calculatedOrder",
        "orderEditSession",
        "userErrors",
    ],
    "OrderEditAddLineItemDiscountPayload": [
        "addedDiscountStagedChange",
        "calculatedLineItem",
        "calculatedOrder",
        "orderEditSession",
        "userErrors",
    ],
    "OrderEditCommitPayload": ["order", "successMessages", "userErrors"],
    "OrderEditSession": ["id"],
    "OrderStagedChangeAddLineItemDiscount": ["id"],
    "CalculatedOrder": [
        "id",
        "committed",
        "originalOrder",
        "lineItems",
        "subtotalLineItemsQuantity",
    ],
    "CalculatedLineItem": [
        "id",
        "sku",
        "quantity",
        "editableQuantity",
        "variant",
        "title",
        "originalUnitPriceSet",
        "discountedUnitPriceSet",
    ],
    "CalculatedLineItemConnection": ["edges", "nodes", "pageInfo"],
    "CalculatedLineItemEdge": ["cursor", "node"],
    "RefundCreatePayload": ["order", "refund", "userErrors"],
    "Refund": ["id", "note", "order"],
    "FulfillmentOrderHoldInput": ["reason", "reasonNotes", "handle", "notifyMerchant"],
    "FulfillmentOrderReleaseHoldPayload": ["fulfillmentOrder", "userErrors"],
    "FulfillmentOrderReleaseHoldUserError": ["field", "message", "code"],
    "OrderCancelUserError": ["field", "message", "code"],
    "UserError": ["field", "message"],
    "WebhookSubscription": [
        "id",
        "topic",
        "uri",
        "filter",
        "includeFields",
        "format",
        "createdAt",
        "updatedAt",
    ],
    "WebhookSubscriptionInput": ["uri", "filter", "includeFields", "format"],
    "WebhookSubscriptionConnection": ["edges", "nodes", "pageInfo"],
    "WebhookSubscriptionEdge": ["cursor", "node"],
    "WebhookSubscriptionCreatePayload": ["webhookSubscription", "userErrors"],
    "WebhookSubscriptionUpdatePayload": ["webhookSubscription", "userErrors"],
    "WebhookSubscriptionDeletePayload": ["deletedWebhookSubscriptionId", "userErrors"],
    "TagsAddPayload": ["node", "userErrors"],
    "TagsRemovePayload": ["node", "userErrors"],
    "FulfillmentCreatePayload": ["fulfillment", "userErrors"],
    "FulfillmentTrackingInfoUpdatePayload": ["fulfillment", "userErrors"],
    "FulfillmentCancelPayload": ["fulfillment", "userErrors"],
    "InventorySetQuantitiesPayload": ["inventoryAdjustmentGroup", "userErrors"],
    "InventorySetQuantitiesUserError": ["field", "message", "code"],
    "InventoryAdjustQuantitiesPayload": ["inventoryAdjustmentGroup", "userErrors"],
    "InventoryAdjustQuantitiesUserError": ["field", "message", "code"],
    "InventoryActivatePayload": ["inventoryLevel", "userErrors"],
    "BulkOperationRunQueryPayload": ["bulkOperation", "userErrors"],
    "BulkOperationUserError": ["field", "message", "code"],
    # Inputs.
    "OrderCreateOrderInput": [
        "lineItems",
        "email",
        "phone",
        "shippingAddress",
        "billingAddress",
        "tags",
        "note",
        "customAttributes",
        "financialStatus",
        "currency",
        "processedAt",
        "poNumber",
        "sourceIdentifier",
        "sourceName",
        "sourceUrl",
        "test",
        "metafields",
        "shippingLines",
    ],
    "OrderCreateLineItemInput": [
        "variantId",
        "quantity",
        "priceSet",
        "title",
        "sku",
        "variantTitle",
        "vendor",
        "requiresShipping",
        "taxable",
    ],
    "OrderCreateOptionsInput": ["inventoryBehaviour", "sendReceipt", "sendFulfillmentReceipt"],
    "OrderCreateCustomAttributeInput": ["key", "value"],
    "MailingAddressInput": [
        "firstName",
        "lastName",
        "company",
        "address1",
        "address2",
        "city",
        "province",
        "provinceCode",
        "zip",
        "country",
        "countryCode",
        "phone",
    ],
    "MoneyBagInput": ["shopMoney", "presentmentMoney"],
    "MoneyInput": ["amount", "currencyCode"],
    "MetafieldInput": ["namespace", "key", "value", "type"],
    "OrderIdentifierInput": ["customId", "id"],
    "UniqueMetafieldValueInput": ["namespace", "key", "value"],
    "MetafieldDefinitionInput": ["name", "namespace", "key", "type", "ownerType"],
    "OrderInput": [
        "id",
        "email",
        "note",
        "tags",
        "customAttributes",
        "shippingAddress",
        "poNumber",
    ],
    "AttributeInput": ["key", "value"],
    "FulfillmentInput": ["lineItemsByFulfillmentOrder", "notifyCustomer", "trackingInfo"],
    "FulfillmentOrderLineItemsInput": ["fulfillmentOrderId", "fulfillmentOrderLineItems"],
    "FulfillmentOrderLineItemInput": ["id", "quantity"],
    "OrderEditAppliedDiscountInput": ["description", "fixedValue", "percentValue"],
    "RefundInput": ["orderId", "note", "notify", "refundLineItems"],
    "RefundLineItemInput": ["lineItemId", "quantity", "restockType", "locationId"],
    "FulfillmentTrackingInput": ["company", "number", "numbers", "url", "urls"],
    "InventorySetQuantitiesInput": ["name", "reason", "referenceDocumentUri", "quantities"],
    "InventoryQuantityInput": ["inventoryItemId", "locationId", "quantity", "changeFromQuantity"],
    "InventoryAdjustQuantitiesInput": ["name", "reason", "referenceDocumentUri", "changes"],
    "InventoryChangeInput": ["inventoryItemId", "locationId", "delta", "changeFromQuantity"],
}


def load_real_schema(path: Path) -> graphql.GraphQLSchema:
    """Builds a schema from Shopify's gzipped introspection result."""
    raw = gzip.decompress(path.read_bytes())
    return graphql.build_client_schema(json.loads(raw)["data"])


def _named(type_: graphql.GraphQLType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)


def _keeps(type_: graphql.GraphQLType) -> bool:
    named = _named(type_)
    return isinstance(named, graphql.GraphQLScalarType | graphql.GraphQLEnumType) or (
        named.name in SUBSET
    )


def _default(arg: graphql.GraphQLArgument | graphql.GraphQLInputField) -> str:
    if arg.default_value is graphql.Undefined:
        return ""
    return " = " + graphql.print_ast(graphql.ast_from_value(arg.default_value, arg.type))


def subset_sdl(real: graphql.GraphQLSchema) -> str:
    """Returns the SDL of the sandbox schema cut out of ``real``."""
    blocks: list[str] = []
    leaves: set[str] = set()
    for name, wanted in SUBSET.items():
        type_ = real.get_type(name)
        if type_ is None:
            raise KeyError(f"{name} is not a type of the real schema")
        lines = []
        for field_name in wanted:
            field = type_.fields[field_name]
            if not _keeps(field.type):
                raise KeyError(f"{name}.{field_name} returns {field.type}, not in the subset")
            leaves.add(_named(field.type).name)
            if isinstance(type_, graphql.GraphQLInputObjectType):
                lines.append(f"  {field_name}: {field.type}{_default(field)}")
                continue
            args = []
            for arg_name, arg in field.args.items():
                if not _keeps(arg.type):
                    if graphql.is_required_argument(arg):
                        raise KeyError(f"{name}.{field_name}({arg_name}) needs {arg.type}")
                    continue
                leaves.add(_named(arg.type).name)
                args.append(f"{arg_name}: {arg.type}{_default(arg)}")
            signature = f"({', '.join(args)})" if args else ""
            lines.append(f"  {field_name}{signature}: {field.type}")
        kind = {
            graphql.GraphQLObjectType: "type",
            graphql.GraphQLInterfaceType: "interface",
            graphql.GraphQLInputObjectType: "input",
        }[type(type_)]
        interfaces = [
            i.name
            for i in getattr(type_, "interfaces", [])
            if i.name in SUBSET and set(SUBSET[i.name]) <= set(wanted)
        ]
        head = f"{kind} {name}" + (f" implements {' & '.join(interfaces)}" if interfaces else "")
        blocks.append(head + " {\n" + "\n".join(lines) + "\n}")
    for name in sorted(leaves - set(SUBSET)):
        type_ = real.get_type(name)
        if isinstance(type_, graphql.GraphQLEnumType):
            blocks.append(f"enum {name} {{\n" + "\n".join(f"  {v}" for v in type_.values) + "\n}")
        elif name not in graphql.specified_scalar_types:
            blocks.append(f"scalar {name}")
    header = (
        "# Generated by shopify_sandbox/tools/schema_subset.py from Shopify's Admin GraphQL schema "
        "2026-10.\n# A strict subset: every type, field and argument here exists in Shopify's "
        "schema with the same type.\n"
        "schema {\n  query: QueryRoot\n  mutation: Mutation\n}\n\n"
        "directive @idempotent(key: String!) on FIELD\n"
    )
    return header + "\n\n".join(blocks) + "\n"


def subset_scopes(path: Path) -> dict[str, list[str]]:
    """{``Type`` or ``Type.field``: scopes, any one of which grants it} for the subset, from the
    schema file's ``offline_scopes`` (Shopify's order kept)."""
    raw = json.loads(gzip.decompress(path.read_bytes()))
    kept = set(SUBSET) | {f"{t}.{f}" for t, fields in SUBSET.items() for f in fields}
    table = {}
    for item in raw["offline_scopes"]["items"]:
        coordinate = item["typeName"]
        if item.get("type") == "field":
            coordinate += "." + item["fieldName"]
        if coordinate in kept and item.get("offlineScopes"):
            table[coordinate] = list(item["offlineScopes"])
    return dict(sorted(table.items()))


def main() -> None:
    path = Path(sys.argv[1])
    real = load_real_schema(path)
    SDL_PATH.write_text(subset_sdl(real))
    SCOPES_PATH.write_text(json.dumps(subset_scopes(path), indent=1) + "\n")


if __name__ == "__main__":
    main()
