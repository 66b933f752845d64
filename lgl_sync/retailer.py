"""A retailer: the typed, validated model of one ``retailers`` row (DESIGN.md, "Retailers").

Plain data that the flows' rules read; storing and loading it is ``control_plane/retailers.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from lgl_sync.secrets import SecretError, token_kind

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MYSHOPIFY = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
URL = re.compile(r"^https?://[\w.-]+(?::\d+)?(?:/[\w./-]*)?$")
LOCATION = re.compile(r"^(?:gid://shopify/Location/)?(\d+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$")
BILLING_ADDRESS = ("billing_address1", "billing_city", "billing_zip", "billing_country")


def location_gid(value: str | int | None) -> str | None:
    """A location id stored bare (``84385005803``) or as a GID, as a GID."""
    if value in (None, ""):
        return None
    match = LOCATION.match(str(value).strip())
    if not match:
        raise ValueError("must be a location id: 84385005803 or gid://shopify/Location/…")
    return f"gid://shopify/Location/{match.group(1)}"


class RetailerError(ValueError):
    """A retailer definition that cannot be used; ``problems`` name each field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Retailer(BaseModel):
    """One row of ``retailers``, validated. Location ids are normalised to GIDs."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str
    name: str
    domain: str
    api_token: str
    target_location_id: str | None = None
    lgl_location_id: str | None = None
    enabled: bool = True
    import_orders: bool = True
    push_fulfillments: bool = True
    sync_inventory: bool = True
    lookback_hours: int = 6
    fulfillment_lookback_hours: int = 72
    custom_include_note: bool = False
    custom_include_tags: bool = False
    billing_email: str | None = None
    billing_first_name: str | None = None
    billing_last_name: str | None = None
    billing_phone: str | None = None
    billing_address1: str | None = None
    billing_address2: str | None = None
    billing_city: str | None = None
    billing_province: str | None = None
    billing_zip: str | None = None
    billing_country: str | None = None
    inventory_safety_buffer: int = 0
    activate_missing_inventory: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value) or len(value) > 64:
            raise ValueError("must be a lowercase slug such as nationwide-plants")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.rstrip("/")
        if not (MYSHOPIFY.match(value.lower()) or URL.match(value)):
            raise ValueError(
                "must be a shop domain such as nationwide-plants.myshopify.com "
                "(or an http(s):// base URL for the sandbox)"
            )
        return value.lower() if MYSHOPIFY.match(value.lower()) else value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not value:
            raise ValueError("is missing")
        try:
            token_kind(value)
        except SecretError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("target_location_id", "lgl_location_id")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        return location_gid(value)

    @field_validator("lookback_hours")
    @classmethod
    def _lookback(cls, value: int) -> int:
        if not 1 <= value <= 720:
            raise ValueError("must be between 1 and 720 hours")
        return value

    @field_validator("fulfillment_lookback_hours")
    @classmethod
    def _fulfillment_lookback(cls, value: int) -> int:
        if not 1 <= value <= 2160:
            raise ValueError("must be between 1 and 2160 hours")
        return value

    @field_validator("inventory_safety_buffer")
    @classmethod
    def _buffer(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @field_validator("billing_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not EMAIL.match(value):
            raise ValueError("is not an email address")
        return value or None

    @model_validator(mode="after")
    def _complete(self) -> Retailer:
        given = [f for f in BILLING_ADDRESS if getattr(self, f)]
        if given and len(given) < len(BILLING_ADDRESS):
            missing = ", ".join(f for f in BILLING_ADDRESS if not getattr(self, f))
            raise ValueError(f"billing address is incomplete: {missing} missing")
        if self.enabled and not self.target_location_id:
            raise ValueError("target_location_id is required: it is the retailer's LGL location")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Retailer:
        """Validates a definition; raises RetailerError naming every bad field."""
        if not isinstance(data, dict):
            raise RetailerError(["the definition must be a mapping of retailers columns"])
        try:
            return cls(**{k: v for k, v in data.items() if v is not None or k in cls.model_fields})
        except ValidationError as exc:
            raise RetailerError([_describe(e) for e in exc.errors()]) from None
        except TypeError as exc:
            raise RetailerError([str(exc)]) from None

    def row(self) -> dict[str, Any]:
        return self.model_dump(exclude={"created_at", "updated_at"})


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error.get("loc", ())) or "retailer"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "is required"
    elif error.get("type") == "extra_forbidden":
        message = "is not a retailers column"
    elif error.get("type", "").endswith("_type") or error.get("type", "").endswith("_parsing"):
        message = f"has the wrong type: {message}"
    return f"{field}: {message}"


class DuplicateRetailerError(RetailerError):
    pass
