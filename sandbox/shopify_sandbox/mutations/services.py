"""Fulfillment-service mutations: creating LGL's service, and the requests on its fulfillment
orders (services.py has the rules and their shopify.dev pages)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox import services
from shopify_sandbox.mutations.support import context_of, payload
from shopify_sandbox.resolvers import lookup, parse_gid
from shopify_sandbox.state import SandboxError


def fulfillment_service_create(_: Any, info: GraphQLResolveInfo, name: str, **args: Any) -> dict:
    store = context_of(info).store
    build = payload(fulfillmentService=None)
    try:
        service = services.create_service(
            store,
            name,
            callback_url=args.get("callbackUrl"),
            inventory_management=args.get("inventoryManagement"),
            tracking_support=args.get("trackingSupport"),
            requires_shipping_method=args.get("requiresShippingMethod"),
            fulfillment_orders_opt_in=args.get("fulfillmentOrdersOptIn"),
        )
    except SandboxError as error:
        return build(error)
    return {"fulfillmentService": service, "userErrors": []}


def _on_fo(change, key: str = "fulfillmentOrder"):
    """A resolver applying ``change(store, fo)`` to the fulfillment order ``id``; the message
    and reason given are kept on it (the merchant sees them in the admin)."""

    def resolve(_: Any, info: GraphQLResolveInfo, id: str, **args: Any) -> dict:
        store = context_of(info).store
        build = payload(**{key: None})
        try:
            fo = lookup(store, id, "FulfillmentOrder")
            if fo is None:
                raise SandboxError("Fulfillment order does not exist.", ["id"])
            changed = change(store, fo)
        except SandboxError as error:
            return build(error)
        fo.answers.append((info.field_name, args.get("message"), args.get("reason")))
        return {key: changed, "userErrors": []}

    return resolve


def submit_fulfillment_request(_: Any, info: GraphQLResolveInfo, id: str, **args: Any) -> dict:
    store = context_of(info).store
    build = payload(
        originalFulfillmentOrder=None,
        submittedFulfillmentOrder=None,
        unsubmittedFulfillmentOrder=None,
    )
    try:
        fo = lookup(store, id, "FulfillmentOrder")
        if fo is None:
            raise SandboxError("Fulfillment order does not exist.", ["id"])
        units = None
        if args.get("fulfillmentOrderLineItems"):
            units = {
                (parse_gid(li["id"], "FulfillmentOrderLineItem") or ("", -1))[1]: li["quantity"]
                for li in args["fulfillmentOrderLineItems"]
            }
        submitted, rest = services.submit_request(store, fo, units)
    except SandboxError as error:
        return build(error)
    return {
        "originalFulfillmentOrder": submitted,
        "submittedFulfillmentOrder": submitted,
        "unsubmittedFulfillmentOrder": rest,
        "userErrors": [],
    }


SERVICE_MUTATIONS = {
    "fulfillmentServiceCreate": fulfillment_service_create,
    "fulfillmentOrderSubmitFulfillmentRequest": submit_fulfillment_request,
    "fulfillmentOrderAcceptFulfillmentRequest": _on_fo(services.accept_request),
    "fulfillmentOrderRejectFulfillmentRequest": _on_fo(services.reject_request),
    "fulfillmentOrderSubmitCancellationRequest": _on_fo(services.submit_cancellation),
    "fulfillmentOrderAcceptCancellationRequest": _on_fo(services.accept_cancellation),
    "fulfillmentOrderRejectCancellationRequest": _on_fo(services.reject_cancellation),
}
