"""Order import rules: which orders LGL must ship, and how each becomes an LGL order.

Plain functions over plain data (DESIGN.md, "Order import — the rules"): no I/O, no database
types. Reading the orders is ``reads.py``; the protocol that writes them to Shopify exactly once
is ``writer.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lgl_sync.retailer import Retailer
from lgl_sync.shopify.models import DeliveryMethod, FulfillmentOrder

IMPORTED_TAG = "imported-to-LGL"
# The LGL order's custom ID: an id-type metafield in LGL Sync's own namespace (never the `$app`
# default, whose names belong to one app), holding the source identifier.
CUSTOM_ID = ("lgl_sync", "source_order")
# Paid, or paid and then refunded in part (the rest still ships): a fully refunded order is not.
PAID = ("PAID", "PARTIALLY_REFUNDED")
PAID_SEARCH = "(financial_status:paid OR financial_status:partially_refunded)"
MAX_LINES = 250  # Shopify caps input arrays at 250 items (FACTS.md §1.5)


@dataclass(frozen=True)
class SourceLine:
    """A fulfillment-order line at the retailer's LGL location that still has to ship."""

    line_item_id: str
    sku: str | None
    quantity: int


@dataclass(frozen=True)
class SourceOrder:
    """A retailer order as the import needs it; ``lines`` are only the LGL ones."""

    id: str
    name: str
    created_at: datetime
    financial_status: str | None
    cancelled: bool
    tags: tuple[str, ...]
    email: str | None
    phone: str | None
    note: str | None
    shipping_address: dict[str, Any] | None
    ship_date: str | None
    lines: tuple[SourceLine, ...]
    # {sku: units} the retailer's LGL location is to ship in all, shipped or not (what the LGL
    # order's lines must add up to after edits and refunds), and whether the retailer put a
    # fulfillment order there on hold.
    assigned: tuple[tuple[str, int], ...] = ()
    held_at_retailer: bool = False
    # {sku: units} already fulfilled at that location (by anyone: at import, not by LGL).
    fulfilled: tuple[tuple[str, int], ...] = ()
    # At LGL's fulfillment service: (fulfillment order id, request status) of those requested
    # from it. A requested order is LGL's to ship whatever its financial status.
    requests: tuple[tuple[str, str | None], ...] = ()
    # How the customer gets the LGL items (the delivery method of the LGL location's shipped
    # fulfillment orders), the checkout's shipping line (title, code), and the delivery methods
    # of LGL-location fulfillment orders no warehouse ships (pickup, local delivery).
    delivery: DeliveryMethod | None = None
    shipping_line: tuple[str | None, str | None] | None = None
    not_shipped: tuple[str, ...] = ()

    @property
    def requested(self) -> bool:
        return bool(self.requests)

    def waiting(self, status: str = "SUBMITTED") -> list[str]:
        """Its fulfillment orders at LGL's service whose request status is ``status``."""
        return [fo_id for fo_id, request in self.requests if request == status]

    def units(self) -> dict[str, int]:
        """{sku: units} still to ship from the retailer's LGL location."""
        total: dict[str, int] = {}
        for line in self.lines:
            if line.sku:
                total[line.sku] = total.get(line.sku, 0) + line.quantity
        return total


@dataclass(frozen=True)
class LglVariant:
    id: str
    sku: str
    unit_cost: Decimal


@dataclass(frozen=True)
class Hold:
    """Why an order is not imported now: it stays for a person or a later run."""

    reason: str  # unknown_sku | ambiguous_sku | customer_data_redacted | too_many_lines
    detail: str


def numeric_id(gid: str) -> str:
    """``gid://shopify/Order/123`` -> ``123``."""
    return gid.rsplit("/", 1)[-1]


def source_identifier(retailer_id: str, order_id: str) -> str:
    """The LGL order's ``sourceIdentifier``: searchable, so a retry can find an earlier
    create (FACTS.md §4.1)."""
    return f"{retailer_id}:{numeric_id(order_id)}"


def order_number(name: str) -> str:
    """``#1001`` -> ``1001`` (the tag the old system used, kept for its orders)."""
    return re.sub(r"\D", "", name) or name


def search_query(since: datetime) -> str:
    """Shopify search for candidate orders. ``-tag:`` only trims the list: the index lags
    writes, so the ledger and the order's own tags decide (DESIGN.md)."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{PAID_SEARCH} -status:cancelled created_at:>='{stamp}' -tag:{IMPORTED_TAG}"


def changed_query(since: datetime) -> str:
    """Shopify search for orders changed since ``since`` (paid late, released, routed...)."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{PAID_SEARCH} -status:cancelled updated_at:>='{stamp}' -tag:{IMPORTED_TAG}"


