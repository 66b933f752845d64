"""The sandbox behaves like Shopify's Admin GraphQL API where LGL Sync depends on it.

Contract (FACTS.md §1-§5, §8): cursor pagination returns every record once; search filters
select exactly the matching records; query cost, the leaky bucket and THROTTLED follow Shopify's
numbers and shapes; inventory compare-and-set and idempotency keys work as in 2026-10; bulk
results equal a paginated read; fulfillments respect fulfillment-order quantities; and every
fault kind happens as configured. Assertions read raw HTTP responses and the stores' state.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from shopify_sandbox.models import gid

RETAILER = "nationwide-plants"
ORDER_IDS = """query Page($after: String, $q: String, $reverse: Boolean) {
  orders(first: 250, after: $after, query: $q, reverse: $reverse, sortKey: CREATED_AT) {
    nodes { id } pageInfo { hasNextPage endCursor } } }"""


def _ids(sandbox, handle: str, query: str | None = None, reverse: bool = False) -> list[str]:
    ids, after, pages = [], None, 0
    while True:
        body = sandbox.raw(handle, ORDER_IDS, {"after": after, "q": query, "reverse": reverse})
        page = body.json()["data"]["orders"]
        ids += [n["id"] for n in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


def _add_orders(store, count: int, **attributes) -> list:
    variant = next(iter(store.variants.values()))
    return [
        store.create_order(lines=[{"variant_id": variant.id, "quantity": 1}], **attributes)
        for _ in range(count)
    ]


# -- pagination ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_pagination_returns_every_order_exactly_once_over_250_item_pages(sandbox, reverse):
    store = sandbox.store(RETAILER)
    _add_orders(store, 600)
    ids = _ids(sandbox, RETAILER, reverse=reverse)
    assert len(ids) == len(set(ids)) == len(store.orders)
    assert len(ids) > 500  # three pages at least


def test_first_over_250_is_refused_and_first_is_required(sandbox):
    too_big = sandbox.raw(RETAILER, "{ orders(first: 251) { nodes { id } } }").json()
    assert "data" not in too_big and "251" in too_big["errors"][0]["message"]
    missing = sandbox.raw(RETAILER, "{ orders { nodes { id } } }").json()
    assert missing["data"] is None and "first or last" in missing["errors"][0]["message"]


# -- search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(sandbox):
    store = sandbox.store(RETAILER)
    store.orders.clear()
    now = store.now()
    old = now - timedelta(hours=48)
    made = {
        "paid_new": _add_orders(store, 3, financial_status="PAID", tags=["wholesale"]),
        "paid_old": _add_orders(store, 2, financial_status="PAID", created_at=old),
        "pending": _add_orders(store, 2, financial_status="PENDING", tags=["vip"]),
        "imported": _add_orders(
            store,
            2,
            financial_status="PAID",
            tags=["imported-to-LGL"],
            source_identifier="nationwide-plants:42",
        ),
        "cancelled": _add_orders(store, 1, financial_status="PAID"),
    }
    store.cancel_order(made["cancelled"][0], restock=False)
    return store, made, (now - timedelta(hours=6)).isoformat().replace("+00:00", "Z")


def _names(*groups):
    return lambda made: {o.id for g in groups for o in made[g]}


SEARCH_CASES = [
    # paid, any age or state
    ("financial_status:paid", _names("paid_new", "paid_old", "imported", "cancelled")),
    # the import filter: paid, open, recent, not yet tagged
    (
        "financial_status:paid status:open created_at:>='{cutoff}' -tag:imported-to-LGL",
        _names("paid_new"),
    ),
    # explicit NOT and AND spellings of the same filter
    (
        "financial_status:paid AND NOT status:cancelled AND NOT tag:imported-to-LGL",
        _names("paid_new", "paid_old"),
    ),
    ("tag_not:imported-to-LGL financial_status:paid status:open", _names("paid_new", "paid_old")),
    ("tag:wholesale OR tag:vip", _names("paid_new", "pending")),
    ("(tag:wholesale OR tag:vip) financial_status:pending", _names("pending")),
    ("status:cancelled", _names("cancelled")),
    ("created_at:<'{cutoff}'", _names("paid_old")),
    ("source_identifier:'nationwide-plants:42'", _names("imported")),
    ("tag:IMPORTED-TO-lgl", _names("imported")),  # tags match case-insensitively
]


@pytest.mark.parametrize(("query", "expected"), SEARCH_CASES)
def test_search_filters_select_exactly_the_matching_orders(sandbox, searchable, query, expected):
    _, made, cutoff = searchable
    found = {int(i.rsplit("/", 1)[1]) for i in _ids(sandbox, RETAILER, query.format(cutoff=cutoff))}
    assert found == expected(made)


def test_product_variant_sku_filter_is_exact_not_fuzzy(sandbox):
    store = sandbox.store("lgl")
    store.add_product("Twin", [{"sku": "ABC-1", "price": "1"}, {"sku": "ABC-10", "price": "1"}])
    query = '{ productVariants(first: 10, query: "sku:ABC-1") { nodes { sku } } }'
    skus = [n["sku"] for n in sandbox.raw("lgl", query).json()["data"]["productVariants"]["nodes"]]
    assert skus == ["ABC-1"]


SKU_QUERIES = [
    "sku:ABC-1",
    "sku:abc-1",  # SKUs match case-insensitively
    "sku:'ABC-10'",
    "sku:ABC-1 title:Large",
    "sku:ABC-1 OR sku:ABC-10",
    "sku:ABC*",
    "-sku:ABC-1",
    "sku:NOPE",
]


@pytest.mark.parametrize("query", SKU_QUERIES)
@pytest.mark.parametrize("root", ["productVariants", "inventoryItems"])
def test_sku_lookups_through_the_sku_index_equal_a_full_scan(sandbox, query, root):
    from shopify_sandbox.search import index_document, matches, parse

    store = sandbox.store("lgl")
    store.add_product("Twin", [{"sku": "ABC-1", "price": "1"}, {"sku": "ABC-10", "price": "1"}])
    store.add_product("Big", [{"sku": "ABC-1", "price": "2", "title": "Large"}])
    body = sandbox.raw("lgl", f'{{ {root}(first: 250, query: "{query}") {{ nodes {{ id }} }} }}')
    found = {n["id"] for n in body.json()["data"][root]["nodes"]}
    records = store.variants if root == "productVariants" else store.inventory_items
    tree = parse(query)
    scanned = {
        gid(r.gid_type, r.id)
        for r in records.values()
        if matches(tree, index_document(store, r), [])
    }
    assert found == scanned
    assert ("NOPE" in query) == (not found)


# -- cost and throttle --------------------------------------------------------------------------

COSTLY = "{ orders(first: 50) { nodes { id lineItems(first: 15) { nodes { sku } } } } }"


def test_requested_cost_follows_shopifys_formula(sandbox):
    cost = sandbox.raw(RETAILER, COSTLY).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 50 * (1 + 2 + 15)  # FACTS.md §1.2: 902
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0


def test_actual_cost_counts_what_was_returned_and_is_refunded(sandbox):
    store = sandbox.store(RETAILER)
    store.orders.clear()
    _add_orders(store, 3)
    cost = sandbox.raw(RETAILER, COSTLY).json()["extensions"]["cost"]
    assert cost["actualQueryCost"] == 2 + 3 * (1 + 2 + 1)
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000 - cost["actualQueryCost"]


def test_mutation_costs_ten(sandbox):
    order = next(iter(sandbox.store(RETAILER).orders.values()))
    mutation = f'mutation {{ tagsAdd(id: "{gid("Order", order.id)}", tags: ["x"]) {{ userErrors '
    body = sandbox.raw(RETAILER, mutation + "{ message } } }").json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10


def test_query_over_max_cost_is_refused_like_shopify(sandbox):
    body = sandbox.raw(
        RETAILER, "{ orders(first: 250) { nodes { lineItems(first: 50) { nodes { sku } } } } }"
    ).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == 2 + 250 * 53 and error["extensions"]["maxCost"] == 1000


def test_plan_sets_bucket_size_and_restore_rate(sandbox):
    sandbox.store(RETAILER).bucket.set_plan("plus")
    status = sandbox.raw(RETAILER, "{ shop { id } }").json()["extensions"]["cost"]
    assert status["throttleStatus"]["maximumAvailable"] == 20000.0
    assert status["throttleStatus"]["restoreRate"] == 1000.0


def test_throttled_when_bucket_is_short_then_recovers_after_refill(sandbox):
    store = sandbox.store(RETAILER)
    store.bucket.drain(1990)
    throttled = sandbox.raw(RETAILER, COSTLY)
    body = throttled.json()
    assert throttled.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["requestedQueryCost"] == 902
    assert "data" not in body
    sandbox.clock.advance((902 - 10) / 100 + 0.5)
    assert "data" in sandbox.raw(RETAILER, COSTLY).json()
    assert store.usage.throttled == 1


# -- inventory: compare-and-set and idempotency ---------------------------------------------------

SET = """mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } }
    userErrors { field message code } } }"""
ADJUST = """mutation Adjust($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id } userErrors { field message code } } }"""


def _levels(store, count=2):
    location = store.primary_location_id
    items = [i for i in store.inventory_items.values() if location in i.levels][:count]
    return [i.levels[location] for i in items]


def _set_input(levels, quantities, change_from):
    return {
        "name": "available",
        "reason": "correction",
        "quantities": [
            {
                "inventoryItemId": gid("InventoryItem", lv.item_id),
                "locationId": gid("Location", lv.location_id),
                "quantity": q,
                "changeFromQuantity": c,
            }
            for lv, q, c in zip(levels, quantities, change_from, strict=True)
        ],
    }


def test_stale_change_from_quantity_rejects_the_whole_call(sandbox):
    store = sandbox.store("lgl")
    first, second = _levels(store)
    before = (first.quantities["available"], second.quantities["available"])
    variables = {
        "input": _set_input([first, second], [7, 9], [before[0], before[1] + 1]),
        "key": "k-stale",
    }
    payload = sandbox.raw("lgl", SET, variables).json()["data"]["inventorySetQuantities"]
    assert payload["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    assert payload["userErrors"][0]["field"] == ["input", "quantities", "1", "changeFromQuantity"]
    assert (first.quantities["available"], second.quantities["available"]) == before


def test_matching_change_from_quantity_applies_and_null_skips_the_check(sandbox):
    store = sandbox.store("lgl")
    first, second = _levels(store)
    variables = {
        "input": _set_input([first, second], [7, 9], [first.quantities["available"], None]),
        "key": "k-ok",
    }
    payload = sandbox.raw("lgl", SET, variables).json()["data"]["inventorySetQuantities"]
    assert payload["userErrors"] == []
    assert (first.quantities["available"], second.quantities["available"]) == (7, 9)


def test_change_from_quantity_and_idempotent_are_mandatory_in_2026_10(sandbox):
    store = sandbox.store("lgl")
    (level,) = _levels(store, 1)
    missing = _set_input([level], [3], [0])
    del missing["quantities"][0]["changeFromQuantity"]
    payload = sandbox.raw("lgl", SET, {"input": missing, "key": "k-missing"}).json()
    assert (
        payload["data"]["inventorySetQuantities"]["userErrors"][0]["code"]
        == "COMPARE_QUANTITY_REQUIRED"
    )
    no_key = SET.replace(" @idempotent(key: $key)", "").replace(", $key: String!", "")
    body = sandbox.raw("lgl", no_key, {"input": _set_input([level], [3], [None])}).json()
    assert "@idempotent" in body["errors"][0]["message"]


def test_replayed_idempotency_key_returns_first_result_without_a_second_write(sandbox):
    store = sandbox.store("lgl")
    (level,) = _levels(store, 1)
    start = level.quantities["available"]
    change = {
        "name": "available",
        "reason": "correction",
        "changes": [
            {
                "inventoryItemId": gid("InventoryItem", level.item_id),
                "locationId": gid("Location", level.location_id),
                "delta": 5,
            }
        ],
    }
    first = sandbox.raw("lgl", ADJUST, {"input": change, "key": "k-replay"}).json()
    again = sandbox.raw("lgl", ADJUST, {"input": change, "key": "k-replay"}).json()
    group = first["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["id"]
    assert again["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["id"] == group
    assert level.quantities["available"] == start + 5
    change["changes"][0]["delta"] = 6
    other = sandbox.raw("lgl", ADJUST, {"input": change, "key": "k-replay"}).json()
    errors = other["data"]["inventoryAdjustQuantities"]["userErrors"]
    assert errors[0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert level.quantities["available"] == start + 5


def test_input_arrays_over_250_items_are_refused(sandbox):
    store = sandbox.store("lgl")
    level = _levels(store, 1)[0]
    item = {
        "inventoryItemId": gid("InventoryItem", level.item_id),
        "locationId": gid("Location", level.location_id),
        "quantity": 1,
        "changeFromQuantity": None,
    }
    variables = {
        "input": {"name": "available", "reason": "correction", "quantities": [item] * 251},
        "key": "k-big",
    }
    body = sandbox.raw("lgl", SET, variables).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
