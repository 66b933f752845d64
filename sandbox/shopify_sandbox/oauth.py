"""Shopify's token endpoint and app install, as the sandbox serves them.

- ``GET /stores/<handle>/admin/oauth/authorize?client_id&scope&redirect_uri&state`` — the
  merchant approves the install at once; the answer is a redirect to ``redirect_uri`` with
  ``code``, ``hmac``, ``shop``, ``state`` and ``timestamp``, the HMAC-SHA256 of the sorted query
  with the app's secret (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant).
  A code is good once, for 60 seconds on the store's clock.
- ``POST /stores/<handle>/admin/oauth/access_token`` (JSON or form) — grants:
  - ``authorization_code`` (a ``code``): an offline token; with ``expiring=1`` it lasts 3600 s
    and comes with a refresh token that lasts 90 days
    (https://shopify.dev/changelog/offline-access-tokens-now-support-expiry-and-refresh);
  - ``refresh_token``: a new access token and a new refresh token. The refresh token used stays
    valid until its replacement is used, for at most 30 days
    (https://shopify.dev/changelog/more-resilient-refreshes-for-expiring-offline-access-tokens);
  - ``client_credentials``: a 24-hour token (``expires_in`` 86399), only for an app of the
    store's own organisation
    (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/client-credentials-grant).
  A wrong client, secret, code or refresh token answers 400/401 with Shopify's error names.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ACCESS_SECONDS = 3600
CLIENT_CREDENTIALS_SECONDS = 86399
REFRESH_SECONDS = 90 * 24 * 3600
PREVIOUS_REFRESH_SECONDS = 30 * 24 * 3600
CODE_SECONDS = 60


@dataclass
class App:
    """An app LGL made in the Dev Dashboard, as a store knows it."""

    client_id: str
    secret: str
    same_organization: bool = False  # the client-credentials grant works only then
    old_secret: str | None = None  # during a secret rotation


@dataclass
class Grants:
    """A store's apps and what it has issued to them (times on the store's clock)."""

    apps: dict[str, App] = field(default_factory=dict)
    tokens: dict[str, float | None] = field(default_factory=dict)  # token -> expires (None: never)
    owners: dict[str, str] = field(default_factory=dict)  # token -> the app's client ID
    codes: dict[str, tuple[str, float]] = field(default_factory=dict)  # code -> (client, expires)
    # refresh token -> (client, expires, replaced_by); the replaced one lives until its
    # replacement is used
    refresh: dict[str, tuple[str, float, str | None]] = field(default_factory=dict)

    def valid(self, token: str | None, now: float) -> bool:
        if token is None or token not in self.tokens:
            return False
        expires = self.tokens[token]
        return expires is None or now < expires


def _error(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


def signed_query(params: dict[str, str], secret: str) -> dict[str, str]:
    """``params`` with Shopify's ``hmac``: hex HMAC-SHA256 of the other params, sorted."""
    message = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {**params, "hmac": digest}


def authorize(store: Any, query: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
    """The merchant approves at once: a redirect URL carrying the code."""
    app = store.grants.apps.get(query.get("client_id", ""))
    if app is None or not query.get("redirect_uri"):
        return 400, "Oauth error invalid_request: The client_id or redirect_uri is missing or wrong"
    code = secrets.token_hex(16)
    store.grants.codes[code] = (app.client_id, store.clock.monotonic() + CODE_SECONDS)
    params = {
        "code": code,
        "shop": store.shop_domain,
        "state": query.get("state", ""),
        "timestamp": str(int(time.time())),
        "host": "sandbox",
    }
    return 302, {
        "location": query["redirect_uri"] + "?" + urlencode(signed_query(params, app.secret))
    }


def access_token(store: Any, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The token endpoint: one of the three grants."""
    grants, now = store.grants, store.clock.monotonic()
    app = grants.apps.get(form.get("client_id", ""))
    if app is None or form.get("client_secret") not in (app.secret, app.old_secret):
        return _error(401, "invalid_client", "Client authentication failed")
    kind = form.get("grant_type") or ("authorization_code" if form.get("code") else "")
    if kind == "client_credentials":
        if not app.same_organization:
            return _error(400, "unauthorized_client", "The app is not in this store's organization")
        return 200, _issue(store, app, CLIENT_CREDENTIALS_SECONDS, refresh=False)
    if kind == "authorization_code":
        issued = grants.codes.pop(form.get("code", ""), None)
        if issued is None or issued[0] != app.client_id or issued[1] < now:
            return _error(400, "invalid_grant", "The authorization code is invalid or expired")
        expiring = str(form.get("expiring", "0")) == "1"
        return 200, _issue(store, app, ACCESS_SECONDS if expiring else None, refresh=expiring)
    if kind == "refresh_token":
        return _refreshed(store, app, form.get("refresh_token", ""), now)
    return _error(400, "unsupported_grant_type", f"grant_type {kind!r} is not supported")


def _refreshed(store: Any, app: App, refresh_token: str, now: float) -> tuple[int, dict]:
    grants = store.grants
    known = grants.refresh.get(refresh_token)
    if known is None or known[0] != app.client_id or known[1] < now:
        return _error(400, "invalid_grant", "The refresh token is invalid or expired")
    replaced_by = known[2]
    if replaced_by is not None and grants.refresh.get(replaced_by, ("", 0, None))[2] is not None:
        # its replacement has been used since: the old one is gone
        grants.refresh.pop(refresh_token, None)
        return _error(400, "invalid_grant", "The refresh token is invalid or expired")
    answer = _issue(store, app, ACCESS_SECONDS, refresh=True)
    # Using a replacement retires its predecessor; the one used now lives on (at most 30
    # days) until its own replacement is used.
    for token, (_client, _expires, successor) in list(grants.refresh.items()):
        if successor == refresh_token:
            grants.refresh.pop(token)
    grants.refresh[refresh_token] = (
        app.client_id,
        min(known[1], now + PREVIOUS_REFRESH_SECONDS),
        answer["refresh_token"],
    )
    return 200, answer


def _issue(store: Any, app: App, seconds: float | None, *, refresh: bool) -> dict[str, Any]:
    now = store.clock.monotonic()
    token = "shpat_" + secrets.token_hex(16)
    store.grants.tokens[token] = None if seconds is None else now + seconds
    store.grants.owners[token] = app.client_id
    answer: dict[str, Any] = {"access_token": token, "scope": ",".join(store.scopes)}
    if seconds is not None:
        answer["expires_in"] = int(seconds)
    if refresh:
        refresh_token = "shprt_" + secrets.token_hex(16)
        store.grants.refresh[refresh_token] = (app.client_id, now + REFRESH_SECONDS, None)
        answer["refresh_token"] = refresh_token
        answer["refresh_token_expires_in"] = REFRESH_SECONDS
    return answer
