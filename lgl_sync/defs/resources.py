"""Dagster resources: Shopify stores. Secrets come from the environment through ``dg.EnvVar``."""

import dagster as dg
from pydantic import Field

from lgl_sync.shopify.client import DEFAULT_API_VERSION, ShopifyClient


class ShopifyStoreResource(dg.ConfigurableResource):
    """One Shopify store (the LGL store); ``domain`` may be a sandbox base URL."""

    domain: str = Field(description="shop.myshopify.com, or a base URL such as the sandbox's")
    token: str = Field(description="Admin API access token; wire it with dg.EnvVar")
    api_version: str = DEFAULT_API_VERSION
    read_timeout: float = 30.0
    location_id: str | None = Field(
        default=None, description="Warehouse location GID; the store's primary location if unset"
    )

    def get_client(self) -> ShopifyClient:
        return ShopifyClient(
            domain=self.domain,
            token=self.token,
            api_version=self.api_version,
            read_timeout=self.read_timeout,
        )
