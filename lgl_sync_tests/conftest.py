"""Shared fixtures: the sandbox over real HTTP, Shopify's real schema, real Postgres."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import psycopg2
import pytest
import requests
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.server import SandboxServer

from lgl_sync.devkit.world import RETAILERS, generate, load_world, token_for
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync_tests.notify_fixtures import MAILGUN_KEY, SMTP_PASSWORD

REPO = Path(__file__).resolve().parents[1]
SCHEMA_NAME = "admin-2026-10.schema.json.gz"
SCHEMA_CANDIDATES = [
    os.environ.get("LGL_SHOPIFY_SCHEMA"),
    REPO.parent / "shared" / "shopify" / SCHEMA_NAME,
    Path.home() / ".cache" / "lgl-sync" / SCHEMA_NAME,
]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# The sandbox is served on this machine; production refuses local store URLs (tests that check
# the refusal turn this off for themselves).
os.environ["LGL_ALLOW_LOCAL_STORES"] = "true"
# Secrets that must never reach a log line; tests add the ones they invent.
SECRETS: set[str] = {
    *(token_for(h) for h in ("lgl", *(slug for slug, _ in RETAILERS))),
    SMTP_PASSWORD,
    MAILGUN_KEY,
}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # A record that cannot be formatted holds nothing to leak.
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[None]:
    """Every test: no log record, at any level and from any logger, holds a known secret."""
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    leaked = [line[:200] for line in capture.lines if any(s in line for s in SECRETS)]
    assert leaked == [], "a secret reached the logs"


@pytest.fixture(scope="session")
def real_schema() -> graphql.GraphQLSchema:
    """Shopify's real Admin schema (2026-10); skipped, with the reason, only if no copy."""
    for candidate in SCHEMA_CANDIDATES:
        if candidate and Path(candidate).exists():
            raw = gzip.decompress(Path(candidate).read_bytes())
            return graphql.build_client_schema(json.loads(raw)["data"])
    pytest.skip(
        "Shopify's real schema not found (set LGL_SHOPIFY_SCHEMA, or see "
        "../shared/shopify/README.md for `npm pack @shopify/dev-mcp@1.16.0`)"
    )


class SandboxHarness:
    """A sandbox served over HTTP, with helpers to build clients for its stores."""

    def __init__(self, engine: Sandbox, server: SandboxServer) -> None:
        self.engine = engine
        self.server = server
        self.clock = engine.clock

    def store(self, handle: str) -> Any:
        return self.engine.stores[handle]

    def domain(self, handle: str) -> str:
        return self.server.store_url(handle)

    def client(self, handle: str, **kwargs: Any) -> ShopifyClient:
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("seed", 7)
        return ShopifyClient(domain=self.domain(handle), token=token_for(handle), **kwargs)

    def raw(
        self,
        handle: str,
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        version: str = "2026-10",
        **headers: str,
    ) -> Any:
        """POSTs a GraphQL request as-is and returns the ``requests`` response."""
        return requests.post(
            f"{self.domain(handle)}/admin/api/{version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token or token_for(handle), **headers},
            timeout=30,
        )

    def load(self, **scenario: Any) -> None:
        load_world(self.engine, {"name": "default", **scenario})


@pytest.fixture
def sandbox() -> Iterator[SandboxHarness]:
    """A fresh sandbox with a small default scenario, on its own port."""
    engine = Sandbox(SandboxClock())
    load_world(engine, {"name": "default", "skus": 60, "orders": 12, "seed": 3})
    with SandboxServer(engine, generate=generate) as server:
        yield SandboxHarness(engine, server)


def _pg_base_url() -> str:
    return os.environ.get("LGL_TEST_DATABASE_URL") or DEFAULT_PG


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A reachable Postgres server URL. With CI=true, a missing server fails the run."""
    url = _pg_base_url()
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        message = f"no Postgres server at {url.split('@')[-1]}: {str(exc).strip()[:200]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty Postgres database for one test, dropped afterwards."""
    name = f"lgl_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_engine(request, tmp_path) -> Iterator[Any]:
    """The control-plane database, migrated, on SQLite and on a real Postgres server."""
    from lgl_sync.control_plane.database import create_engine
    from lgl_sync.control_plane.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'control.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    upgrade(engine)
    engine.lgl_url = url
    yield engine
    engine.dispose()


