"""Order mutations: orderCreate (no idempotency), updates, cancels and tags (FACTS.md §4)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox import webhooks
from shopify_sandbox.models import Metafield, MetafieldDefinition, gid
from shopify_sandbox.mutations.support import context_of, payload
from shopify_sandbox.resolvers import lookup
from shopify_sandbox.state import SandboxError, next_id


def _money(value: dict | None, fallback: Decimal) -> Decimal:
    if not value:
        return fallback
    try:
        return Decimal(str(value["shopMoney"]["amount"]))
    except (InvalidOperation, KeyError, TypeError):
        return fallback


def _tags(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for tag in value.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in (t.lower() for t in out):
                out.append(tag)
    return out


# What orderCreate refuses in an address or phone (Shopify validates them; which formats it
# accepts is observed, not documented, so the strictest plausible rule is played): a phone that
# is not E.164 once spaces, dashes, dots and parentheses are removed; a US or Canadian zip
# that is not one; a US state or Canadian province code that does not exist.
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_ZIP = {"US": re.compile(r"^\d{5}(-\d{4})?$"), "CA": re.compile(r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$", re.I)}
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP AA AE AP"
)
_PROVINCES = {
    "US": frozenset(re.findall(r"[A-Z]{2}", _US_STATES)),
    "CA": frozenset(re.findall(r"[A-Z]{2}", "AB BC MB NB NL NS NT NU ON PE QC SK YT")),
}


def _check_contact(order: dict) -> None:
    for path, holder in (
        (["order"], order),
        (["order", "shippingAddress"], order.get("shippingAddress") or {}),
        (["order", "billingAddress"], order.get("billingAddress") or {}),
    ):
        phone = holder.get("phone")
        if phone and not _PHONE.match(re.sub(r"[\s\-.()]", "", phone)):
            raise SandboxError("Phone is invalid", [*path, "phone"], "INVALID")
    address = order.get("shippingAddress") or {}
    country = (address.get("countryCode") or "").upper()
    path = ["order", "shippingAddress"]
    if country in _ZIP and address.get("zip") and not _ZIP[country].match(address["zip"]):
        raise SandboxError("Zip is invalid", [*path, "zip"], "INVALID")
    code = address.get("provinceCode")
    if country in _PROVINCES and code and code.upper() not in _PROVINCES[country]:
        raise SandboxError("Province is invalid", [*path, "provinceCode"], "INVALID")


def order_create(_: Any, info: GraphQLResolveInfo, order: dict, options: dict | None = None):
    """Creates an order with fulfillment orders per routed location. No idempotency."""
    store = context_of(info).store
    build = payload(order=None)
    options = options or {}
    behaviour = options.get("inventoryBehaviour") or "BYPASS"
    lines = []
    try:
        if not order.get("lineItems"):
            raise SandboxError(
                "Line items must have at least one item.", ["order", "lineItems"], "INVALID"
            )
        _check_contact(order)
        for i, line in enumerate(order["lineItems"]):
            path = ["order", "lineItems", str(i)]
            if line["quantity"] <= 0:
                raise SandboxError(
                    "Quantity must be greater than 0.", [*path, "quantity"], "INVALID"
                )
            spec: dict[str, Any] = {
                "quantity": line["quantity"],
                "title": line.get("title"),
                "vendor": line.get("vendor"),
            }
            if line.get("variantId"):
                variant = lookup(store, line["variantId"], "ProductVariant")
                if variant is None:
                    raise SandboxError("Variant does not exist.", [*path, "variantId"], "INVALID")
                spec.update(
                    variant_id=variant.id, price=_money(line.get("priceSet"), variant.price)
                )
                if behaviour == "DECREMENT_OBEYING_POLICY":
                    item = store.inventory_items[variant.inventory_item_id]
                    location = variant.ships_from_location_id or store.primary_location_id
                    level = item.levels.get(location)
                    if level is None or level.quantities["available"] < line["quantity"]:
                        raise SandboxError(
                            "Unable to reserve inventory.", path, "INVENTORY_CLAIM_FAILED"
                        )
            else:
                if not line.get("title"):
                    raise SandboxError(
                        "Title can't be blank for a custom line item.", [*path, "title"], "INVALID"
                    )
                spec.update(sku=line.get("sku"), price=_money(line.get("priceSet"), Decimal("0")))
            lines.append(spec)
        _check_custom_ids(store, order.get("metafields") or [])
    except SandboxError as error:
        return build(error)
    created = store.create_order(
        lines=lines,
        financial_status=order.get("financialStatus") or "PENDING",
        decrement_inventory=behaviour != "BYPASS",
        email=order.get("email"),
        phone=order.get("phone"),
        note=order.get("note"),
        tags=_tags(order.get("tags")),
        po_number=order.get("poNumber"),
        source_identifier=order.get("sourceIdentifier"),
        source_name=order.get("sourceName") or "api",
        test=bool(order.get("test")),
        custom_attributes=[(a["key"], a["value"]) for a in order.get("customAttributes") or []],
        shipping_address=order.get("shippingAddress"),
        billing_address=order.get("billingAddress"),
        shipping_lines=[
            {
                "title": line["title"],
                "code": line.get("code"),
                "source": line.get("source"),
                "price": _money(line.get("priceSet"), Decimal("0")),
            }
            for line in order.get("shippingLines") or []
        ],
    )
    for mf in order.get("metafields") or []:
        created.metafields[(mf.get("namespace") or "custom", mf["key"])] = Metafield(
            next_id(),
            mf.get("namespace") or "custom",
            mf["key"],
            mf["value"],
            mf.get("type") or "single_line_text_field",
        )
    return {"order": created, "userErrors": []}


def _check_custom_ids(store: Any, metafields: list[dict]) -> None:
    """An ``id`` metafield needs its definition on ORDER, and its value is unique per store
    (https://shopify.dev/docs/apps/build/custom-data/metafields/work-with-custom-ids) unless
    the sandbox plays the variant where duplicates slip through."""
    for i, mf in enumerate(metafields):
        if mf.get("type") != "id":
            continue
        namespace, key = mf.get("namespace") or "custom", mf["key"]
        path = ["order", "metafields", str(i)]
        if ("ORDER", namespace, key) not in store.metafield_definitions:
            raise SandboxError(
                f"A metafield of type id needs a definition ({namespace}.{key} on ORDER).",
                path,
                "INVALID",
            )
        taken = store.orders_by_custom_id(namespace, key, mf["value"])
        if taken and store.custom_id_mode != "lagging_duplicates":
            # OrderCreateUserErrorCode has no TAKEN: the error names the field and says it.
            raise SandboxError("Value has already been taken.", [*path, "value"], "INVALID")


def metafield_definition_create(_: Any, info: GraphQLResolveInfo, definition: dict) -> dict:
    store = context_of(info).store
    namespace = definition.get("namespace") or "app"
    key = (definition["ownerType"], namespace, definition["key"])
    if key in store.metafield_definitions:
        error = {
            "field": ["definition", "key"],
            "message": "Key is in use for Order metafields on the 'namespace' namespace.",
            "code": "TAKEN",
        }
        return {"createdDefinition": None, "userErrors": [error]}
    created = MetafieldDefinition(
        next_id(),
        definition["name"],
        namespace,
        definition["key"],
        definition["ownerType"],
        {"name": definition["type"]},
    )
    store.metafield_definitions[key] = created
    return {"createdDefinition": created, "userErrors": []}


def order_update(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    store = context_of(info).store
    order = lookup(store, input["id"], "Order")
    if order is None:
        return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
    for key, attr in (
        ("email", "email"),
        ("note", "note"),
        ("poNumber", "po_number"),
        ("shippingAddress", "shipping_address"),
    ):
        if key in input:
            setattr(order, attr, input[key])
    if "tags" in input:
        order.tags = _tags(input["tags"])
    if "customAttributes" in input:
        order.custom_attributes = [(a["key"], a["value"]) for a in input["customAttributes"]]
    store.touch(order)
    return {"order": order, "userErrors": []}


def order_mark_as_paid(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    """orderMarkAsPaid: the outstanding amount is recorded as paid; ``updated_at`` moves."""
    store = context_of(info).store
    order = lookup(store, input["id"], "Order")
    if order is None:
        return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
    if order.cancelled_at is not None or order.financial_status == "PAID":
        message = "Order cannot be marked as paid."
        return {"order": None, "userErrors": [{"field": ["id"], "message": message}]}
    order.financial_status = "PAID"
    if store.auto_request:
        for fo_id in order.fulfillment_order_ids:
            fo = store.fulfillment_orders[fo_id]
            if store.is_service(fo) and fo.status == "OPEN" and fo.request_status == "UNSUBMITTED":
                fo.request_status = "SUBMITTED"
    store.touch(order)
    store.emit("ORDERS_PAID", lambda: webhooks.order_payload(store, order))
    return {"order": order, "userErrors": []}


def order_cancel(_: Any, info: GraphQLResolveInfo, orderId: str, restock: bool, **_a: Any):
    """Shopify's orderCancel: refused for an order already cancelled or with a fulfillment
    that is not cancelled ("outstanding fulfillments that can't be cancelled"); otherwise a Job,
    and the order reads as cancelled once the job has run (the store's ``job_seconds``)."""
    store = context_of(info).store
    order = lookup(store, orderId, "Order")
    try:
        if order is None:
            raise SandboxError("Order does not exist.", ["orderId"], "NOT_FOUND")
        if order.cancelled_at is not None:
            raise SandboxError("Order has already been cancelled.", ["orderId"], "INVALID")
        if any(store.fulfillments[f].status == "SUCCESS" for f in order.fulfillment_ids):
            raise SandboxError(
                "Cannot cancel an order with fulfillments that are not cancelled.",
                ["orderId"],
                "INVALID",
            )
    except SandboxError as error:
        user_error = error.as_user_error()
        return {
            "job": None,
            "orderCancelUserErrors": [user_error],
            "userErrors": [{"field": user_error["field"], "message": error.message}],
        }

    def cancel() -> None:
        if order.cancelled_at is None:
            store.cancel_order(order, restock=restock)

    job_id = store.start_job(cancel)
    return {
        "job": {"id": gid("Job", job_id), "done": store.job_done(job_id)},
        "orderCancelUserErrors": [],
        "userErrors": [],
    }


def tags_change(add: bool):
    def resolve(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict:
        store = context_of(info).store
        record = lookup(store, id)
        if record is None or not hasattr(record, "tags"):
            return {
                "node": None,
                "userErrors": [{"field": ["id"], "message": "Resource does not exist"}],
            }
        wanted = _tags(tags)
        if add:
            record.tags = _tags([*record.tags, *wanted])
        else:
            lowered = {t.lower() for t in wanted}
            record.tags = [t for t in record.tags if t.lower() not in lowered]
        store.touch(record)
        return {"node": record, "userErrors": []}

    return resolve
