"""Which store domains LGL Sync will send a token to."""

from __future__ import annotations

import re

from lgl_sync import settings
from lgl_sync.shopify.errors import ConfigError

MYSHOPIFY = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
LOCAL_URL = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?(/[\w./-]*)?$")


def store_domain(domain: str) -> str:
    """A store's domain as LGL Sync accepts it: ``shop.myshopify.com`` (lower-cased); or, only
    when ``LGL_ALLOW_LOCAL_STORES`` is on (the sandbox), an http(s) URL on this machine. Any
    other host is refused, so no token is ever sent anywhere but Shopify."""
    value = (domain or "").strip().rstrip("/")
    if MYSHOPIFY.match(value.lower()):
        return value.lower()
    if LOCAL_URL.match(value) and settings.allow_local_stores():
        return value
    if LOCAL_URL.match(value):
        raise ConfigError(
            "a local store URL is allowed only with LGL_ALLOW_LOCAL_STORES=true (the sandbox)"
        )
    raise ConfigError("must be a shop domain such as nationwide-plants.myshopify.com")
