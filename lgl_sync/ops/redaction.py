"""Removes anything shaped like a secret from text: Shopify tokens, Mailgun keys, passwords in
URLs and ``key=value`` pairs, Authorization headers. Applied to every log record and to every
email before it leaves."""

from __future__ import annotations

import re

MASK = "[redacted]"

_PATTERNS = [
    # Shopify tokens and shared secrets: shpat_, shpca_, shppa_, shpss_, shptka_.
    re.compile(r"\bshp(?:at|ca|pa|ss|tka)_[A-Za-z0-9]{8,}"),
    # Mailgun private API keys: "key-" + 32 hex, and the newer "<32 hex>-<8 hex>-<8 hex>" form.
    re.compile(r"\bkey-[0-9a-f]{32}\b"),
    re.compile(r"\b[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}\b"),
    # Authorization / token headers, however they were formatted into a message.
    re.compile(
        r"(?i)((?:authorization|x-shopify-access-token|api[_-]?key|password|passwd|secret|"
        r"token)[\"']?\s*[:=]\s*[\"']?)(?:basic\s+|bearer\s+)?[^\s\"',;&}]+"
    ),
]
# user:password@ in any URL (postgresql://, smtp://, https://).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``[redacted]``."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\1{MASK}" if pattern.groups else MASK, text)
    return text
