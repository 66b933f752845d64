"""Sandbox operations beyond reads: bulk operations, orders and fulfillments, faults, the CLI.

Contract: a bulk operation's JSONL holds exactly what a paginated read returns, flattened with
``__parentId``; fulfillments respect fulfillment-order quantities and move statuses as Shopify
does; every fault kind (5xx, timeout, drop, THROTTLED, 429, apply-then-fail, search lag, the
development-store order limit) happens as configured and only then; `lgl-sync sandbox` serves
the default scenario and prints each store's URL and token.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import gid

from lgl_sync.shopify.documents import document

RETAILER = "nationwide-plants"
RUN_BULK = """mutation Run($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) {
  bulkOperation { id status } userErrors { field message code } } }"""
POLL = "query Poll($id: ID!) { bulkOperation(id: $id) { status objectCount url errorCode } }"
PAGE = """query Page($after: String, $loc: ID!) { inventoryItems(first: 250, after: $after) {
  nodes { id sku inventoryLevel(locationId: $loc) { quantities(names: ["available"]) {
  quantity } } } pageInfo { hasNextPage endCursor } } }"""


def _run_bulk(sandbox, handle: str, query: str) -> dict:
    started = sandbox.raw(handle, RUN_BULK, {"q": query}).json()["data"]["bulkOperationRunQuery"]
    assert started["userErrors"] == []
    for _ in range(200):
        status = sandbox.raw(handle, POLL, {"id": started["bulkOperation"]["id"]}).json()
        op = status["data"]["bulkOperation"]
        if op["status"] not in ("CREATED", "RUNNING"):
            return op
        time.sleep(0.1)
    raise AssertionError("bulk operation never finished")


def test_bulk_jsonl_matches_a_paginated_read(sandbox):
    sandbox.clock.set_speed(50)
    store = sandbox.store("lgl")
    location = gid("Location", store.primary_location_id)
    paged, after = {}, None
    while True:
        page = sandbox.raw("lgl", PAGE, {"after": after, "loc": location}).json()
        conn = page["data"]["inventoryItems"]
        for node in conn["nodes"]:
            paged[node["id"]] = (node["sku"], node["inventoryLevel"]["quantities"][0]["quantity"])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    op = _run_bulk(sandbox, "lgl", document("InventoryLevelsBulk"))
    assert op["status"] == "COMPLETED"
    lines = [json.loads(line) for line in requests.get(op["url"], timeout=10).text.splitlines()]
    assert op["objectCount"] == len(lines)
    items = {obj["id"]: obj for obj in lines if "__parentId" not in obj}
    levels = [obj for obj in lines if "__parentId" in obj]
    from_bulk = {
        lv["__parentId"]: (items[lv["__parentId"]]["sku"], lv["quantities"][0]["quantity"])
        for lv in levels
        if lv["location"]["id"] == location
    }
    assert from_bulk == paged and len(paged) == len(store.inventory_items)
    # groupObjects: false — every root line comes before the first child line.
    first_child = next(i for i, obj in enumerate(lines) if "__parentId" in obj)
    assert all("__parentId" in obj for obj in lines[first_child:])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ shop { id } }", "at least one connection"),  # no connection
        ('{ node(id: "gid://shopify/Order/1") { id } }', "top level"),  # top-level node
        (
            "{ orders { edges { node { id lineItems { edges { node { id } } } fulfillmentOrders { "
            "edges { node { lineItems { edges { node { id } } } } } } } } } }",
            "nesting",
        ),  # 3 levels
    ],
)
def test_bulk_query_restrictions_are_enforced(sandbox, query, message):
    payload = sandbox.raw("lgl", RUN_BULK, {"q": query}).json()["data"]["bulkOperationRunQuery"]
    assert message in payload["userErrors"][0]["message"]


def test_at_most_five_bulk_queries_run_at_once(sandbox):
    sandbox.clock.set_speed(0.01)  # keep them running
    codes = []
    for _ in range(6):
        payload = sandbox.raw("lgl", RUN_BULK, {"q": document("InventoryLevelsBulk")}).json()
        codes.append([e["code"] for e in payload["data"]["bulkOperationRunQuery"]["userErrors"]])
    assert codes == [[], [], [], [], [], ["LIMIT_REACHED"]]


# -- orders and fulfillments --------------------------------------------------------------------

CREATE = """mutation Create($order: OrderCreateOrderInput!) { orderCreate(order: $order,
  options: {inventoryBehaviour: DECREMENT_IGNORING_POLICY}) { order { id fulfillmentOrders(first: 5)
  { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } } } }
  userErrors { field message code } } }"""
FULFILL = """mutation Fulfill($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
  fulfillment { id status trackingInfo { company number url } } userErrors { field message } } }"""


def _create_lgl_order(sandbox, quantity=5):
    store = sandbox.store("lgl")
    variant = next(iter(store.variants.values()))
    order = {
        "lineItems": [{"variantId": gid("ProductVariant", variant.id), "quantity": quantity}],
        "financialStatus": "PAID",
        "sourceIdentifier": "test:1",
        "tags": ["a", "b"],
    }
    payload = sandbox.raw("lgl", CREATE, {"order": order}).json()["data"]["orderCreate"]
    assert payload["userErrors"] == []
    return store, variant, payload["order"]


def test_order_create_makes_fulfillment_orders_and_decrements_stock(sandbox):
    store = sandbox.store("lgl")
    variant = next(iter(store.variants.values()))
    level = store.inventory_items[variant.inventory_item_id].levels[store.primary_location_id]
    before = level.quantities["available"]
    _, _, order = _create_lgl_order(sandbox, quantity=5)
    fo = order["fulfillmentOrders"]["nodes"][0]
    assert fo["status"] == "OPEN" and fo["lineItems"]["nodes"][0]["remainingQuantity"] == 5
    assert level.quantities["available"] == before - 5


LEVEL = """
query($id: ID!, $location: ID!) {
  nodes(ids: [$id]) {
    ... on InventoryItem {
      inventoryLevel(locationId: $location) {
        quantities(names: ["available", "committed", "on_hand"]) { name quantity }
      }
    }
  }
}
"""


def test_inventory_states_follow_an_order_through_fulfillment_and_cancellation(sandbox):
    """Placed: available -> committed; fulfilled: off committed and on_hand; cancelled with
    restock: committed -> available. Read by id, current while search lags."""
    store = sandbox.store("lgl")
    store.search_lag = 600
    variant = next(iter(store.variants.values()))
    location = store.primary_location_id
    item = store.inventory_items[variant.inventory_item_id]

    def states() -> dict[str, int]:
        data = sandbox.raw(
            "lgl",
            LEVEL,
            {"id": gid("InventoryItem", item.id), "location": gid("Location", location)},
        ).json()["data"]["nodes"][0]["inventoryLevel"]["quantities"]
        return {q["name"]: q["quantity"] for q in data}

    start = states()
    shipped = store.create_order(
        lines=[{"variant_id": variant.id, "quantity": 3}], decrement_inventory=True
    )
    cancelled = store.create_order(
        lines=[{"variant_id": variant.id, "quantity": 2}], decrement_inventory=True
    )
    placed = states()
    assert placed == {
        "available": start["available"] - 5,
        "committed": start["committed"] + 5,
        "on_hand": start["on_hand"],
    }
    search = '{ orders(first: 10, query: "financial_status:paid") { nodes { id } } }'
    listed = sandbox.raw("lgl", search).json()["data"]["orders"]["nodes"]
    assert gid("Order", shipped.id) not in [n["id"] for n in listed]  # search lags; levels do not
    fo = store.fulfillment_orders[shipped.fulfillment_order_ids[0]]
    store.create_fulfillment([(fo, None)], [], False)
    store.cancel_order(cancelled, restock=True)
    assert states() == {
        "available": start["available"] - 3,
        "committed": start["committed"],
        "on_hand": start["on_hand"] - 3,
    }


def test_partial_fulfillments_respect_remaining_quantities(sandbox):
    store, _, order = _create_lgl_order(sandbox, quantity=5)
    fo = order["fulfillmentOrders"]["nodes"][0]
    line = fo["lineItems"]["nodes"][0]["id"]

    def fulfill(quantity, tracking):
        f = {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": fo["id"],
                    "fulfillmentOrderLineItems": [{"id": line, "quantity": quantity}],
                }
            ],
            "trackingInfo": tracking,
            "notifyCustomer": True,
        }
        return sandbox.raw("lgl", FULFILL, {"f": f}).json()["data"]["fulfillmentCreate"]

    first = fulfill(2, {"company": "UPS", "numbers": ["1Z1", "1Z2"]})
    assert [t["number"] for t in first["fulfillment"]["trackingInfo"]] == ["1Z1", "1Z2"]
    assert first["fulfillment"]["trackingInfo"][0]["url"].endswith("1Z1")
    record = store.orders[int(order["id"].rsplit("/", 1)[1])]
    assert store.fulfillment_orders[record.fulfillment_order_ids[0]].status == "IN_PROGRESS"
    assert store.fulfillment_status(record) == "PARTIALLY_FULFILLED"
    too_many = fulfill(4, {"number": "X"})
    assert too_many["fulfillment"] is None and too_many["userErrors"]
    fulfill(3, {"company": "Other", "number": "9", "url": "https://t.example/9"})
    assert store.fulfillment_orders[record.fulfillment_order_ids[0]].status == "CLOSED"
    assert store.fulfillment_status(record) == "FULFILLED"


def test_tracking_update_and_cancel(sandbox):
    store, _, order = _create_lgl_order(sandbox, quantity=1)
    fo_id = order["fulfillmentOrders"]["nodes"][0]["id"]
    created = sandbox.raw(
        "lgl", FULFILL, {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}]}}
    ).json()["data"]["fulfillmentCreate"]["fulfillment"]
    update = """mutation U($id: ID!, $t: FulfillmentTrackingInput!) {
      fulfillmentTrackingInfoUpdate(fulfillmentId: $id, trackingInfoInput: $t) {
      fulfillment { trackingInfo { number } } userErrors { message } } }"""
    body = sandbox.raw("lgl", update, {"id": created["id"], "t": {"number": "NEW"}}).json()
    tracking = body["data"]["fulfillmentTrackingInfoUpdate"]["fulfillment"]["trackingInfo"]
    assert tracking == [{"number": "NEW"}]
    cancel = (
        f'mutation {{ fulfillmentCancel(id: "{created["id"]}") {{ fulfillment {{ status }} }} }}'
    )
    assert sandbox.raw("lgl", cancel).json()["data"]["fulfillmentCancel"]["fulfillment"] == {
        "status": "CANCELLED"
    }
    fo = store.fulfillment_orders[int(fo_id.rsplit("/", 1)[1])]
    assert fo.status == "OPEN" and fo.line_items[0].remaining_quantity == 1


# -- auth and versions --------------------------------------------------------------------------


def test_wrong_token_is_401_and_unsupported_version_is_404(sandbox):
    assert sandbox.raw("lgl", "{ shop { id } }", token="wrong").status_code == 401
    assert sandbox.raw("lgl", "{ shop { id } }", version="2024-10").status_code == 404
    assert sandbox.raw("lgl", "{ shop { id } }", version="2026-10").status_code == 200


# -- faults -------------------------------------------------------------------------------------

TAG = 'mutation Tag { tagsAdd(id: "%s", tags: ["%s"]) { userErrors { message } } }'


def _tag(sandbox, tag, timeout=30):
    order = next(iter(sandbox.store(RETAILER).orders.values()))
    url = f"{sandbox.domain(RETAILER)}/admin/api/2026-10/graphql.json"
    response = requests.post(
        url,
        json={"query": TAG % (gid("Order", order.id), tag)},
        headers={"X-Shopify-Access-Token": f"sandbox-token-{RETAILER}"},
        timeout=timeout,
    )
    return order, response


@pytest.mark.parametrize(
    ("kind", "applied"),
    [
        ("server_error", False),  # 502, nothing written
        ("apply_then_fail", True),  # the write lands, the caller sees 502
    ],
)
def test_server_error_faults_apply_or_not_as_configured(sandbox, kind, applied):
    sandbox.engine.set_faults(RETAILER, [FaultRule(kind, operation="tagsAdd", count=1)])
    order, response = _tag(sandbox, "first")
    assert response.status_code == 502
    assert ("first" in order.tags) is applied
    _, again = _tag(sandbox, "second")  # the count is spent
    assert again.status_code == 200 and "second" in order.tags


@pytest.mark.parametrize(
    ("kind", "applied"),
    [
        ("timeout", False),
        ("apply_then_timeout", True),
        ("drop", False),
        ("apply_then_drop", True),
    ],
)
def test_connection_faults_leave_the_caller_without_an_answer(sandbox, kind, applied):
    sandbox.engine.set_faults(
        RETAILER, [FaultRule(kind, operation="Tag", count=1, hang_seconds=1.0)]
    )
    with pytest.raises(requests.RequestException):
        _tag(sandbox, "lost", timeout=0.3)
    order = next(iter(sandbox.store(RETAILER).orders.values()))
    time.sleep(0.2)
    assert ("lost" in order.tags) is applied


def test_throttled_and_429_faults_have_shopifys_shapes(sandbox):
    sandbox.engine.set_faults(
        RETAILER,
        [FaultRule("throttled", count=1), FaultRule("too_many_requests", count=1, retry_after=2)],
    )
    first = sandbox.raw(RETAILER, "{ shop { id } }")
    assert first.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    second = sandbox.raw(RETAILER, "{ shop { id } }")
    assert second.status_code == 429 and second.headers["Retry-After"] == "2"
    assert sandbox.raw(RETAILER, "{ shop { id } }").status_code == 200


def test_fault_rate_is_seeded_and_only_hits_the_named_operation(sandbox):
    sandbox.engine.set_faults(
        RETAILER, [FaultRule("server_error", operation="shopq", rate=0.5)], seed=11
    )
    statuses = [sandbox.raw(RETAILER, "query shopq { shop { id } }").status_code for _ in range(40)]
    assert 5 < statuses.count(502) < 35
    assert sandbox.raw(RETAILER, "query other { shop { id } }").status_code == 200


def test_search_lag_hides_new_tags_until_indexed(sandbox):
    store = sandbox.store(RETAILER)
    store.search_lag = 5.0
    sandbox.clock.advance(10)  # the orders were indexed long ago
    order, _ = _tag(sandbox, "imported-to-LGL")
    query = '{ orders(first: 250, query: "tag:imported-to-LGL") { nodes { id } } }'
    assert sandbox.raw(RETAILER, query).json()["data"]["orders"]["nodes"] == []
    untagged = '{ orders(first: 250, query: "-tag:imported-to-LGL") { nodes { id } } }'
    ids = {n["id"] for n in sandbox.raw(RETAILER, untagged).json()["data"]["orders"]["nodes"]}
    assert gid("Order", order.id) in ids  # still looks untagged to search
    sandbox.clock.advance(6)
    found = sandbox.raw(RETAILER, query).json()["data"]["orders"]["nodes"]
    assert found == [{"id": gid("Order", order.id)}]


def test_development_store_creates_at_most_five_orders_a_minute(sandbox):
    sandbox.store("lgl").development_store = True
    variant = next(iter(sandbox.store("lgl").variants.values()))
    order = {"lineItems": [{"variantId": gid("ProductVariant", variant.id), "quantity": 1}]}
    statuses = [sandbox.raw("lgl", CREATE, {"order": order}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    sandbox.clock.advance(61)
    assert sandbox.raw("lgl", CREATE, {"order": order}).status_code == 200


# -- the command ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lgl_sync_sandbox_serves_the_default_scenario_and_prints_urls_tokens_and_locations():
    port = _free_port()
    command = [str(Path(sys.executable).with_name("lgl-sync")), "sandbox", "--port", str(port)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = [process.stdout.readline()]
        while not lines[-1].startswith("Controls") and len(lines) < 100:
            lines.append(process.stdout.readline())
        locations = [line.split() for line in lines if line.split()[:1] == ["location"]]
        lines = [line for line in lines if line.split()[:1] != ["location"]]
        stores = dict(line.split()[:2] for line in lines[1:6])
        # Each store's locations are listed with their ids (for a retailer file).
        assert len(locations) >= 9 and all(parts[1].isdigit() for parts in locations)
        assert any(" ".join(parts[2:]) == "LGL Warehouse" for parts in locations)
        assert set(stores) == {
            "lgl",
            "nationwide-plants",
            "botanical-interests",
            "epic-gardening",
            "test-retail-store",
        }
        token = next(p.split("=", 1)[1] for p in lines[1].split() if p.startswith("token="))
        domain = lines[1].split()[1]
        response = requests.post(
            f"{domain}/admin/api/2026-10/graphql.json",
            json={"query": "{ shop { name } }"},
            headers={"X-Shopify-Access-Token": token},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["data"]["shop"]["name"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_default_scenario_is_deterministic_and_scales_with_flags():
    from lgl_sync.devkit.world import default_scenario

    small, again = (
        default_scenario(skus=40, orders=5, seed=9),
        default_scenario(skus=40, orders=5, seed=9),
    )
    assert small == again
    large = default_scenario(skus=400, orders=50, seed=9)
    lgl = next(s for s in large["stores"] if s["handle"] == "lgl")
    assert len(lgl["products"]) == 400
    retailers = [s for s in large["stores"] if s["handle"] != "lgl"]
    assert len(retailers) == 4 and all(len(r["orders"]) == 50 for r in retailers)
    shared = set.intersection(
        *({v["variants"][0]["sku"] for v in r["products"]} for r in retailers)
    )
    assert shared  # SKUs sold by every retailer


def test_controls_over_http_set_faults_and_report_usage(sandbox):
    base = sandbox.server.url
    rules = {"rules": [{"kind": "server_error", "operation": "shopq", "count": 1}]}
    assert requests.post(f"{base}/_sandbox/stores/lgl/faults", json=rules, timeout=5).ok
    assert sandbox.raw("lgl", "query shopq { shop { id } }").status_code == 502
    assert sandbox.raw("lgl", "query shopq { shop { id } }").status_code == 200
    usage = requests.get(f"{base}/_sandbox/stores/lgl/usage", timeout=5).json()
    assert usage["requests"] == 2 and usage["by_operation"] == {"shopq": 2}
    assert usage["faults"] == 1
    log = requests.get(f"{base}/_sandbox/stores/lgl/requests", timeout=5).json()
    assert [e["outcome"] for e in log] == ["server_error", "ok"]
    dump = requests.get(f"{base}/_sandbox/stores/lgl/dump", timeout=5).json()
    assert len(dump["variants"]) == len(sandbox.store("lgl").variants)
    settings = {"plan": "plus", "search_lag": 2}
    assert requests.post(f"{base}/_sandbox/stores/lgl/settings", json=settings, timeout=5).ok
    assert sandbox.store("lgl").bucket.plan == "plus" and sandbox.store("lgl").search_lag == 2


def test_node_lookups_order_edits_and_current_bulk_operation(sandbox):
    store = sandbox.store(RETAILER)
    order = next(o for o in store.orders.values() if o.cancelled_at is None)
    order_id = gid("Order", order.id)
    nodes = sandbox.raw(
        RETAILER,
        "query N($ids: [ID!]!) { nodes(ids: $ids) { id ... on Order "
        "{ name } } node(id: $one) { id } }".replace("$ids: [ID!]!", "$ids: [ID!]!, $one: ID!"),
        {"ids": [order_id, "gid://shopify/Order/1"], "one": order_id},
    ).json()["data"]
    assert nodes["nodes"] == [{"id": order_id, "name": order.name}, None]
    assert nodes["node"] == {"id": order_id}
    update = """mutation U($input: OrderInput!) { orderUpdate(input: $input) {
      order { note tags } userErrors { message } } }"""
    edited = sandbox.raw(
        RETAILER, update, {"input": {"id": order_id, "note": "n", "tags": ["a", "b"]}}
    ).json()
    assert edited["data"]["orderUpdate"]["order"] == {"note": "n", "tags": ["a", "b"]}
    removed = sandbox.raw(
        RETAILER,
        f'mutation {{ tagsRemove(id: "{order_id}", tags: ["A"]) {{ userErrors {{ message }} }} }}',
    ).json()
    assert removed["data"]["tagsRemove"]["userErrors"] == [] and order.tags == ["b"]
    cancel = """mutation C($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, restock: true)
      { orderCancelUserErrors { code } } }"""
    assert sandbox.raw(RETAILER, cancel, {"id": order_id}).json()["data"]["orderCancel"] == {
        "orderCancelUserErrors": []
    }
    assert order.cancelled_at is None  # asynchronous: Shopify's job has not run yet
    sandbox.clock.advance(store.job_seconds)
    again = sandbox.raw(RETAILER, cancel, {"id": order_id}).json()["data"]["orderCancel"]
    assert again == {"orderCancelUserErrors": [{"code": "INVALID"}]}  # the job ran first
    assert order.cancelled_at is not None
    assert all(
        store.fulfillment_orders[i].status == "CANCELLED" for i in order.fulfillment_order_ids
    )
    sandbox.raw("lgl", RUN_BULK, {"q": document("InventoryLevelsBulk")})
    current = sandbox.raw("lgl", "{ currentBulkOperation { id status } }").json()["data"]
    assert current["currentBulkOperation"]["status"] in ("CREATED", "RUNNING", "COMPLETED")


ORDERS_BULK = """fragment Money on MoneyBag { shopMoney { amount currencyCode } }
query OrdersBulk { orders(query: "financial_status:paid") { edges { node { __typename id
  name total: totalPriceSet { ...Money } ... on Order { displayFinancialStatus }
  lineItems { edges { node { id sku quantity } } } } } } }"""


@pytest.mark.parametrize(
    ("handle", "query"),
    [
        ("lgl", document("LglInventoryLevelsBulk")),
        (RETAILER, document("InventoryLevelsBulk")),
        (RETAILER, document("ProductVariantsBulk")),
        (RETAILER, ORDERS_BULK),
    ],
)
def test_the_lean_bulk_executor_answers_exactly_as_graphql_core(sandbox, handle, query):
    """The sandbox runs bulk queries with a lean executor (100,000 items took graphql-core 30 s
    of CPU): the same data, field for field, aliases, fragments and ``__typename`` included."""
    from graphql import execute, parse
    from shopify_sandbox.bulk_execution import BulkExecutor
    from shopify_sandbox.resolvers import RequestContext, default_resolver
    from shopify_sandbox.state import SUPPORTED_VERSIONS

    store = sandbox.store(handle)
    context = RequestContext(
        store=store, version=max(SUPPORTED_VERSIONS), base_url="http://sandbox", bulk=True
    )
    schema, parsed = sandbox.engine.schema, parse(query)
    expected = execute(schema, parsed, context_value=context, field_resolver=default_resolver)
    assert expected.errors is None
    lean = BulkExecutor(schema, parsed, context, default_resolver).run()
    assert lean == expected.data
    assert any(len(connection["edges"]) for connection in lean.values())  # not vacuous