def lgl_lines(
    fulfillment_orders: list[FulfillmentOrder], location_id: str
) -> tuple[SourceLine, ...]:
    """Lines to ship from fulfillment orders at the LGL location that are still open."""
    lines: dict[str, SourceLine] = {}
    for fo in fulfillment_orders:
        if fo.location_id != location_id or not fo.fulfillable or not fo.shipped_to_customer:
            continue
        for item in fo.lines:
            if item.remaining <= 0:
                continue
            earlier = lines.get(item.line_item_id)
            quantity = item.remaining + (earlier.quantity if earlier else 0)
            lines[item.line_item_id] = SourceLine(item.line_item_id, item.sku, quantity)
    return tuple(lines.values())


def assigned_units(
    fulfillment_orders: list[FulfillmentOrder], location_id: str
) -> tuple[tuple[str, int], ...]:
    """{sku: units} assigned to the LGL location, shipped or not, as sorted pairs.

    Per line item: the units on the location's fulfillment orders that are not cancelled
    (``totalQuantity``), never more than the line's ``currentQuantity`` (which leaves out
    refunded and removed units), so the sum is right whether or not Shopify also lowers a
    closed fulfillment order's total after an edit or a refund."""
    per_line: dict[str, list] = {}
    for fo in fulfillment_orders:
        if fo.location_id != location_id or fo.status == "CANCELLED" or not fo.shipped_to_customer:
            continue
        for item in fo.lines:
            if not item.line_item_id or not item.sku:
                continue
            entry = per_line.setdefault(item.line_item_id, [item.sku, 0, item.line_current])
            entry[1] += item.total
    units: dict[str, int] = {}
    for sku, total, current in per_line.values():
        units[sku] = units.get(sku, 0) + (total if current is None else min(total, current))
    return tuple(sorted((sku, n) for sku, n in units.items()))


def fulfilled_units(
    fulfillment_orders: list[FulfillmentOrder], location_id: str
) -> tuple[tuple[str, int], ...]:
    """{sku: units} already fulfilled at the LGL location, as sorted pairs. Read at import, it
    is what someone other than LGL shipped there before LGL had the order: the LGL order never
    ships it, however the order changes later."""
    units: dict[str, int] = {}
    for fo in fulfillment_orders:
        if fo.location_id != location_id or fo.status == "CANCELLED" or not fo.shipped_to_customer:
            continue
        for item in fo.lines:
            if item.sku and item.total > item.remaining:
                units[item.sku] = units.get(item.sku, 0) + item.total - item.remaining
    return tuple(sorted(units.items()))


def held_at(fulfillment_orders: list[FulfillmentOrder], location_id: str) -> bool:
    """Did the retailer put a fulfillment order at the LGL location on hold?"""
    return any(
        fo.location_id == location_id and fo.status == "ON_HOLD" for fo in fulfillment_orders
    )


def ineligibility(order: SourceOrder, since: datetime) -> str | None:
    """Why an order is not to be imported (None when it is): the rules of DESIGN.md."""
    if order.financial_status not in PAID and not order.requested:
        return "not_paid"
    if order.cancelled:
        return "cancelled"
    if order.created_at < since and not order.requested:  # a request is asked for at any age
        return "outside_lookback"
    if any(t.lower() == IMPORTED_TAG.lower() for t in order.tags):
        return "already_imported"
    if not order.lines:
        return "not_shipped" if order.not_shipped else "no_lgl_items"
    return None


def delivery_of(fulfillment_orders: list[FulfillmentOrder], location_id: str):
    """(the delivery method of the LGL location's shipped fulfillment orders, the methods of
    those no warehouse ships), open ones only."""
    at_lgl = [fo for fo in fulfillment_orders if fo.location_id == location_id and fo.fulfillable]
    shipped = next((fo.delivery for fo in at_lgl if fo.shipped_to_customer), None)
    others = tuple(sorted({fo.delivery.method_type for fo in at_lgl if not fo.shipped_to_customer}))
    return shipped, others


def ship_method(order: SourceOrder, retailer: Retailer, currency: str):
    """The LGL order's shipping line and delivery attributes: the service the customer chose,
    under LGL's name for it when the retailer's ``ship_methods`` maps it."""
    delivery = order.delivery
    title, code = order.shipping_line or (None, None)
    service = (delivery.presented_name if delivery else None) or title
    service_code = (delivery.service_code if delivery else None) or code
    mapping = retailer.ship_method_map()
    keys = [k.casefold() for k in (service_code, code, service, title) if k]
    lgl_service = next((mapping[k] for k in keys if k in mapping), None)
    line = None
    if lgl_service or service:
        line = {
            "title": lgl_service or service,
            "code": service_code or code or lgl_service or service,
            "source": "lgl-sync",
            "priceSet": {"shopMoney": {"amount": "0", "currencyCode": currency}},
        }
    attributes = {
        "delivery_service": service,
        "delivery_service_code": service_code,
        "deliver_by": delivery.deliver_by if delivery else None,
        "fulfill_by": delivery.fulfill_by if delivery else None,
    }
    return line, [{"key": k, "value": str(v)} for k, v in attributes.items() if v]


