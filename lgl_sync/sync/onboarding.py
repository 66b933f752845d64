"""Checking a retailer against its live store before LGL Sync relies on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lgl_sync import settings
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient, raise_user_errors
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.shopify.models import FULFILLMENT_SERVICE, MERCHANT_MANAGED
from lgl_sync.shopify.scopes import FLOW_OPERATIONS, LGL, RETAILER, describe, flow_missing
from lgl_sync.sync.inventory.reads import ITEMS_PER_PAGE

# FACTS.md §9: without read_all_orders a token reads only the last 60 days of orders.
OLD_ORDERS = (
    "{store} token lacks read_all_orders: an order placed more than 60 days before it ships "
    "(a backorder, a pre-order) cannot be read, so its tracking cannot be pushed"
)


@dataclass
class OnboardingReport:
    """What ``lgl-sync retailer validate`` found: problems block, notes inform."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retailer_skus: int = 0
    covered_skus: int = 0
    missing_skus: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def skus_at_location(client: ShopifyClient, location_id: str) -> set[str]:
    """SKUs of the inventory items stocked at a location."""
    items = client.paginate(
        "InventoryItems",
        {"locationId": location_id},
        path="inventoryItems",
        page_size=ITEMS_PER_PAGE,
    )
    return {i["sku"] for i in items if i.get("sku") and i.get("inventoryLevel")}


def store_skus(client: ShopifyClient) -> set[str]:
    """Every SKU of a store's inventory items."""
    return {
        i["sku"]
        for i in client.paginate("InventoryItemSkus", path="inventoryItems")
        if i.get("sku")
    }


def _scopes(client: ShopifyClient) -> set[str]:
    return {
        s["handle"] for s in client.query("AccessScopes")["currentAppInstallation"]["accessScopes"]
    }


def _check_retailer_store(retailer: Retailer, store: ShopifyClient, report: OnboardingReport):
    scopes = _scopes(store)
    model = retailer.location_model
    for flow in FLOW_OPERATIONS:
        lacking = flow_missing(flow, RETAILER, scopes, model) if getattr(retailer, flow) else {}
        if lacking:
            report.problems.append(f"{flow} is enabled but the token lacks {describe(lacking)}")
    if retailer.push_fulfillments and "read_all_orders" not in scopes:
        report.warnings.append(OLD_ORDERS.format(store="the retailer's"))
    longest = max(retailer.lookback_hours, retailer.fulfillment_lookback_hours)
    if longest > 60 * 24 and "read_all_orders" not in scopes:
        report.problems.append(
            f"a lookback of {longest} hours reaches orders older than 60 days, which the "
            "token cannot read without read_all_orders: grant it or shorten the lookback"
        )
    if retailer.target_location_id:
        location = store.query("Location", {"id": retailer.target_location_id})["location"]
        if location is None:
            report.problems.append(
                f"target_location_id {retailer.target_location_id} is not a location of the "
                "retailer's store"
            )
        else:
            report.notes.append(f"target location: {location['name']} ({model})")
            report.problems += location_problems(retailer, location)
            if model == FULFILLMENT_SERVICE and not report.problems:
                _probe_requests(retailer, store, report)


def location_problems(retailer: Retailer, location: dict) -> list[str]:
    """Does the target location's kind match the retailer's location model? (FACTS.md §7)"""
    service = location.get("fulfillmentService") or {}
    is_service = bool(location.get("isFulfillmentService") or service)
    ours = settings.fulfillment_service_handle()
    if retailer.location_model == MERCHANT_MANAGED and is_service:
        owner = service.get("serviceName") or "a fulfillment service"
        return [
            f"target location {location['name']} belongs to {owner}: orders there arrive as "
            "fulfillment requests. Set location_model: fulfillment_service if it is LGL's "
            f"service ({ours}), or choose an ordinary location"
        ]
    if retailer.location_model == FULFILLMENT_SERVICE and not is_service:
        return [
            f"target location {location['name']} is an ordinary location, not LGL's "
            "fulfillment service: set location_model: merchant_managed, or run "
            f"`lgl-sync retailer connect {retailer.id} --location-model fulfillment_service`"
        ]
    if retailer.location_model == FULFILLMENT_SERVICE and service.get("handle") != ours:
        return [
            f"target location {location['name']} belongs to the fulfillment service "
            f"{service.get('serviceName') or service.get('handle')!r}, not LGL's ({ours}): "
            "since 2024-10 an app cannot fulfil orders assigned to another app's service"
        ]
    return []


def _probe_requests(retailer: Retailer, store: ShopifyClient, report: OnboardingReport):
    """Fulfillment orders at LGL's service are visible to the token: one page of them read."""
    found = store.query(
        "AssignedFulfillmentOrders",
        {"first": 5, "status": None, "locationIds": [retailer.target_location_id]},
    )["assignedFulfillmentOrders"]["nodes"]
    report.notes.append(f"fulfillment orders visible at LGL's service: {len(found)} (first page)")


def _check_lgl_store(retailer: Retailer, lgl: ShopifyClient, report: OnboardingReport):
    lgl.query("Shop")
    scopes = _scopes(lgl)
    for flow in FLOW_OPERATIONS:
        lacking = flow_missing(flow, LGL, scopes) if getattr(retailer, flow) else {}
        if lacking:
            report.problems.append(
                f"{flow} is enabled but the LGL store's token lacks {describe(lacking)}"
            )
    if retailer.push_fulfillments and "read_all_orders" not in scopes:
        report.warnings.append(OLD_ORDERS.format(store="the LGL store's"))
    if (
        retailer.lgl_location_id
        and lgl.query("Location", {"id": retailer.lgl_location_id})["location"] is None
    ):
        report.problems.append(
            f"lgl_location_id {retailer.lgl_location_id} is not a location of the LGL store"
        )


def check_retailer(
    retailer: Retailer, store: ShopifyClient, lgl: ShopifyClient
) -> OnboardingReport:
    """Token and scopes, locations, LGL reachability and SKU coverage."""
    report = OnboardingReport(problems=retailer.onboarding_problems())
    for where, check, client in (
        ("retailer store", _check_retailer_store, store),
        ("LGL store", _check_lgl_store, lgl),
    ):
        try:
            check(retailer, client, report)
        except ShopifyError as exc:
            report.problems.append(f"{where}: {exc}")
            return report
    if retailer.target_location_id and not report.problems:
        theirs = skus_at_location(store, retailer.target_location_id)
        ours = store_skus(lgl)
        report.retailer_skus = len(theirs)
        report.covered_skus = len(theirs & ours)
        report.missing_skus = sorted(theirs - ours)
    return report


def ensure_fulfillment_service(store: ShopifyClient) -> tuple[str, bool]:
    """LGL's fulfillment service in a retailer's store: found by its handle among the store's
    locations (every page, fulfillment services' "legacy" locations included), else created
    (no callback URL: LGL polls its requests). Returns (its location id, created)."""
    handle = settings.fulfillment_service_handle()
    for location in store.paginate("LocationsWithServices", path="locations", page_size=100):
        if (location.get("fulfillmentService") or {}).get("handle") == handle:
            return location["id"], False
    data = store.mutate(
        "FulfillmentServiceCreate",
        {"name": settings.fulfillment_service_name(), "inventoryManagement": True},
        idempotent=False,
    )
    created = raise_user_errors(data, "fulfillmentServiceCreate")["fulfillmentService"]
    return created["location"]["id"], True
