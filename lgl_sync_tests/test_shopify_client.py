"""The Shopify client against the sandbox: complete reads, safe retries, cooperative throttling.

Contract: pagination and bulk reads return every record once; 5xx, timeouts, 429 and THROTTLED
are retried for reads and idempotent writes and the retries reported; a non-idempotent write
with an unknown outcome raises AmbiguousOutcomeError instead of being retried; auth, not-found
and validation errors fail fast with typed errors; a throttle-bound workload spends >= 90% of
the store's restore budget; clients in three processes share one store without failures; every
GraphQL document is valid against Shopify's real schema; no token appears in any error text.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap

import graphql
import pytest
from shopify_sandbox.bulk import fail_next_bulk
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import gid

from lgl_sync.devkit.world import token_for
from lgl_sync.shopify.client import (
    _LEARNT_PAGES,
    ShopifyClient,
    idempotency_key,
    raise_user_errors,
)
from lgl_sync.shopify.documents import all_documents
from lgl_sync.shopify.errors import (
    AmbiguousOutcomeError,
    AuthError,
    NetworkError,
    NotFoundError,
    ServerError,
    UserErrorsError,
    ValidationError,
)
from lgl_sync.sync.inventory.reads import ITEMS_PER_PAGE
from lgl_sync.sync.orders.reads import ORDERS_PER_PAGE
from lgl_sync_tests.conftest import SECRETS
from lgl_sync_tests.orders_world import seed

RETAILER = "nationwide-plants"


def _lgl_only(sandbox, skus: int) -> None:
    """Replaces the stores with an LGL store of ``skus`` stocked SKUs."""
    sandbox.engine.reset()
    store = sandbox.engine.add_store("lgl", token_for("lgl"))
    location = store.add_location("LGL Warehouse")
    for i in range(skus):
        product = store.add_product(f"P{i}", [{"sku": f"SKU-{i:06d}", "price": "1.00"}])
        store.stock(store.variants[product.variant_ids[0]].inventory_item_id, location.id, i % 50)


def _location(sandbox) -> str:
    return gid("Location", sandbox.store("lgl").primary_location_id)


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_graphql_document_is_valid_against_shopifys_schema(real_schema, name):
    errors = graphql.validate(real_schema, graphql.parse(all_documents()[name]))
    assert errors == []


def test_pagination_returns_10000_records_exactly_once(sandbox):
    _lgl_only(sandbox, 10_000)
    sandbox.clock.set_speed(500)
    client = sandbox.client("lgl")
    items = list(
        client.paginate(
            "InventoryItems",
            {"locationId": _location(sandbox)},
            path="inventoryItems",
            page_size=ITEMS_PER_PAGE,
        )
    )
    assert len(items) == len({i["id"] for i in items}) == 10_000
    # 200 a page by the documented formula, more once the reported cost shows they fit
    assert client.metrics.requests <= 50 + client.metrics.throttled_responses
    assert max(e["requested"] for e in sandbox.store("lgl").request_log) <= 1000


def test_page_sizes_follow_the_cost_shopify_reports(sandbox):
    """FACTS.md §9: real Shopify reports connections 4-20x cheaper than the documented formula
    the page sizes are written for. Under the sandbox's observed mode pages grow to what the
    reported cost allows; when a remembered size is refused for its cost, it is halved back
    down and the read still ends whole."""
    seed(sandbox, normal=200)
    store = sandbox.store(RETAILER)
    total = len(store.orders)

    def read(mode: str) -> ShopifyClient:
        store.apply_settings({"cost_mode": mode})
        client = sandbox.client(RETAILER)
        orders = list(
            client.paginate(
                "EligibleOrders", {"query": ""}, path="orders", page_size=ORDERS_PER_PAGE
            )
        )
        assert len(orders) == len({o["id"] for o in orders}) == total
        return client

    formula = read("formula").metrics.requests
    observed = read("observed")
    learnt = _LEARNT_PAGES[(observed.endpoint, "EligibleOrders")]
    assert learnt > 5 * ORDERS_PER_PAGE and observed.metrics.requests * 3 < formula
    assert max(e["requested"] for e in store.request_log) < 1000
    again = read("formula")  # starts at the learnt size: refused for its cost, then halved
    assert again.metrics.requests > formula
    assert _LEARNT_PAGES[(again.endpoint, "EligibleOrders")] == ORDERS_PER_PAGE


def test_injected_5xx_and_timeouts_are_retried_to_a_correct_result(sandbox):
    _lgl_only(sandbox, 600)
    sandbox.engine.set_faults(
        "lgl",
        [
            FaultRule("server_error", rate=0.1, status=503),
            FaultRule("timeout", rate=0.1, hang_seconds=1.2),
        ],
        seed=5,
    )
    client = sandbox.client("lgl", read_timeout=0.5, max_attempts=12)
    items = list(client.paginate("ProductVariants", path="productVariants", page_size=25))
    assert sorted(i["sku"] for i in items) == sorted(
        v.sku for v in sandbox.store("lgl").variants.values()
    )
    faults = sandbox.store("lgl").usage.faults
    # Every fault was retried (a slow answer on a busy machine may add a retry of its own).
    assert faults > 0 and sum(client.metrics.retries.values()) >= faults
    print(f"\n24 pages with 20% faults: {faults} faults, retries {dict(client.metrics.retries)}")


def test_throttle_bound_workload_spends_at_least_90_percent_of_the_restore_budget(sandbox):
    _lgl_only(sandbox, 2_000)
    # Sped up only 5x: each page needs 7.5 sandbox-seconds of refill, so even a slow request
    # (0.5 s real = 2.5 sandbox-s on a busy CI machine) leaves the bucket as the bottleneck.
    sandbox.clock.set_speed(5)
    store = sandbox.store("lgl")
    client = sandbox.client("lgl")
    start = sandbox.clock.monotonic()
    for _ in range(2):  # 2 passes x 10 pages of 802 points: ~16,000 points at 100/s
        list(
            client.paginate(
                "InventoryItems",
                {"locationId": _location(sandbox)},
                path="inventoryItems",
                page_size=ITEMS_PER_PAGE,
            )
        )
    elapsed = sandbox.clock.monotonic() - start
    budget = store.bucket.maximum + store.bucket.restore_rate * elapsed
    utilisation = store.usage.cost_actual / budget
    print(
        f"\nthrottle-bound: {store.usage.cost_actual:.0f} points in {elapsed:.0f} sandbox-s, "
        f"utilisation {utilisation:.1%}, THROTTLED answers {store.usage.throttled}"
    )
    assert utilisation >= 0.9
    assert store.usage.throttled <= 1  # the client waits before the bucket runs dry


WORKER = textwrap.dedent("""
    import json, sys
    from shopify_sandbox.clock import SandboxClock
    from lgl_sync.shopify.client import ShopifyClient
    domain, token, location = sys.argv[1:4]
    client = ShopifyClient(domain=domain, token=token, clock=SandboxClock(100))
    items = list(client.paginate("InventoryItems", {"locationId": location},
                                 path="inventoryItems", page_size=200))
    print(json.dumps({"items": len(items), "unique": len({i["id"] for i in items}),
                      "throttled": client.metrics.throttled_responses}))
