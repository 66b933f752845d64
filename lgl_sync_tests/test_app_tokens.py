"""Stores reached through LGL's app: tokens Shopify issues, kept encrypted and renewed.

Contract (the Shopify access issue, credentials part): LGL's own store is reached by the
client-credentials grant (24-hour tokens) and its token renewed after 24 h of sandbox time; a
retailer connected by installing the app (authorization code, expiring offline token with a
refresh token) is synced with no static token, its access token expiring mid-cycle and renewed
without a failed run; two runs renewing at once both keep a working token, and the stored
refresh token still works afterwards. Tokens and secrets are stored encrypted, never in clear.
Shopify's rules: https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens
and https://shopify.dev/changelog/more-resilient-refreshes-for-expiring-offline-access-tokens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet
from shopify_sandbox.oauth import App, signed_query

from lgl_sync.cli import main
from lgl_sync.control_plane import credentials
from lgl_sync.control_plane.credentials import StoredTokens
from lgl_sync.control_plane.tables import store_credentials
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.devkit.world import token_for
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import AuthError
from lgl_sync.shopify.tokens import exchange
from lgl_sync.web.install import InstallError, PendingInstall, verify
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

ORDERS = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]
SECRET = "lgl-app-secret-123"


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("LGL_SECRET_KEY", Fernet.generate_key().decode())


def _install(world, handle: str) -> dict:
    """The merchant installs LGL's app: authorize, then the code exchanged for an expiring
    offline token (what `lgl-sync retailer connect` does, without the browser)."""
    store = world.sandbox.store(handle)
    store.grants.apps["lgl-app"] = App("lgl-app", SECRET)
    query = {
        "client_id": "lgl-app",
        "scope": ",".join(store.scopes),
        "redirect_uri": "http://127.0.0.1:9/callback",
        "state": "nonce-1",
    }
    answer = requests.get(
        f"{world.sandbox.domain(handle)}/admin/oauth/authorize?{urlencode(query)}",
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    callback = dict(parse_qsl(urlparse(answer.headers["Location"]).query))
    assert callback["state"] == "nonce-1" and callback["hmac"]
    form = {
        "client_id": "lgl-app",
        "client_secret": SECRET,
        "code": callback["code"],
        "expiring": "1",
    }
    return exchange(world.sandbox.domain(handle), form)


def _connect(world, handle: str) -> None:
    tokens = _install(world, handle)
    assert tokens["expires_in"] == 3600 and tokens["refresh_token"]
    credentials.save(
        world.engine,
        world.sandbox.domain(handle),
        grant=credentials.AUTHORIZATION_CODE,
        client_id="lgl-app",
        client_secret=SECRET,
        answer=tokens,
    )


def test_a_retailer_connected_by_app_install_syncs_and_survives_token_expiry(world, keyed):
    seed(world.sandbox, normal=4)
    _connect(world, RETAILER)
    world.sandbox.store(RETAILER).token = "legacy-token-revoked"  # no static token works
    world.add_retailer(RETAILER, api_token="app")
    assert world.materialize(ORDERS).success
    imported = len(lgl_orders_by_source(world.sandbox))
    assert imported >= 4
    world.sandbox.clock.advance(3700)  # the access token expires between runs
    store = world.sandbox.store(RETAILER)
    late = store.create_order(
        lines=[{"variant_id": store.variants_by_sku("LGL-0003")[0].id, "quantity": 1}],
        shipping_address=BUYER_ADDRESS,
    )
    result = world.materialize(ORDERS)
    assert result.success  # renewed on the 401, no failed run
    assert len(lgl_orders_by_source(world.sandbox)) == imported + 1
    assert f"gid://shopify/Order/{late.id}" in lgl_orders_by_source(world.sandbox)
    with world.engine.connect() as connection:
        (row,) = connection.execute(sa.select(store_credentials)).all()
    for column in ("client_secret", "access_token", "refresh_token"):
        assert getattr(row, column).startswith("enc:v1:")  # never in clear
    assert SECRET not in str(tuple(row))


def test_two_runs_renewing_at_once_share_one_renewal_and_a_working_token(any_world, keyed):
    """Single-flight per store (the row is locked while Shopify is asked), on SQLite and on a
    real Postgres server: one refresh reaches Shopify, both runs get its token."""
    world = any_world
    seed(world.sandbox, normal=1)
    _connect(world, RETAILER)
    domain = world.sandbox.domain(RETAILER)
    grants = world.sandbox.store(RETAILER).grants
    world.sandbox.clock.advance(3700)
    stale = credentials.decrypt_secret(credentials._row(world.engine, domain).access_token)
    issued_before = len(grants.tokens)
    tokens: list[str] = []
    start = threading.Barrier(2)

    def renew() -> None:
        source = StoredTokens(world.engine, domain)
        start.wait()
        tokens.append(source.renewed(stale))

    threads = [threading.Thread(target=renew) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(tokens) == 2 and tokens[0] == tokens[1] != stale
    assert len(grants.tokens) == issued_before + 1  # one renewal reached Shopify
    assert ShopifyClient(domain=domain, token=tokens[0]).query("Shop")["shop"]["currencyCode"]
    # The stored refresh token still renews (an hour later again).
    world.sandbox.clock.advance(3700)
    renewed = StoredTokens(world.engine, domain).renewed(tokens[0])
    assert renewed not in (None, tokens[0])
    assert ShopifyClient(domain=domain, token=renewed).query("Shop")


def test_lgl_store_by_client_credentials_renewed_after_24_hours(world, keyed):
    seed(world.sandbox, normal=3)
    lgl = world.sandbox.store("lgl")
    lgl.grants.apps["lgl-own"] = App("lgl-own", SECRET, same_organization=True)
    lgl.token = "no-static-token"
    world.add_retailer(RETAILER)
    resources = {
        **world.resources(),
        "lgl_shopify": ShopifyStoreResource(
            domain=world.sandbox.domain("lgl"),
            client_id="lgl-own",
            client_secret=SECRET,
            database_url=world.database_url,
        ),
    }
    assert world.materialize(ORDERS, resources=resources).success
    first = credentials._row(world.engine, world.sandbox.domain("lgl")).access_token
    world.sandbox.clock.advance(24 * 3600 + 60)
    store = world.sandbox.store(RETAILER)
    store.create_order(
        lines=[{"variant_id": store.variants_by_sku("LGL-0004")[0].id, "quantity": 1}],
        shipping_address=BUYER_ADDRESS,
    )
    assert world.materialize(ORDERS, resources=resources).success
    assert credentials._row(world.engine, world.sandbox.domain("lgl")).access_token != first


def test_the_token_endpoint_refuses_a_replayed_code_and_a_foreign_app(world, keyed):
    seed(world.sandbox, normal=1)
    store = world.sandbox.store(RETAILER)
    store.grants.apps["lgl-app"] = App("lgl-app", SECRET)
    tokens = _install(world, RETAILER)
    assert tokens["access_token"]
    domain = world.sandbox.domain(RETAILER)
    with pytest.raises(AuthError, match="invalid_client"):
        exchange(domain, {"client_id": "lgl-app", "client_secret": "wrong", "code": "x"})
    with pytest.raises(AuthError, match="unauthorized_client"):
        # client credentials only for an app of the store's own organisation
        exchange(
            domain,
            {"client_id": "lgl-app", "client_secret": SECRET, "grant_type": "client_credentials"},
        )


# -- Onboarding by app install: `lgl-sync retailer connect` ----------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_connect(world, *extra: str) -> str:
    """`lgl-sync retailer connect` in its own process; the merchant approves the link it
    prints. Returns what it printed."""
    env = {
        **os.environ,
        "LGL_DATABASE_URL": world.database_url,
        "LGL_APP_CLIENT_ID": "lgl-app",
        "LGL_APP_CLIENT_SECRET": SECRET,
        "SHOPIFY_LGL_DOMAIN": world.sandbox.domain("lgl"),
        "SHOPIFY_LGL_TOKEN": token_for("lgl"),
        "LGL_ALLOW_LOCAL_STORES": "true",
    }
    port = _free_port()
    command = ["retailer", "connect", RETAILER, "--port", str(port), "--timeout", "60", *extra]
    connect = subprocess.Popen(
        [sys.executable, "-m", "lgl_sync.cli", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert connect.stdout.readline().startswith("Open this link")
        link = connect.stdout.readline().strip()
        assert "state=" in link and SECRET not in link
        approved = requests.get(link, timeout=30)  # the merchant approves; Shopify redirects back
        assert approved.status_code == 200 and "is connected" in approved.text
        out, err = connect.communicate(timeout=120)
    finally:
        connect.kill()
    assert connect.returncode == 0, out[-2000:] + err[-2000:]
    assert "connected and ready" in out and SECRET not in out + err
    return out


def test_a_new_retailer_is_onboarded_by_retailer_connect_then_synced(world, keyed):
    seed(world.sandbox, normal=4)
    store = world.sandbox.store(RETAILER)
    store.grants.apps["lgl-app"] = App("lgl-app", SECRET)
    store.token = "no-legacy-custom-app"  # since 2026 none can be made
    world.add_retailer(RETAILER, api_token="app")
    _run_connect(world)
    assert world.materialize(ORDERS).success  # a full cycle with the installed app's token
    assert len(lgl_orders_by_source(world.sandbox)) >= 4


def test_a_retailer_on_lgls_fulfillment_service_is_onboarded_by_connect(world, keyed):
    """`connect --location-model fulfillment_service` creates LGL's service in the store, makes
    its location the retailer's, validates; the retailer then routes and requests orders."""
    from shopify_sandbox import actions

    from lgl_sync.control_plane.retailers import get_retailer, set_enabled
    from lgl_sync.devkit.world import SERVICE_SCOPES

    seed(world.sandbox, normal=2)
    store = world.sandbox.store(RETAILER)
    store.grants.apps["lgl-app"] = App("lgl-app", SECRET)
    store.token = "no-legacy-custom-app"
    store.scopes = list(SERVICE_SCOPES)
    world.add_retailer(
        RETAILER,
        api_token="app",
        enabled=False,
        target_location_id=None,
        location_model="fulfillment_service",
    )
    out = _run_connect(world, "--location-model", "fulfillment_service")
    assert "LGL's fulfillment service created" in out
    retailer = get_retailer(world.engine, RETAILER)
    location = store.locations[int(retailer.target_location_id.rsplit("/", 1)[1])]
    assert location.fulfillment_service.handle == "lgl-sync"
    assert set_enabled(world.engine, RETAILER, True)
    product = store.add_product(
        "Fern", [{"sku": "LGL-0002", "price": "9", "ships_from": location.id}]
    )
    order = store.create_order(
        lines=[{"variant_id": product.variant_ids[0], "quantity": 2}],
        shipping_address=BUYER_ADDRESS,
    )
    actions.request_fulfillment(store, order)
    assert world.materialize(ORDERS).success
    assert f"gid://shopify/Order/{order.id}" in lgl_orders_by_source(world.sandbox)
    fo = store.fulfillment_orders[order.fulfillment_order_ids[0]]
    assert fo.request_status == "ACCEPTED"