def split_eligible(
    candidates: list[SourceOrder], since: datetime, tracked: frozenset[str] = frozenset()
) -> tuple[list[SourceOrder], Counter]:
    """The candidates to import now, and how many of the others were left out for each reason.
    ``tracked`` orders (held or claimed when they were within reach) do not age out."""
    skipped: Counter = Counter()
    chosen = []
    for order in candidates:
        reason = ineligibility(
            order, datetime.min.replace(tzinfo=since.tzinfo) if order.id in tracked else since
        )
        if reason:
            skipped[reason] += 1
        else:
            chosen.append(order)
    return chosen, skipped


def sku_search(skus: list[str]) -> str:
    """An exact-field search for several SKUs (``sku:"A" OR sku:"B"``); the caller still
    compares SKUs exactly, because Shopify's search tokenises."""
    quoted = ('sku:"{}"'.format(s.replace("\\", "\\\\").replace('"', '\\"')) for s in skus)
    return " OR ".join(quoted)


def map_lines(
    order: SourceOrder, variants: dict[str, list[LglVariant]]
) -> tuple[list[tuple[SourceLine, LglVariant]], Hold | None]:
    """Each line to the LGL variant with exactly its SKU; any unmappable line holds the
    whole order (never a partial import)."""
    unknown = sorted(
        {
            line.sku or "(no SKU)"
            for line in order.lines
            if not line.sku or not variants.get(line.sku)
        }
    )
    if unknown:
        return [], Hold("unknown_sku", ", ".join(unknown))
    ambiguous = sorted({line.sku for line in order.lines if len(variants[line.sku]) > 1})
    if ambiguous:
        return [], Hold("ambiguous_sku", ", ".join(ambiguous))
    if not order.shipping_address:
        return [], Hold(
            "customer_data_redacted",
            "Shopify returned no shipping address: the app may lack protected customer data "
            "access (Dev Dashboard: API access, protected customer data), or the order has none",
        )
    if len(order.lines) > MAX_LINES:
        return [], Hold(
            "too_many_lines", f"{len(order.lines)} LGL lines; Shopify takes {MAX_LINES} per order"
        )
    return [(line, variants[line.sku][0]) for line in order.lines], None


def address_fingerprint(source: dict[str, Any] | None) -> str:
    """A digest of the shipping address as the LGL order gets it: equal digests, same address."""
    wanted = json.dumps(shipping_address_input(source), sort_keys=True)
    return hashlib.sha256(wanted.encode()).hexdigest()[:32]


def shipping_address_input(source: dict[str, Any] | None) -> dict[str, Any] | None:
    """A retailer order's shipping address as a MailingAddressInput."""
    return _address(source)


def _address(source: dict[str, Any] | None) -> dict[str, Any] | None:
    if not source:
        return None
    fields = (
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
        "phone",
    )
    address = {k: source[k] for k in fields if source.get(k)}
    if source.get("countryCodeV2"):
        address["countryCode"] = str(source["countryCodeV2"]).upper()
    return address


def billing_address(retailer: Retailer) -> dict[str, Any] | None:
    values = {
        "firstName": retailer.billing_first_name,
        "lastName": retailer.billing_last_name,
        "phone": retailer.billing_phone,
        "address1": retailer.billing_address1,
        "address2": retailer.billing_address2,
        "city": retailer.billing_city,
        "province": retailer.billing_province,
        "zip": retailer.billing_zip,
    }
    country = (retailer.billing_country or "").strip()
    if country:  # CountryCode values are upper case ("us" is refused)
        values["countryCode" if len(country) == 2 else "country"] = (
            country.upper() if len(country) == 2 else country
        )
    address = {k: v for k, v in values.items() if v}
    return address or None


def order_attributes(order: SourceOrder, today: date) -> list[dict[str, str]]:
    """The LGL order's attributes from the source order: its number and ship date, and its
    financial status when it was requested from LGL's service before payment."""
    attributes = [
        {"key": "order_number", "value": order.name},
        {"key": "__flare_ship_date", "value": order.ship_date or today.isoformat()},
    ]
    if order.financial_status not in PAID:
        attributes.append(
            {"key": "retailer_financial_status", "value": order.financial_status or "UNKNOWN"}
        )
    return attributes


