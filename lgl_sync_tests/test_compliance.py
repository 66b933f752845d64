"""Shopify's mandatory compliance webhooks (LGL's app as a public app), over real HTTP.

Contract: a delivery is acted on only when ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256
of the raw body with the store's app secret; otherwise 401 and nothing changes. A data request
tells a person once; a customer redaction deletes the store's values in flight; a shop
redaction also deletes its app tokens and disables the retailer
(https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from lgl_sync.control_plane import credentials
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.control_plane.tables import asset_handoffs, store_credentials
from lgl_sync.web.app import create_app
from lgl_sync_tests.orders_world import RETAILER, seed
from lgl_sync_tests.served import served as serving

SECRET = "store-app-secret"
SHOP = f"{RETAILER}.myshopify.com"


@pytest.fixture
def served(world, monkeypatch):
    monkeypatch.setenv("LGL_SECRET_KEY", Fernet.generate_key().decode())
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER, api_token="app")
    domain = world.sandbox.domain(RETAILER)
    credentials.save(
        world.engine,
        domain,
        grant=credentials.AUTHORIZATION_CODE,
        client_id="app",
        client_secret=SECRET,
        answer={"access_token": "t", "scope": "read_orders"},
    )
    with world.engine.begin() as connection:
        connection.execute(
            asset_handoffs.insert().values(
                asset_key="retailer_paid_orders",
                partition_key=RETAILER,
                run_id="r1",
                value=b"addresses",
                created_at=datetime.now(UTC),
            )
        )
    told: list = []
    app = create_app(world.engine, {}, tell=lambda *args: told.append(args))
    with serving(app) as url:
        yield f"{url}/webhooks/compliance", world, told


def _post(url: str, topic: str, payload: dict, secret: str = SECRET, shop: str = SHOP):
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": signature.decode(),
        "X-Shopify-Webhook-Id": f"wh-{topic}",
        "Content-Type": "application/json",
    }
    return requests.post(url, data=body, headers=headers, timeout=10)


def _handoffs(world) -> int:
    with world.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(asset_handoffs)).scalar()


def test_a_forged_or_foreign_delivery_is_refused_and_changes_nothing(served):
    url, world, told = served
    payload = {"shop_domain": SHOP}
    assert _post(url, "shop/redact", payload, secret="forged").status_code == 401
    assert _post(url, "shop/redact", payload, shop="evil.example.com").status_code == 400
    assert _post(url, "orders/create", payload).status_code == 400
    assert told == [] and _handoffs(world) == 1
    assert get_retailer(world.engine, RETAILER).enabled


def test_requests_and_redactions_are_carried_out(served):
    url, world, told = served
    asked = {"shop_domain": SHOP, "customer": {"id": 1}, "orders_requested": [1001, 1002]}
    assert _post(url, "customers/data_request", asked).status_code == 200
    assert told[-1][0] == "customers/data_request" and "1001, 1002" in told[-1][2][0]
    assert _handoffs(world) == 1  # a request deletes nothing
    redact = {"shop_domain": SHOP, "customer": {"id": 1}, "orders_to_redact": [1001]}
    assert _post(url, "customers/redact", redact).status_code == 200
    assert _handoffs(world) == 0
    assert _post(url, "shop/redact", {"shop_domain": SHOP}).status_code == 200
    with world.engine.connect() as connection:
        assert connection.execute(sa.select(store_credentials)).all() == []
    assert not get_retailer(world.engine, RETAILER).enabled
    assert [t[0] for t in told] == ["customers/data_request", "customers/redact", "shop/redact"]