@dataclass
class World:
    """The sandbox plus a control plane with retailers pointing at it, and the resources a
    Dagster run needs."""

    sandbox: SandboxHarness
    database_url: str
    instance: Any

    @property
    def engine(self) -> Any:
        from lgl_sync.defs.resources import ControlPlaneResource

        return ControlPlaneResource(database_url=self.database_url).engine()

    def materialize(
        self,
        assets: list,
        *,
        partition: str = "nationwide-plants",
        config: dict | None = None,
        resources: dict | None = None,
    ) -> Any:
        """One Dagster run of ``assets`` for a retailer partition; ``config`` goes to every
        asset of the selection that takes it. Failures are returned, not raised."""
        import dagster as dg
        from dagster._core.storage.defs_state.base import set_defs_state_storage

        keys = [
            k.to_user_string() for a in assets if isinstance(a, dg.AssetsDefinition) for k in a.keys
        ]
        # Dagster's `with instance:` sets the current definitions-state storage and never
        # resets it (DagsterInstance.__exit__ disposes without closing its exit stack): a run
        # could find an earlier test's instance there, gone. This run's instance, explicitly.
        with set_defs_state_storage(self.instance.defs_state_storage):
            return dg.materialize(
                assets,
                partition_key=partition,
                instance=self.instance,
                resources=resources or self.resources(),
                run_config={"ops": {k: {"config": config} for k in keys}} if config else None,
                raise_on_error=False,
            )

    def resources(self) -> dict[str, Any]:
        from lgl_sync.defs.alerts import NotifierResource
        from lgl_sync.defs.resources import (
            ControlPlaneResource,
            RetailerStoresResource,
            ShopifyStoreResource,
        )

        return {
            "notifier": NotifierResource(email_to="ops@lgl.example"),
            "lgl_shopify": ShopifyStoreResource(
                domain=self.sandbox.domain("lgl"), token=token_for("lgl")
            ),
            "control_plane": ControlPlaneResource(database_url=self.database_url),
            "retailer_stores": RetailerStoresResource(
                read_timeout=10, database_url=self.database_url
            ),
        }

    def add_retailer(self, handle: str, **overrides: Any) -> Any:
        from lgl_sync.control_plane.retailers import Retailer, add_retailer
        from lgl_sync.devkit.world import RETAILER_LGL_LOCATION

        store = self.sandbox.store(handle)
        location = next(
            loc for loc in store.locations.values() if loc.name == RETAILER_LGL_LOCATION
        )
        env = f"SHOPIFY_{handle.upper().replace('-', '_')}_TOKEN"
        os.environ[env] = token_for(handle)
        retailer = Retailer.parse(
            {
                "id": handle,
                "name": store.name,
                "domain": self.sandbox.domain(handle),
                "api_token": env,
                "target_location_id": str(location.id),
                "billing_email": f"billing@{handle}.example",
                "billing_first_name": "Accounts",
                "billing_last_name": store.name,
                "billing_address1": "1 Commerce St",
                "billing_city": "Austin",
                "billing_province": "TX",
                "billing_zip": "78701",
                "billing_country": "US",
                **overrides,
            }
        )
        add_retailer(self.engine, retailer)
        self.instance.add_dynamic_partitions("retailers", [handle])
        return retailer


@pytest.fixture
def world(sandbox, tmp_path) -> Iterator[World]:
    """Sandbox + SQLite control plane + a real Dagster instance (SQLite storage)."""
    import dagster as dg

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield World(sandbox, f"sqlite:///{tmp_path / 'control.db'}", instance)


@pytest.fixture(params=["sqlite", "postgres"])
def any_world(request, sandbox, tmp_path) -> Iterator[World]:
    """``world`` with its control plane on SQLite and on a real Postgres server."""
    import dagster as dg

    url = (
        f"sqlite:///{tmp_path / 'control.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield World(sandbox, url, instance)


@pytest.fixture
def daemon_env(sandbox, tmp_path, monkeypatch) -> dict[str, str]:
    """The environment the daemon's runs see: the sandbox's stores, a SQLite control plane,
    the schedules stopped (runs are launched by the test)."""
    from lgl_sync.devkit.wiring import sandbox_environment

    values = sandbox_environment(
        sandbox.engine, sandbox.server.url, f"sqlite:///{tmp_path / 'control.db'}"
    )
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LGL_SCHEDULES", "stopped")
    return values
