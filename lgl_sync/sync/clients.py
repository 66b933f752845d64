"""Clients for the stores a sync talks to, built from configuration."""

from __future__ import annotations

import os
import threading

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import credentials
from lgl_sync.control_plane.credentials import StoredTokens
from lgl_sync.control_plane.database import create_engine, database_url
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.retailer import Retailer
from lgl_sync.secrets import SecretError, resolve_token, token_kind
from lgl_sync.shopify.client import DEFAULT_API_VERSION, ShopifyClient
from lgl_sync.shopify.errors import AuthError, ConfigError


def api_version() -> str:
    return os.environ.get("SHOPIFY_API_VERSION") or DEFAULT_API_VERSION


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def control_plane_engine(url: str | None = None) -> Engine:
    """The control plane's engine: one per URL per process, migrated once, whichever thread
    asks first (a run syncs several retailers at once)."""
    url = url or database_url()
    with _engines_lock:
        if url not in _engines:
            engine = create_engine(url)
            upgrade(engine)
            _engines[url] = engine
        return _engines[url]


def retailer_client(
    retailer: Retailer, *, engine: Engine | None = None, **settings: object
) -> ShopifyClient:
    """A client for a retailer's store. The token comes from its environment variable, is
    decrypted, or (``api_token: app``, a store connected by app install) is the installed app's
    token, kept and renewed in the control plane; never shown in an error."""
    try:
        if token_kind(retailer.api_token) == "app":
            tokens = StoredTokens(engine or control_plane_engine(), retailer.domain)
            return ShopifyClient(
                domain=retailer.domain, tokens=tokens, api_version=api_version(), **settings
            )
        token = resolve_token(retailer.api_token)
    except SecretError as exc:
        raise ConfigError(f"retailer {retailer.id}: {exc}") from None
    return ShopifyClient(domain=retailer.domain, token=token, api_version=api_version(), **settings)


def lgl_tokens(domain: str, client_id: str, client_secret: str, engine: Engine | None = None):
    """The LGL store reached by the client-credentials grant (its app is in LGL's own
    organisation): 24-hour tokens, kept and renewed in the control plane."""
    engine = engine or control_plane_engine()
    try:
        stored = credentials.status(engine, domain)
    except AuthError:
        stored = None
    if stored is None or stored.client_id != client_id:
        credentials.save(
            engine,
            domain,
            grant=credentials.CLIENT_CREDENTIALS,
            client_id=client_id,
            client_secret=client_secret,
        )
    return StoredTokens(engine, domain)


def lgl_client(**settings: object) -> ShopifyClient:
    """A client for the LGL store from SHOPIFY_LGL_DOMAIN and either SHOPIFY_LGL_TOKEN or
    SHOPIFY_LGL_CLIENT_ID + SHOPIFY_LGL_CLIENT_SECRET (the client-credentials grant)."""
    domain = os.environ.get("SHOPIFY_LGL_DOMAIN")
    token = os.environ.get("SHOPIFY_LGL_TOKEN")
    client_id = os.environ.get("SHOPIFY_LGL_CLIENT_ID")
    secret = os.environ.get("SHOPIFY_LGL_CLIENT_SECRET")
    if domain and client_id and secret:
        tokens = lgl_tokens(domain, client_id, secret)
        return ShopifyClient(domain=domain, tokens=tokens, api_version=api_version(), **settings)
    if not domain or not token:
        raise ConfigError(
            "SHOPIFY_LGL_DOMAIN and SHOPIFY_LGL_TOKEN (or SHOPIFY_LGL_CLIENT_ID and "
            "SHOPIFY_LGL_CLIENT_SECRET) must be set"
        )
    return ShopifyClient(domain=domain, token=token, api_version=api_version(), **settings)