def build_order_input(
    order: SourceOrder,
    mapped: list[tuple[SourceLine, LglVariant]],
    retailer: Retailer,
    currency: str,
    today: date,
) -> dict[str, Any]:
    """The ``orderCreate`` input for an order (DESIGN.md: addresses, tags, attributes)."""
    tags = [f"imported-from-{retailer.id}", order_number(order.name)]
    if retailer.custom_include_tags:
        tags += [t for t in order.tags if t not in tags]
    shipping_line, delivery_attributes = ship_method(order, retailer, currency)
    payload: dict[str, Any] = {
        "lineItems": [
            {
                "variantId": variant.id,
                "quantity": line.quantity,
                "priceSet": {
                    "shopMoney": {"amount": str(variant.unit_cost), "currencyCode": currency}
                },
            }
            for line, variant in mapped
        ],
        "email": retailer.billing_email,
        "billingAddress": billing_address(retailer),
        "shippingAddress": _address(order.shipping_address),
        "tags": tags,
        "customAttributes": order_attributes(order, today) + delivery_attributes,
        "shippingLines": [shipping_line] if shipping_line else None,
        "financialStatus": "PAID",
        "currency": currency,
        "sourceIdentifier": source_identifier(retailer.id, order.id),
        "metafields": [
            {
                "namespace": CUSTOM_ID[0],
                "key": CUSTOM_ID[1],
                "type": "id",
                "value": source_identifier(retailer.id, order.id),
            }
        ],
    }
    if retailer.custom_include_note and order.note:
        payload["note"] = order.note
    return {k: v for k, v in payload.items() if v is not None}


ORDER_OPTIONS = {
    "inventoryBehaviour": "DECREMENT_IGNORING_POLICY",
    "sendReceipt": False,
    "sendFulfillmentReceipt": False,
}


@dataclass(frozen=True)
class EligibleOrder:
    """An order with every line mapped to its LGL variant."""

    order: SourceOrder
    lines: list[tuple[SourceLine, LglVariant]]


# -- input Shopify refuses at orderCreate --------------------------------------------------------

# Calling codes and trunk prefixes of the countries LGL's retailers sell to most: a national
# number there becomes E.164. Elsewhere only a number already international is kept.
CALLING_CODES = {"US": "1", "CA": "1", "GB": "44", "AU": "61", "NZ": "64", "IE": "353",
                 "DE": "49", "FR": "33", "NL": "31", "ES": "34", "IT": "39"}  # fmt: skip
_PHONE_FIELDS = {
    ("order", "phone"): (),
    ("order", "shippingAddress", "phone"): ("shippingAddress",),
    ("order", "billingAddress", "phone"): ("billingAddress",),
}


def e164(raw: str | None, country: str | None) -> str | None:
    """``raw`` as an E.164 number (+ and 8 to 15 digits), or None when it cannot be one."""
    if not raw:
        return None
    text = raw.strip()
    digits = re.sub(r"\D", "", text.split("ext")[0].split("x")[0])
    if text.startswith("00"):
        text, digits = "+" + digits[2:], digits[2:]
    code = CALLING_CODES.get((country or "").upper())
    if text.startswith("+") or (code == "1" and len(digits) == 11 and digits.startswith("1")):
        number = digits
    elif code == "1" and len(digits) == 10:
        number = "1" + digits
    elif code and digits.startswith("0") and len(digits) > 6:
        number = code + digits[1:]
    else:
        return None
    return "+" + number if re.fullmatch(r"[1-9]\d{7,14}", number) else None


def rejected_fields(user_errors: list[dict[str, Any]]) -> list[str]:
    """The fields Shopify refused, dotted and without ``order.`` (``shippingAddress.zip``)."""
    fields = []
    for error in user_errors:
        path = [str(p) for p in error.get("field") or []]
        fields.append(".".join(path[1:] if path[:1] == ["order"] else path) or "order")
    return fields


def repaired_input(payload: dict[str, Any], user_errors: list[dict[str, Any]]):
    """The orderCreate input with every refused phone normalised to E.164, or dropped when it
    cannot be; None when Shopify refused anything else (nothing to repair: hold the order)."""
    paths = [tuple(str(p) for p in e.get("field") or ()) for e in user_errors]
    if not paths or any(p not in _PHONE_FIELDS for p in paths):
        return None
    repaired = json.loads(json.dumps(payload))
    for path in paths:
        holder = repaired
        for key in _PHONE_FIELDS[path]:
            holder = holder.get(key) or {}
        address = repaired.get("shippingAddress") or {}
        country = holder.get("countryCode") or address.get("countryCode")
        number = e164(holder.get("phone"), country)
        if number and number != holder.get("phone"):
            holder["phone"] = number
        else:
            holder.pop("phone", None)
    return repaired