def test_connect_reads_the_client_secret_only_from_an_apps_variable(world, keyed, monkeypatch):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER, api_token="app")
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", "shpat_lgl_secret_token")
    result = CliRunner().invoke(
        main,
        ["retailer", "connect", RETAILER, "--client-id", "x", "--client-secret-env",
         "SHOPIFY_LGL_TOKEN"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "LGL_APP_CLIENT_SECRET or SHOPIFY_NATIONWIDE_PLANTS_CLIENT_SECRET" in result.output
    assert "shpat_lgl_secret_token" not in result.output


def _callback(install: PendingInstall, **changes: str) -> dict[str, str]:
    params = {
        "code": "c0de",
        "shop": f"{RETAILER}.myshopify.com",
        "state": install.state,
        "timestamp": str(int(time.time())),
    }
    params.update(changes)
    signed = signed_query({k: v for k, v in params.items() if k != "hmac"}, SECRET)
    return {**signed, **({"hmac": changes["hmac"]} if "hmac" in changes else {})}


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"hmac": "0" * 64}, "HMAC"),
        ({"state": "someone-elses"}, "state"),
        ({"shop": "evil.example.com"}, "shop"),
        ({"shop": "other-store.myshopify.com"}, "shop"),
        ({"timestamp": "1000"}, "timestamp"),
    ],
)
def test_an_install_callback_is_refused_unless_everything_checks_out(world, keyed, bad, reason):
    seed(world.sandbox, normal=1)
    retailer = world.add_retailer(RETAILER, api_token="app")
    install = PendingInstall(retailer, "lgl-app", SECRET, "http://127.0.0.1:9/oauth/callback")
    assert verify(install, _callback(install)) == "c0de"
    with pytest.raises(InstallError, match=reason):
        verify(install, _callback(install, **bad))


