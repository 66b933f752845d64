"""Installing LGL's app in a retailer's store (the authorization-code grant).

The install link carries a random ``state``; Shopify sends the merchant back to the callback
with ``code``, ``shop``, ``state``, ``timestamp`` and ``hmac``, the hex HMAC-SHA256 of the other
parameters (sorted, ``key=value`` joined by ``&``) keyed with the app's secret. The callback is
accepted only when the HMAC matches (compared in constant time), the state is the one issued,
the shop is the retailer's ``*.myshopify.com`` domain and the timestamp is recent; then the code
is exchanged once for an expiring offline token and its refresh token, stored encrypted
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import credentials
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.domains import MYSHOPIFY, store_domain
from lgl_sync.shopify.scopes import (
    FLOW_OPERATIONS,
    MODEL_SCOPES,
    RETAILER,
    flow_operations,
    table,
)
from lgl_sync.shopify.tokens import exchange

MAX_CALLBACK_AGE_SECONDS = 24 * 3600


class InstallError(ValueError):
    """A callback that is refused; the message says why, never a secret."""


def shop_of(domain: str) -> str:
    """The ``*.myshopify.com`` name Shopify reports for a store domain (for the sandbox's local
    URL ``.../stores/<handle>``, ``<handle>.myshopify.com``)."""
    value = store_domain(domain)
    if value.startswith(("http://", "https://")):
        return value.rstrip("/").rsplit("/", 1)[-1] + ".myshopify.com"
    return value


def wanted_scopes(retailer: Retailer) -> list[str]:
    """The scopes to request: for each need of each enabled flow at the retailer's store, the
    first scope Shopify lists (write scopes grant their reads, so reads already met are
    dropped)."""
    chosen: list[str] = []
    for flow in FLOW_OPERATIONS:
        if not getattr(retailer, flow):
            continue
        scope = MODEL_SCOPES[retailer.location_model].get(flow)
        if scope and scope not in chosen:
            chosen.append(scope)  # the fulfillment-order scope that reaches LGL's location
        for operation in flow_operations(flow, RETAILER, retailer.location_model):
            for anyof in table().get(operation, {}).values():
                if not any(s in chosen for s in anyof):
                    chosen.append(anyof[0])
    writes = {s.removeprefix("write_") for s in chosen if s.startswith("write_")}
    return sorted(s for s in chosen if not (s.startswith("read_") and s[5:] in writes))


@dataclass
class PendingInstall:
    """One install in progress: what the callback must match."""

    retailer: Retailer
    client_id: str
    client_secret: str
    redirect_uri: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __repr__(self) -> str:  # never the secret
        return f"PendingInstall({self.retailer.id})"

    def link(self) -> str:
        base = store_domain(self.retailer.domain)
        base = base if base.startswith(("http://", "https://")) else f"https://{base}"
        query = {
            "client_id": self.client_id,
            "scope": ",".join(wanted_scopes(self.retailer)),
            "redirect_uri": self.redirect_uri,
            "state": self.state,
        }
        return f"{base}/admin/oauth/authorize?{urlencode(query)}"


def verify(install: PendingInstall, query: dict[str, str], now: float | None = None) -> str:
    """The callback's code, once its HMAC, state, shop and timestamp all check out."""
    message = "&".join(f"{k}={query[k]}" for k in sorted(query) if k not in ("hmac", "signature"))
    digest = hmac.new(install.client_secret.encode(), message.encode(), hashlib.sha256)
    if not hmac.compare_digest(digest.hexdigest(), query.get("hmac", "")):
        raise InstallError("the callback's HMAC does not match the app's secret")
    if not hmac.compare_digest(query.get("state", ""), install.state):
        raise InstallError("the callback's state is not the one this install issued")
    shop = query.get("shop", "")
    if not MYSHOPIFY.match(shop) or shop != shop_of(install.retailer.domain):
        raise InstallError(f"the callback names shop {shop[:80]!r}, not the retailer's store")
    try:
        age = (now or time.time()) - int(query.get("timestamp", "0"))
    except ValueError:
        age = MAX_CALLBACK_AGE_SECONDS + 1
    if age > MAX_CALLBACK_AGE_SECONDS or age < -300:  # five minutes of clock skew allowed
        raise InstallError("the callback's timestamp is too old or in the future")
    if not query.get("code"):
        raise InstallError("the callback carries no code")
    return query["code"]


def complete(engine: Engine, install: PendingInstall, query: dict[str, str]) -> None:
    """Verifies the callback, exchanges the code once and stores the tokens encrypted."""
    code = verify(install, query)
    answer = exchange(
        install.retailer.domain,
        {
            "client_id": install.client_id,
            "client_secret": install.client_secret,
            "code": code,
            "expiring": "1",
        },
    )
    credentials.save(
        engine,
        install.retailer.domain,
        grant=credentials.AUTHORIZATION_CODE,
        client_id=install.client_id,
        client_secret=install.client_secret,
        answer=answer,
    )