""")


def test_three_processes_sharing_one_store_all_finish_without_failures(sandbox):
    _lgl_only(sandbox, 3_000)
    sandbox.clock.set_speed(100)
    args = [sandbox.domain("lgl"), token_for("lgl"), _location(sandbox)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    assert all(r["items"] == r["unique"] == 3_000 for r in results)
    print(f"\nthree processes: {results}, sandbox THROTTLED {sandbox.store('lgl').usage.throttled}")


def test_bulk_read_of_100000_variants_equals_pagination(sandbox):
    sandbox.engine.reset()
    store = sandbox.engine.add_store("lgl", token_for("lgl"), plan="plus")
    store.add_location("LGL Warehouse")
    for i in range(0, 100_000, 1000):
        store.add_product(
            f"P{i}", [{"sku": f"V-{j:06d}", "price": "1"} for j in range(i, i + 1000)]
        )
    sandbox.clock.set_speed(1000)
    client = sandbox.client("lgl")
    paged = {
        (v["id"], v["sku"]) for v in client.paginate("ProductVariants", path="productVariants")
    }
    sandbox.clock.set_speed(10)  # the bulk job's own work runs in real time
    bulk = {(v["id"], v["sku"]) for v in client.bulk_query("ProductVariantsBulk")}
    assert len(bulk) == len(paged) == 100_000 and bulk == paged


def test_bulk_renests_children_under_their_parent(sandbox):
    sandbox.clock.set_speed(50)
    roots = sandbox.client("lgl").bulk_query("InventoryLevelsBulk")
    store = sandbox.store("lgl")
    assert len(roots) == len(store.inventory_items)
    for root in roots:
        item = store.inventory_items[int(root["id"].rsplit("/", 1)[1])]
        levels = root.get("__children", {}).get("InventoryLevel", [])
        assert {lv["quantities"][0]["quantity"] for lv in levels} == {
            lv.quantities["available"] for lv in item.levels.values()
        }


def test_a_long_bulk_job_is_polled_at_its_pace_when_its_size_is_known(sandbox, monkeypatch):
    """A job whose size the caller knows (the last read's) is polled where its objectCount
    says it will be done, not every few seconds of a backoff."""
    from shopify_sandbox import bulk as sandbox_bulk

    from lgl_sync.shopify.bulk import bulk_result_url
    from lgl_sync.shopify.documents import document

    store = sandbox.store("lgl")
    lines = len(store.inventory_items) + sum(len(i.levels) for i in store.inventory_items.values())
    monkeypatch.setattr(sandbox_bulk, "OBJECTS_PER_SECOND", lines / 20.0)  # a 20 s job
    sandbox.clock.set_speed(10)
    client = sandbox.client("lgl")
    polls = []
    for expected in (None, lines):
        before = store.usage.by_operation.get("BulkOperationStatus", 0)
        assert bulk_result_url(client, document("InventoryLevelsBulk"), expected_objects=expected)
        polls.append(store.usage.by_operation["BulkOperationStatus"] - before)
    backoff, paced = polls
    assert backoff >= 6 and paced <= 3, polls


def test_failed_bulk_operation_raises_a_server_error(sandbox):
    sandbox.clock.set_speed(50)
    fail_next_bulk(sandbox.store("lgl"), "TIMEOUT")
    with pytest.raises(ServerError, match=r"failed \(TIMEOUT\)"):
        sandbox.client("lgl").bulk_query("InventoryLevelsBulk")


def test_bulk_waits_for_a_free_slot_when_five_are_running(sandbox):
    from lgl_sync.shopify.documents import document

    sandbox.clock.set_speed(5)
    run = (
        "mutation R($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) "
        "{ userErrors { code } } }"
    )
    for _ in range(5):
        sandbox.raw("lgl", run, {"q": document("InventoryLevelsBulk")})
    roots = sandbox.client("lgl").bulk_query("InventoryLevelsBulk", poll_start=0.2)
    assert len(roots) == len(sandbox.store("lgl").inventory_items)


# -- failures that must not be retried --------------------------------------------------------


def test_wrong_token_fails_fast_with_an_auth_error_that_hides_the_token(sandbox):
    bad = "shpat_" + secrets.token_hex(16)
    SECRETS.add(bad)
    client = ShopifyClient(domain=sandbox.domain("lgl"), token=bad, clock=sandbox.clock)
    with pytest.raises(AuthError) as raised:
        client.query("Shop")
    assert raised.value.category == "auth" and client.metrics.requests == 1
    assert bad not in str(raised.value) and bad not in repr(client)


def test_unsupported_version_fails_fast_as_not_found(sandbox):
    client = sandbox.client("lgl", api_version="2024-10")
    with pytest.raises(NotFoundError):
        client.query("Shop")
    assert client.metrics.requests == 1


def test_graphql_errors_fail_fast_as_validation(sandbox):
    client = sandbox.client("lgl")
    with pytest.raises(ValidationError, match="251"):
        list(client.paginate("ProductVariants", path="productVariants", page_size=251))
    assert client.metrics.requests == 1


def test_user_errors_come_back_as_data_and_raise_on_request(sandbox):
    client = sandbox.client(RETAILER)
    data = client.mutate(
        "TagsAdd", {"id": "gid://shopify/Order/1", "tags": ["x"]}, idempotent=False
    )
    assert data["tagsAdd"]["userErrors"][0]["message"] == "Resource does not exist"
    with pytest.raises(UserErrorsError) as raised:
        raise_user_errors(data, "tagsAdd")
    assert raised.value.category == "user_error"


def test_non_idempotent_write_with_unknown_outcome_is_reported_not_retried(sandbox):
    order = next(iter(sandbox.store(RETAILER).orders.values()))
    sandbox.engine.set_faults(
        RETAILER, [FaultRule("apply_then_fail", operation="tagsAdd", count=1)]
    )
    client = sandbox.client(RETAILER)
    with pytest.raises(AmbiguousOutcomeError) as raised:
        client.mutate("TagsAdd", {"id": gid("Order", order.id), "tags": ["once"]}, idempotent=False)
    assert raised.value.category == "server"
    assert sandbox.store(RETAILER).usage.by_operation["TagsAdd"] == 1
    assert "once" in order.tags  # it was applied: the caller must reconcile


def test_write_refused_before_sending_is_retried_as_safe(sandbox):
    client = ShopifyClient(
        domain="http://127.0.0.1:9", token="t", max_attempts=3, clock=sandbox.clock
    )
    with pytest.raises(NetworkError) as raised:
        client.mutate("TagsAdd", {"id": "gid://shopify/Order/1", "tags": ["x"]}, idempotent=False)
    assert not isinstance(raised.value, AmbiguousOutcomeError)
    assert client.metrics.retries["network"] == 3


def test_idempotent_write_is_retried_and_applied_once(sandbox):
    store = sandbox.store("lgl")
    item = next(i for i in store.inventory_items.values() if i.levels)
    level = next(iter(item.levels.values()))
    current = level.quantities["available"]
    sandbox.engine.set_faults(
        "lgl", [FaultRule("apply_then_fail", operation="inventorySetQuantities", count=1)]
    )
    client = sandbox.client("lgl")
    variables = {
        "idempotencyKey": idempotency_key("test", "run-1", 0),
        "input": {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {
                    "inventoryItemId": gid("InventoryItem", item.id),
                    "locationId": gid("Location", level.location_id),
                    "quantity": current + 3,
                    "changeFromQuantity": current,
                }
            ],
        },
    }
    data = client.mutate("InventorySetQuantities", variables, idempotent=True)
    assert raise_user_errors(data, "inventorySetQuantities")["inventoryAdjustmentGroup"]
    assert level.quantities["available"] == current + 3
    assert client.metrics.retries["server"] == 1
    assert idempotency_key("test", "run-1", 0) == variables["idempotencyKey"]
    assert idempotency_key("test", "run-1", 1) != variables["idempotencyKey"]


def test_throttled_answer_is_waited_out_without_counting_as_a_failure(sandbox):
    # The sandbox answers THROTTLED once (as Shopify does when the bucket is short), whatever
    # the machine's speed; the client must wait and retry, not fail or count a retry.
    sandbox.engine.set_faults("lgl", [FaultRule("throttled", count=1)])
    client = sandbox.client("lgl")
    page = client.query(
        "InventoryItems", {"first": ITEMS_PER_PAGE, "locationId": _location(sandbox)}
    )
    assert len(page["inventoryItems"]["nodes"]) == len(sandbox.store("lgl").inventory_items)
    assert client.metrics.throttled_responses == 1 and not client.metrics.retries
    assert client.metrics.throttle_wait_seconds > 0
    assert sandbox.store("lgl").usage.requests == 2


def test_429_retry_after_is_honoured(sandbox):
    sandbox.engine.set_faults("lgl", [FaultRule("too_many_requests", count=1, retry_after=0.2)])
    client = sandbox.client("lgl")
    assert client.query("Shop")["shop"]["name"]
    assert client.metrics.retries["throttled"] == 1


def test_metrics_are_flat_numbers_for_dagster_metadata(sandbox):
    client = sandbox.client("lgl")
    client.query("Shop")
    metadata = client.metrics.as_metadata()
    assert metadata["api_requests"] == 1 and metadata["api_cost_actual"] > 0
    assert all(isinstance(v, int | float) for v in metadata.values())


@pytest.mark.parametrize(
    ("fault", "call", "expected"),
    [
        (None, lambda c: c.query("Shop"), AuthError),  # token refused
        (FaultRule("server_error", count=9), lambda c: c.query("Shop"), ServerError),
        (
            FaultRule("apply_then_fail", count=1),  # ambiguous write
            lambda c: c.mutate(
                "TagsAdd", {"id": "gid://shopify/Order/1", "tags": ["x"]}, idempotent=False
            ),
            AmbiguousOutcomeError,
        ),
        (FaultRule("drop", count=9), lambda c: c.query("Shop"), NetworkError),
        (
            None,
            lambda c: c.query("InventoryItems", {"first": 300, "locationId": "x"}),
            ValidationError,
        ),
    ],
)
def test_no_token_in_any_error_text(sandbox, fault, call, expected):
    import traceback

    secret = "shpat_" + secrets.token_hex(16)
    SECRETS.add(secret)
    store = sandbox.store("lgl")
    store.token = secret if expected is not AuthError else "another-token"
    if fault:
        sandbox.engine.set_faults("lgl", [fault])
    client = ShopifyClient(
        domain=sandbox.domain("lgl"), token=secret, max_attempts=2, clock=sandbox.clock
    )
    with pytest.raises(expected) as raised:
        call(client)
    texts = [
        str(raised.value),
        repr(raised.value),
        repr(client),
        str(raised.value.details),
        "".join(traceback.format_exception(raised.value)),
    ]
    assert not [t for t in texts if secret in t]