def test_a_replayed_or_expired_code_is_refused_by_the_token_endpoint(world, keyed):
    seed(world.sandbox, normal=1)
    store = world.sandbox.store(RETAILER)
    store.grants.apps["lgl-app"] = App("lgl-app", SECRET)
    domain = world.sandbox.domain(RETAILER)
    _install(world, RETAILER)  # one code issued and used
    store.grants.codes["old-code"] = ("lgl-app", world.sandbox.clock.monotonic() - 1)
    form = {"client_id": "lgl-app", "client_secret": SECRET}
    with pytest.raises(AuthError, match="invalid_grant"):
        exchange(domain, {**form, "code": "old-code"})  # expired
    issued = requests.get(
        f"{domain}/admin/oauth/authorize?"
        + urlencode(
            {"client_id": "lgl-app", "redirect_uri": "http://127.0.0.1:9/cb", "state": "s"}
        ),
        allow_redirects=False,
        timeout=5,
    )
    fresh = dict(parse_qsl(urlparse(issued.headers["Location"]).query))["code"]
    assert exchange(domain, {**form, "code": fresh})["access_token"]
    with pytest.raises(AuthError, match="invalid_grant"):
        exchange(domain, {**form, "code": fresh})  # replayed


def test_health_warns_two_weeks_before_a_refresh_token_expires(world, keyed, monkeypatch):
    seed(world.sandbox, normal=1)
    _connect(world, RETAILER)
    domain = world.sandbox.domain(RETAILER)
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    assert credentials.expiring(world.engine) == []  # 90 days left
    with world.engine.begin() as connection:
        connection.execute(
            sa.update(store_credentials).values(
                refresh_expires_at=datetime.now(UTC) + timedelta(days=10)
            )
        )
    result = CliRunner().invoke(main, ["health"])
    assert result.exit_code == 1
    assert f"{domain}: the app's refresh token expires" in result.output
    assert SECRET not in result.output


