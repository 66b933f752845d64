"""Return mutations: ``returnCreate`` and ``reverseFulfillmentOrderDispose`` (the rules are in
``shopify_sandbox.returns``)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox.resolvers import lookup, parse_gid
from shopify_sandbox.returns import create_return, dispose
from shopify_sandbox.state import SandboxError


def return_create(_: Any, info: GraphQLResolveInfo, returnInput: dict) -> dict:
    store = info.context.store
    try:
        order = lookup(store, returnInput["orderId"], "Order")
        if order is None:
            raise SandboxError("Order does not exist.", ["returnInput", "orderId"], "NOT_FOUND")
        lines = [
            {
                "fulfillment_line_item_id": (
                    parse_gid(li["fulfillmentLineItemId"], "FulfillmentLineItem") or ("", -1)
                )[1],
                "quantity": li["quantity"],
                "reason": li.get("returnReason"),
                "note": li.get("returnReasonNote"),
            }
            for li in returnInput["returnLineItems"]
        ]
        created = create_return(store, order, lines)
    except SandboxError as error:
        return {"return": None, "userErrors": [error.as_user_error()]}
    return {"return": created, "userErrors": []}


def reverse_fulfillment_order_dispose(
    _: Any, info: GraphQLResolveInfo, dispositionInputs: list[dict]
) -> dict:
    store = info.context.store
    try:
        inputs = [
            {
                "line_id": (
                    parse_gid(
                        d["reverseFulfillmentOrderLineItemId"], "ReverseFulfillmentOrderLineItem"
                    )
                    or ("", -1)
                )[1],
                "quantity": d["quantity"],
                "type": d["dispositionType"],
                "location_id": (parse_gid(d.get("locationId"), "Location") or ("", None))[1],
            }
            for d in dispositionInputs
        ]
        disposed = dispose(store, inputs)
    except SandboxError as error:
        return {"reverseFulfillmentOrderLineItems": None, "userErrors": [error.as_user_error()]}
    return {"reverseFulfillmentOrderLineItems": disposed, "userErrors": []}
