"""A retailer: the typed, validated model of one ``retailers`` row (DESIGN.md, "Retailers").

Plain data that the flows' rules read; storing and loading it is ``control_plane/retailers.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from lgl_sync.secrets import SecretError, token_kind
from lgl_sync.shopify.domains import store_domain
from lgl_sync.shopify.errors import ConfigError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LOCATION = re.compile(r"^(?:gid://shopify/Location/)?(\d+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$")
BILLING_ADDRESS = ("billing_address1", "billing_city", "billing_zip", "billing_country")
# Line breaks and other controls, and the bidirectional overrides that make text read other
# than it is (CVE-2021-42574): none belongs in a name, an email header or an address.
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
RESERVED_IDS = {"lgl"}  # SHOPIFY_LGL_TOKEN is the LGL store's own token
TEXT_FIELDS = {
    "name": 200,
    "billing_email": 254,
    "usage_copy_to": 254,
    "billing_first_name": 100,
    "billing_last_name": 100,
    "billing_phone": 40,
    "billing_address1": 255,
    "billing_address2": 255,
    "billing_city": 100,
    "billing_province": 100,
    "billing_zip": 20,
    "billing_country": 64,
    "ship_methods": 2000,
}


def token_variable(retailer_id: str) -> str:
    """The one environment variable a retailer's token may be read from."""
    return f"SHOPIFY_{retailer_id.upper().replace('-', '_')}_TOKEN"


def client_secret_variables(retailer_id: str) -> tuple[str, str]:
    """The variables an app's client secret may be read from for this retailer: LGL's app's,
    or the retailer's own app's (one custom-distribution app per store). Never another secret
    (a token would be sent to the store's token endpoint as if it were the secret)."""
    return (
        "LGL_APP_CLIENT_SECRET",
        f"SHOPIFY_{retailer_id.upper().replace('-', '_')}_CLIENT_SECRET",
    )


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
    # What target_location_id is: merchant_managed (an ordinary location the retailer routes
    # orders to) or fulfillment_service (LGL's fulfillment service: only requested orders).
    location_model: Literal["merchant_managed", "fulfillment_service"] = "merchant_managed"
    # Stock insight: a SKU is low under this many days of cover at LGL; a reorder suggestion
    # brings it to reorder_cover_days. The monthly usage report is copied here when set.
    low_stock_days: int = 14
    reorder_cover_days: int = 30
    usage_copy_to: str | None = None
    # The retailer's shipping services mapped to LGL's carrier services, by the service code
    # or shipping-line code or title the customer chose: "EXPRESS=UPS Next Day Air;
    # Standard=USPS Ground Advantage". Unmapped services reach LGL under their own name.
    ship_methods: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value) or len(value) > 64:
            raise ValueError("must be a lowercase slug such as nationwide-plants")
        if value in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved for the LGL store")
        return value

    @field_validator(*TEXT_FIELDS)
    @classmethod
    def _text(cls, value: str | None, info) -> str | None:
        if value is None:
            return None
        limit = TEXT_FIELDS[info.field_name]
        if len(value) > limit:
            raise ValueError(f"is longer than {limit} characters")
        if UNSAFE_TEXT.search(value):
            raise ValueError("contains a line break, a control or a bidirectional character")
        if info.field_name == "name" and not value:
            raise ValueError("must not be empty")
        return value or None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        try:
            return store_domain(value)
        except ConfigError as exc:
            raise ValueError(exc.args[0]) from None

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: str, info) -> str:
        if not value:
            raise ValueError("is missing")
        try:
            kind = token_kind(value)
        except SecretError as exc:
            raise ValueError(str(exc)) from None
        retailer_id = info.data.get("id")
        if kind == "env" and retailer_id and value != token_variable(retailer_id):
            raise ValueError(
                f"must be the variable {token_variable(retailer_id)} (or an encrypted token): "
                "a retailer's token is never read from another variable"
            )
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
        if not 0 <= value <= 100_000:
            raise ValueError("must be between 0 and 100000 units")
        return value

    @field_validator("low_stock_days", "reorder_cover_days")
    @classmethod
    def _days(cls, value: int) -> int:
        if not 1 <= value <= 365:
            raise ValueError("must be between 1 and 365 days")
        return value

    @field_validator("ship_methods")
    @classmethod
    def _ship_methods(cls, value: str | None) -> str | None:
        pairs = [p.split("=", 1) for p in (value or "").split(";") if p.strip()]
        if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            raise ValueError("must be RETAILER SERVICE=LGL SERVICE pairs separated by ;")
        return value or None

    def ship_method_map(self) -> dict[str, str]:
        """{retailer service, case-folded: LGL's service}."""
        pairs = [p.split("=", 1) for p in (self.ship_methods or "").split(";") if p.strip()]
        return {a.strip().casefold(): b.strip() for a, b in pairs}

    @field_validator("billing_email", "usage_copy_to")
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

    def onboarding_problems(self) -> list[str]:
        """What `retailer add`, `update` and `validate` refuse, beyond a valid row: every LGL
        order carries the retailer's billing address, so it is required while orders are
        imported (rows read at run time are not refused for it, so an adopted row keeps
        syncing while a person completes it)."""
        if self.import_orders and not self.billing_address1:
            return [
                "billing address is required when import_orders is on (every LGL order "
                "carries it): set " + ", ".join(BILLING_ADDRESS)
            ]
        return []

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


MAX_DEFINITION_BYTES = 64 * 1024


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML itself keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise RetailerError([f"{key}: is given twice"])
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def definition_from_yaml(raw: bytes) -> dict[str, Any]:
    """A retailer definition file as a mapping of column -> value, or RetailerError saying what
    is wrong with the file (size, encoding, YAML, duplicate keys, nesting)."""
    if len(raw) > MAX_DEFINITION_BYTES:
        raise RetailerError([f"the file is larger than {MAX_DEFINITION_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RetailerError([f"the file is not UTF-8 text (byte {exc.start})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise RetailerError([f"the file is not valid YAML{line}: {problem}"]) from None
    except RecursionError:
        raise RetailerError(["the file nests too deeply"]) from None
    if not isinstance(data, dict):
        raise RetailerError(["the definition must be a mapping of retailers columns"])
    problems = [
        f"{key}: must be a single value"
        for key, value in data.items()
        if isinstance(value, dict | list)
    ]
    problems += [f"{key!r}: a column name must be text" for key in data if not isinstance(key, str)]
    if problems:
        raise RetailerError(problems)
    return data
