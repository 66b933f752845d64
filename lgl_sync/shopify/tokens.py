"""Where a client's access token comes from, and Shopify's token endpoint.

A static token (a legacy custom app's, from the environment) never changes. Tokens Shopify
issues to an app expire: the client-credentials grant's after 24 hours, an installed app's
expiring offline token after 60 minutes, with a refresh token
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens). A source
renews them before they expire and once after Shopify refuses one (``renewed``).
"""

from __future__ import annotations

from typing import Any, Protocol

import requests

from lgl_sync import settings
from lgl_sync.shopify.domains import store_domain
from lgl_sync.shopify.errors import AuthError, NetworkError


class TokenSource(Protocol):
    def current(self) -> str:
        """A token to send now (renewed first when it is about to expire)."""

    def renewed(self, rejected: str) -> str | None:
        """After Shopify refused ``rejected`` (401): a newer token, or None if none can be had."""


class StaticToken:
    """A token that never changes (a legacy custom app's, or a non-expiring offline token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def current(self) -> str:
        return self._token

    def renewed(self, rejected: str) -> str | None:
        return None

    def __repr__(self) -> str:  # never the token
        return "StaticToken(...)"


def token_url(domain: str) -> str:
    """``https://shop.myshopify.com/admin/oauth/access_token`` (or the sandbox's)."""
    value = store_domain(domain)
    base = value if value.startswith(("http://", "https://")) else f"https://{value}"
    return f"{base}/admin/oauth/access_token"


def exchange(domain: str, form: dict[str, str], session: Any = None) -> dict[str, Any]:
    """POSTs a grant to the store's token endpoint; Shopify's answer, or an AuthError naming
    Shopify's error (never a secret). Bounded by the Shopify timeouts; not retried here (the
    caller's run fails and the next one tries again)."""
    http = session or requests
    try:
        response = http.post(
            token_url(domain),
            json=form,
            timeout=(settings.connect_timeout(), settings.read_timeout()),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise NetworkError(f"{type(exc).__name__} calling the token endpoint") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or "access_token" not in answer:
        error = answer.get("error") or f"HTTP {response.status_code}"
        description = str(answer.get("error_description") or "")[:200]
        raise AuthError(
            f"the token endpoint refused the {form.get('grant_type', 'authorization_code')} "
            f"grant: {error}" + (f" ({description})" if description else ""),
            status=response.status_code,
        )
    return answer
