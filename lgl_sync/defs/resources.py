"""Dagster resources: Shopify stores and the control-plane database.

Secrets come from the environment through ``dg.EnvVar`` where resources are wired; a retailer's
token is looked up by partition key from the control plane, since partitions cannot each have
an environment variable.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import locks
from lgl_sync.control_plane.retailers import Retailer, get_retailer
from lgl_sync.flows import Flow
from lgl_sync.retailer import RetailerError
from lgl_sync.shopify.client import DEFAULT_API_VERSION, ShopifyClient
from lgl_sync.sync.clients import control_plane_engine, lgl_tokens, retailer_client


class ShopifyStoreResource(dg.ConfigurableResource):
    """One Shopify store (the LGL store); ``domain`` may be a sandbox base URL."""

    domain: str = Field(description="shop.myshopify.com, or a base URL such as the sandbox's")
    token: str = Field(default="", description="Admin API access token; wire it with dg.EnvVar")
    client_id: str = Field(
        default="", description="LGL's app (client-credentials grant), instead of a token"
    )
    client_secret: str = Field(default="", description="its secret; wire it with dg.EnvVar")
    database_url: str | None = Field(
        default=None, description="where its tokens are kept; the control plane's by default"
    )
    api_version: str = DEFAULT_API_VERSION
    read_timeout: float | None = None  # SHOPIFY_READ_TIMEOUT_SECONDS
    location_id: str | None = Field(
        default=None, description="Warehouse location GID; the store's primary location if unset"
    )

    def get_client(self) -> ShopifyClient:
        tokens = None
        if self.client_id and self.client_secret:
            engine = control_plane_engine(self.database_url)
            tokens = lgl_tokens(self.domain, self.client_id, self.client_secret, engine)
        return ShopifyClient(
            domain=self.domain,
            token=self.token or None,
            tokens=tokens,
            api_version=self.api_version,
            read_timeout=self.read_timeout,
        )


class ControlPlaneResource(dg.ConfigurableResource):
    """The control-plane database: retailers, ledgers, run history (migrated on first use)."""

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; LGL_DATABASE_URL or SQLite under DAGSTER_HOME"
    )

    def engine(self) -> Engine:
        return control_plane_engine(self.database_url)

    def retailer(self, retailer_id: str) -> Retailer:
        """The retailer of a partition; a Failure a person can act on when it is missing or
        its row is not valid (nothing is read from or written to its store then)."""
        try:
            found = get_retailer(self.engine(), retailer_id)
        except RetailerError as exc:
            raise dg.Failure(
                f"retailer {retailer_id} has an invalid row: {'; '.join(exc.problems)}",
                metadata={"error_category": "config"},
            ) from None
        if found is None:
            raise dg.Failure(
                f"no retailer {retailer_id} in the control plane",
                metadata={"error_category": "config"},
            )
        return found

    @contextmanager
    def flow_lock(self, retailer_id: str, flow: Flow, wait: float = 0.0) -> Iterator[None]:
        """This retailer and flow to this run alone while it writes (``locks.flow_lock``); a
        second run fails (at once, or after trying for ``wait`` seconds), saying so, and
        writes nothing."""
        try:
            with locks.flow_lock(self.engine(), retailer_id, flow, wait=wait):
                yield
        except locks.FlowBusyError as exc:
            raise dg.Failure(str(exc), metadata={"error_category": "busy"}) from None

    def active_retailer(self, retailer_id: str, flow: Flow) -> Retailer | None:
        """The retailer of a partition when it is enabled and ``flow`` is on for it; None
        otherwise, and then nothing may be read from or written to its store (a backfill over
        every partition reaches disabled retailers too)."""
        retailer = self.retailer(retailer_id)
        return retailer if retailer.enabled and flow.enabled_for(retailer) else None


def takeover(seconds: int | None) -> float:
    """A run's take-over window: its launchpad setting, else LGL_TAKEOVER_SECONDS."""
    return float(seconds) if seconds is not None else settings.takeover_seconds()


def idle(retailer_id: str, flow: Flow, value: Any) -> dg.MaterializeResult:
    """The result of a per-retailer asset that had nothing to do, saying why."""
    return dg.MaterializeResult(
        value=value,
        metadata={
            "dagster/row_count": 0,
            "skipped": f"{retailer_id} is disabled or its {flow} flow is off: its store was "
            "neither read nor written",
        },
    )


class RetailerStoresResource(dg.ConfigurableResource):
    """Clients for retailers' stores, built from their control-plane rows."""

    read_timeout: float | None = None  # SHOPIFY_READ_TIMEOUT_SECONDS
    database_url: str | None = Field(
        default=None, description="where installed apps' tokens are kept; the control plane's"
    )

    def client(self, retailer: Retailer) -> ShopifyClient:
        engine = control_plane_engine(self.database_url)
        return retailer_client(retailer, engine=engine, read_timeout=self.read_timeout)
