"""The error taxonomy the whole project reports with: every failure carries a category."""

from __future__ import annotations

from typing import Any

CATEGORIES = (
    "auth",
    "not_found",
    "throttled",
    "user_error",
    "validation",
    "network",
    "server",
    "config",
)


class ShopifyError(Exception):
    """A failed Shopify call. ``category`` is one of CATEGORIES; messages never hold secrets."""

    category = "server"

    def __init__(
        self,
        message: str,
        *,
        category: str | None = None,
        status: int | None = None,
        operation: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        if category is not None:
            self.category = category
        self.status = status
        self.operation = operation
        self.details = details

    def __str__(self) -> str:
        where = f" [{self.operation}]" if self.operation else ""
        return f"{self.category}{where}: {self.args[0]}"


class AuthError(ShopifyError):
    """401/403 or ACCESS_DENIED: the token is wrong, revoked or lacks a scope."""

    category = "auth"


class NotFoundError(ShopifyError):
    """404: wrong store address or an API version Shopify does not serve."""

    category = "not_found"


class ThrottledError(ShopifyError):
    """Still throttled after the client's throttle budget ran out."""

    category = "throttled"


class ValidationError(ShopifyError):
    """The request itself is wrong (GraphQL validation, cost over the cap, input too large)."""

    category = "validation"


class NetworkError(ShopifyError):
    category = "network"


class ServerError(ShopifyError):
    category = "server"


class ConfigError(ShopifyError):
    category = "config"


class AmbiguousOutcomeError(ShopifyError):
    """A non-idempotent mutation may or may not have been applied (timeout, 5xx, dropped
    connection after sending). Callers must reconcile before retrying, never retry blindly."""


class UserErrorsError(ShopifyError):
    """Shopify answered with ``userErrors``: the write was refused as a whole."""

    category = "user_error"

    def __init__(self, operation: str, user_errors: list[dict[str, Any]]) -> None:
        first = user_errors[0] if user_errors else {}
        message = "; ".join(
            f"{'.'.join(e.get('field') or []) or '-'}: {e.get('message')}"
            + (f" ({e['code']})" if e.get("code") else "")
            for e in user_errors
        )
        super().__init__(message or "user error", operation=operation, details=user_errors)
        self.user_errors = user_errors
        self.code = first.get("code")
