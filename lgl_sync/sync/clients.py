"""Clients for the stores a sync talks to, built from configuration."""

from __future__ import annotations

import os

from lgl_sync.retailer import Retailer
from lgl_sync.secrets import SecretError, resolve_token
from lgl_sync.shopify.client import DEFAULT_API_VERSION, ShopifyClient
from lgl_sync.shopify.errors import ConfigError


def api_version() -> str:
    return os.environ.get("SHOPIFY_API_VERSION") or DEFAULT_API_VERSION


def retailer_client(retailer: Retailer, **settings: object) -> ShopifyClient:
    """A client for a retailer's store; the token comes from its environment variable or is
    decrypted, and is never shown in an error."""
    try:
        token = resolve_token(retailer.api_token)
    except SecretError as exc:
        raise ConfigError(f"retailer {retailer.id}: {exc}") from None
    return ShopifyClient(domain=retailer.domain, token=token, api_version=api_version(), **settings)


def lgl_client(**settings: object) -> ShopifyClient:
    """A client for the LGL store from SHOPIFY_LGL_DOMAIN and SHOPIFY_LGL_TOKEN."""
    domain = os.environ.get("SHOPIFY_LGL_DOMAIN")
    token = os.environ.get("SHOPIFY_LGL_TOKEN")
    if not domain or not token:
        raise ConfigError("SHOPIFY_LGL_DOMAIN and SHOPIFY_LGL_TOKEN must be set")
    return ShopifyClient(domain=domain, token=token, api_version=api_version(), **settings)