def test_a_disabled_retailers_token_is_renewed_before_its_refresh_token_lapses(world, keyed):
    """Nobody syncs a disabled retailer, so nothing would use its refresh token: the daily
    token_upkeep job renews every token whose refresh token expires within
    LGL_TOKEN_UPKEEP_DAYS, and a store Shopify refuses is named without stopping the others."""
    from lgl_sync.defs.resources import ControlPlaneResource
    from lgl_sync.defs.tokens import token_upkeep

    seed(world.sandbox, normal=1)
    _connect(world, RETAILER)
    world.add_retailer(RETAILER, api_token="app", enabled=False)
    soon = datetime.now(UTC) + timedelta(days=20)
    with world.engine.begin() as connection:
        connection.execute(sa.update(store_credentials).values(refresh_expires_at=soon))
    before = credentials.status(world.engine, world.sandbox.domain(RETAILER))
    resources = {"control_plane": ControlPlaneResource(database_url=world.database_url)}
    result = token_upkeep.execute_in_process(resources=resources, instance=world.instance)
    assert result.success
    after = credentials.status(world.engine, world.sandbox.domain(RETAILER))
    assert after.refresh_expires_at > datetime.now(UTC) + timedelta(days=80)
    assert after.expires_at != before.expires_at or after.refresh_expires_at != soon
    store = world.sandbox.store(RETAILER)
    token = StoredTokens(world.engine, world.sandbox.domain(RETAILER)).current()
    assert store.authorized(token)  # the renewed token works
    # Far from expiry: left alone. A refused renewal fails the run, naming the store.
    assert token_upkeep.execute_in_process(resources=resources, instance=world.instance).success
    store.grants.refresh.clear()  # Shopify no longer knows the refresh token
    with world.engine.begin() as connection:
        connection.execute(sa.update(store_credentials).values(refresh_expires_at=soon))
    failed = token_upkeep.execute_in_process(
        resources=resources, instance=world.instance, raise_on_error=False
    )
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert world.sandbox.domain(RETAILER) in message and "retailer connect" in message
    assert SECRET not in message
