"""Settings read from the environment, each parsed and checked in one place.

A bad value is refused with a message that names the variable, never a traceback. Every
setting is listed in ``SETTINGS`` with its default and meaning (the README's table follows it).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class SettingError(ValueError):
    """An environment variable with a value that cannot be used."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str


SETTINGS = {
    s.name: s
    for s in (
        Setting(
            "LGL_MAX_SLEEP_SECONDS",
            "60",
            "the longest single wait (Retry-After, throttle) before a call fails instead",
        ),
        Setting("SHOPIFY_CONNECT_TIMEOUT_SECONDS", "5", "how long a Shopify connection may take"),
        Setting("SHOPIFY_READ_TIMEOUT_SECONDS", "30", "how long Shopify may take to answer"),
        Setting(
            "LGL_TAKEOVER_SECONDS",
            "120",
            "how old a claim on a write must be before another run may take it over; longer "
            "than a connection, an answer and the longest single wait together",
        ),
        Setting(
            "LGL_UNCONFIRMED_MINUTES",
            "30",
            "how long an order whose create answer was lost may stay unfound before a person "
            "is told (it is never created a second time)",
        ),
        Setting(
            "LGL_WATERMARK_OVERLAP_MINUTES",
            "10",
            "how far before the last read's start the next read of changed orders begins (the "
            "search index lags writes)",
        ),
        Setting(
            "LGL_MAX_ORDER_AGE_HOURS",
            "168",
            "the oldest order a late change (payment, routing, release) can still bring in, "
            "counted back from the retailer's first run: older orders are never imported",
        ),
        Setting(
            "LGL_SWEEP_MINUTES",
            "60",
            "how often the order read also re-reads every order placed within the lookback, for "
            "what an index lag longer than the overlap hid",
        ),
        Setting(
            "LGL_IMPORT_CONCURRENCY",
            "8",
            "how many orders one retailer's import creates at LGL at once (1: one at a time); "
            "each keeps its own claim, so none is created twice",
        ),
        Setting(
            "LGL_BACKLOG_RESERVE",
            "0.5",
            "the share of the LGL store's API budget (its throttle bucket) an import of more than "
            "LGL_BACKLOG_ORDERS orders leaves unspent, so that other retailers' runs are never "
            "starved by one retailer's flash sale",
        ),
        Setting(
            "LGL_BACKLOG_ORDERS",
            "20",
            "from how many orders in one run a retailer's import counts as a backlog",
        ),
        Setting(
            "LGL_FULL_READ_HOURS",
            "24",
            "how often a retailer's pushback and duplicate check re-read their whole lookback at "
            "the shared LGL store; the runs between read only what changed since the last",
        ),
        Setting(
            "LGL_RETURNS_LOOKBACK_DAYS",
            "30",
            "how far back (by last change) a full read looks for retailer returns of goods LGL "
            "shipped; the reads between take what changed since the last",
        ),
        Setting(
            "LGL_PII_RETENTION_DAYS",
            "30",
            "days after a retailer is disabled (by hand or by the app's uninstall) until the "
            "personal data LGL Sync still holds for it is purged",
        ),
        Setting(
            "LGL_PICK_WINDOW_MINUTES",
            "60",
            "an LGL order open longer than this may be on a picker's list: a cancellation that "
            "arrives later emails the warehouse (LGL_WAREHOUSE_EMAIL) at once",
        ),
        Setting(
            "LGL_WAREHOUSE_EMAIL",
            "",
            "who on the warehouse floor is told at once about a late cancellation "
            "(comma-separated; empty: EMAIL_TO)",
        ),
        Setting(
            "LGL_BILLING_EMAIL",
            "",
            "who receives each retailer's monthly usage report, CSV and XLSX attached, on the "
            "first of the month (comma-separated; empty: EMAIL_TO). A retailer gets a copy "
            "only when its usage_copy_to is set",
        ),
        Setting(
            "LGL_STOCK_EMAIL",
            "",
            "who receives the daily low-stock list of each retailer when it changed "
            "(comma-separated; empty: EMAIL_TO)",
        ),
        Setting(
            "LGL_HISTORY_RETENTION_DAYS",
            "400",
            "how long the order, shipment and stock history that reports stand on is kept "
            "(at least 60 days: forecasts read 8 weeks; 400 keeps a year of monthly usage)",
        ),
        Setting(
            "LGL_HELD_REMINDER_HOURS",
            "1,4,24,72",
            "how long an order has been held (unknown SKU...) when a person is reminded: one "
            "email at each step, then none until it is released or dismissed",
        ),
        Setting(
            "LGL_UNSUBMITTED_HOURS",
            "24",
            "at LGL's fulfillment service: how long a paid order may wait with nobody asking LGL "
            "to ship it before a person is told (one email per set of orders)",
        ),
        Setting(
            "LGL_FULFILLMENT_SERVICE_NAME",
            "LGL Sync",
            "the name of LGL's fulfillment service in a retailer's store (`retailer connect "
            "--location-model fulfillment_service` creates it; `validate` looks for it)",
        ),
        Setting(
            "LGL_TOKEN_UPKEEP_DAYS",
            "30",
            "the daily token_upkeep job renews an installed app's token once its refresh token "
            "expires within this many days (a disabled retailer's too)",
        ),
        Setting(
            "SLACK_WEBHOOK_URL",
            "",
            "a Slack incoming webhook (https://hooks.slack.com/services/...): every notice sent "
            "by email is also posted there (a secret: from the environment only)",
        ),
        Setting(
            "LGL_HANDOFF_RETENTION_HOURS",
            "72",
            "how long what one asset hands the next (orders read, with customers' addresses) "
            "stays in the control plane's asset_handoffs table",
        ),
        Setting(
            "LGL_APP_CLIENT_ID",
            "",
            "LGL's app (Dev Dashboard): the client ID `lgl-sync retailer connect` installs",
        ),
        Setting(
            "LGL_APP_CLIENT_SECRET",
            "",
            "that app's client secret (a secret: from the environment only)",
        ),
        Setting(
            "LGL_SECRET_KEY",
            "",
            "the Fernet key stored secrets are encrypted with (`lgl-sync retailer new-key`); "
            "comma-separated keys rotate: the first encrypts, every one decrypts "
            "(`lgl-sync secrets rotate` re-encrypts under the first; then drop the old)",
        ),
        Setting(
            "LGL_APP_PREVIOUS_CLIENT_SECRET",
            "",
            "the app's client secret before a rotation: webhooks signed with it are still "
            "accepted (Shopify may use it for up to an hour); remove it after",
        ),
        Setting(
            "LGL_CARRIER_ALIASES",
            "",
            "LGL's carrier names that are not spelt as Shopify lists them, each mapped to "
            "Shopify's name: `FedEx Ground Economy=FedEx;Fed Ex=FedEx` (case, punctuation and "
            "service suffixes such as `UPS SurePost` are mapped without it)",
        ),
        Setting(
            "LGL_WEBHOOK_DEBOUNCE_SECONDS",
            "2",
            "how long the webhook sensor waits for a burst of deliveries to settle before one run",
        ),
        Setting(
            "LGL_WEBHOOK_RETENTION_DAYS",
            "7",
            "how long the webhook delivery log is kept",
        ),
        Setting(
            "LGL_PUBLIC_URL",
            "",
            "where Shopify sends a merchant back after an install (the app's redirect URL less "
            "/oauth/callback); empty: http://127.0.0.1:<port> of `retailer connect`",
        ),
        Setting(
            "LGL_MAX_PAGES", "2000", "the most pages one paginated read follows before it fails"
        ),
        Setting(
            "LGL_DB_CONNECT_TIMEOUT_SECONDS",
            "10",
            "how long a control-plane connection may take to open",
        ),
        Setting(
            "LGL_DB_STATEMENT_TIMEOUT_SECONDS",
            "60",
            "how long one control-plane statement or lock wait may take",
        ),
        Setting(
            "LGL_MAX_ZERO_SHARE",
            "0.2",
            "the largest share of a retailer's SKUs one inventory run may set to 0 without a "
            "person's `lgl-sync inventory allow-zero`",
        ),
        Setting(
            "LGL_RUN_LOCKS",
            "true",
            "true: a run holds a lock per retailer and flow while it writes (a Postgres advisory "
            "lock, which needs the direct connection or Supabase's session pooler on port "
            "5432; a file lock beside a SQLite database). The fenced claims keep every write "
            "single without it",
        ),
        Setting(
            "LGL_ALLOW_LOCAL_STORES",
            "false",
            "true: store domains may be http(s) URLs on this machine (the sandbox); never in "
            "production",
        ),
    )
}


def _raw(name: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or SETTINGS[name].default


def _parsed(name: str, parse: Callable[[str], T], expected: str) -> T:
    raw = _raw(name)
    try:
        return parse(raw)
    except ValueError:
        raise SettingError(f"{name} must be {expected}, not {raw[:40]!r}") from None


def _positive_number(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def _between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def max_sleep_seconds() -> float:
    return _parsed("LGL_MAX_SLEEP_SECONDS", _positive_number, "a positive number of seconds")


def max_pages() -> int:
    return int(_parsed("LGL_MAX_PAGES", _positive_number, "a positive number"))


def db_connect_timeout() -> int:
    return int(
        _parsed("LGL_DB_CONNECT_TIMEOUT_SECONDS", _positive_number, "a positive number of seconds")
    )


def db_statement_timeout() -> float:
    return _parsed(
        "LGL_DB_STATEMENT_TIMEOUT_SECONDS", _positive_number, "a positive number of seconds"
    )


def slack_url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why ``url`` is not a Slack incoming webhook LGL Sync will post to (None: it is)."""
    parts = urlsplit(url)
    if (
        parts.scheme == "https"
        and parts.hostname == "hooks.slack.com"
        and parts.path.startswith("/")
    ):
        return None
    if allow_local and parts.scheme in ("http", "https") and _loopback(parts.hostname or ""):
        return None  # a stand-in on this machine (tests, the demo)
    return "SLACK_WEBHOOK_URL must be an https://hooks.slack.com/services/... incoming webhook"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def slack_webhook_url() -> str:
    """SLACK_WEBHOOK_URL, checked: Slack's own host, or (LGL_ALLOW_LOCAL_STORES) this machine.
    The refusal never repeats the URL: its path is the credential."""
    url = _raw("SLACK_WEBHOOK_URL").strip()
    if url:
        problem = slack_url_problem(url, allow_local=allow_local_stores())
        if problem:
            raise SettingError(problem)
    return url


def allow_local_stores() -> bool:
    return _parsed("LGL_ALLOW_LOCAL_STORES", _flag, "true or false")


def run_locks() -> bool:
    return _parsed("LGL_RUN_LOCKS", _flag, "true or false")


def max_zero_share() -> float:
    return _parsed("LGL_MAX_ZERO_SHARE", _between(0, 1), "a share between 0 and 1")


def connect_timeout() -> float:
    return _parsed(
        "SHOPIFY_CONNECT_TIMEOUT_SECONDS", _positive_number, "a positive number of seconds"
    )


def read_timeout() -> float:
    return _parsed("SHOPIFY_READ_TIMEOUT_SECONDS", _positive_number, "a positive number of seconds")


def takeover_seconds() -> float:
    """How stale a claim must be before another run may take it over. A holder renews its claim
    right before every attempt, and one attempt plus one wait take at most connect + read +
    the longest sleep, so a claim this old is provably abandoned."""
    value = _parsed("LGL_TAKEOVER_SECONDS", _positive_number, "a positive number of seconds")
    floor = connect_timeout() + read_timeout() + max_sleep_seconds()
    if value <= floor:
        raise SettingError(
            f"LGL_TAKEOVER_SECONDS must be more than SHOPIFY_CONNECT_TIMEOUT_SECONDS + "
            f"SHOPIFY_READ_TIMEOUT_SECONDS + LGL_MAX_SLEEP_SECONDS = {floor:.0f}, not {value:.0f}"
        )
    return value


def watermark_overlap_minutes() -> float:
    return _parsed(
        "LGL_WATERMARK_OVERLAP_MINUTES", _between(0, 24 * 60), "a number of minutes, 0 to 1440"
    )


def max_order_age_hours() -> float:
    return _parsed("LGL_MAX_ORDER_AGE_HOURS", _between(1, 24 * 365), "a number of hours")


def import_concurrency() -> int:
    def whole(raw: str) -> int:
        return int(_between(1, 16)(str(int(raw))))

    return _parsed("LGL_IMPORT_CONCURRENCY", whole, "a whole number, 1 to 16")


def backlog_reserve() -> float:
    return _parsed("LGL_BACKLOG_RESERVE", _between(0, 0.9), "a share between 0 and 0.9")


def backlog_orders() -> int:
    def whole(raw: str) -> int:
        return int(_between(1, 100_000)(str(int(raw))))

    return _parsed("LGL_BACKLOG_ORDERS", whole, "a whole number, 1 to 100000")


def full_read_hours() -> float:
    return _parsed("LGL_FULL_READ_HOURS", _between(0, 30 * 24), "a number of hours, 0 to 720")


def returns_lookback_days() -> float:
    return _parsed("LGL_RETURNS_LOOKBACK_DAYS", _between(1, 365), "a number of days, 1 to 365")


def pii_retention_days() -> float:
    return _parsed("LGL_PII_RETENTION_DAYS", _between(0, 3650), "a number of days, 0 to 3650")


def sweep_minutes() -> float:
    return _parsed("LGL_SWEEP_MINUTES", _between(0, 7 * 24 * 60), "a number of minutes")


CRONS = {
    "LGL_ORDERS_CRON": "*/10 * * * *",
    "LGL_FULFILLMENTS_CRON": "5-59/10 * * * *",
    "LGL_INVENTORY_CRON": "*/5 * * * *",
    "NOTIFY_DIGEST_CRON": "0 7 * * *",
}
# With webhooks on (LGL_PUBLIC_URL set), the schedules are the reconciliation behind them and
# poll half as often by default; still well within the freshness windows (30, 30, 15 minutes).
WEBHOOK_CRONS = {
    "LGL_ORDERS_CRON": "*/20 * * * *",
    "LGL_FULFILLMENTS_CRON": "10-59/20 * * * *",
    "LGL_INVENTORY_CRON": "*/10 * * * *",
}


def default_cron(name: str) -> str:
    """A schedule's cadence when its variable is not set."""
    if os.environ.get("LGL_PUBLIC_URL", "").strip() and name in WEBHOOK_CRONS:
        return WEBHOOK_CRONS[name]
    return CRONS[name]


def cron(name: str) -> tuple[str, str | None]:
    """A schedule's cron from the environment: (the cron to use, the problem or None). A bad
    value never stops the code location from loading: its schedule keeps the default cadence,
    stopped, and the problem names the variable (the schedule's description, `health`)."""
    from dagster._utils.schedules import is_valid_cron_string

    default = default_cron(name)
    value = os.environ.get(name, "").strip() or default
    if is_valid_cron_string(value):
        return value, None
    return default, f"{name} must be a cron expression such as {default!r}, not {value[:40]!r}"


def cron_problems() -> list[str]:
    """Every schedule variable with a bad value, one line each (for `health`)."""
    return [problem for name in CRONS if (problem := cron(name)[1])]


def app_client_id() -> str:
    return _raw("LGL_APP_CLIENT_ID")


def app_client_secret() -> str:
    return _raw("LGL_APP_CLIENT_SECRET")


def secret_keys() -> list[str]:
    """LGL_SECRET_KEY's keys, newest first (empty when unset)."""
    return [k.strip() for k in _raw("LGL_SECRET_KEY").split(",") if k.strip()]


def previous_client_secret() -> str:
    return _raw("LGL_APP_PREVIOUS_CLIENT_SECRET")


def webhook_debounce_seconds() -> float:
    return _parsed("LGL_WEBHOOK_DEBOUNCE_SECONDS", _between(0, 300), "0 to 300 seconds")


def webhook_retention_days() -> float:
    return _parsed("LGL_WEBHOOK_RETENTION_DAYS", _between(1, 90), "1 to 90 days")


def public_url() -> str:
    return _raw("LGL_PUBLIC_URL").rstrip("/")


def pick_window_minutes() -> float:
    return _parsed("LGL_PICK_WINDOW_MINUTES", _between(0, 7 * 24 * 60), "a number of minutes")


def warehouse_emails() -> list[str]:
    return [a.strip() for a in _raw("LGL_WAREHOUSE_EMAIL").split(",") if a.strip()]


def _hours_list(value: str) -> tuple[float, ...]:
    steps = tuple(sorted(float(v) for v in value.split(",") if v.strip()))
    if not steps or steps[0] <= 0:
        raise ValueError(value)
    return steps


def held_reminder_hours() -> tuple[float, ...]:
    return _parsed(
        "LGL_HELD_REMINDER_HOURS", _hours_list, "comma-separated positive hours, e.g. 1,4,24"
    )


def handoff_retention_hours() -> float:
    return _parsed("LGL_HANDOFF_RETENTION_HOURS", _between(1, 24 * 90), "hours, 1 to 2160")


def history_retention_days() -> float:
    limits = _between(60, 3650)
    return _parsed("LGL_HISTORY_RETENTION_DAYS", limits, "a number of days between 60 and 3650")


def _addresses(name: str) -> list[str]:
    """Comma-separated addresses; empty: the caller's default (the notifier's EMAIL_TO)."""
    raw = _raw(name)
    return [a.strip() for a in raw.split(",") if a.strip()]


def billing_recipients() -> list[str]:
    return _addresses("LGL_BILLING_EMAIL")


def stock_recipients() -> list[str]:
    return _addresses("LGL_STOCK_EMAIL")


def token_upkeep_days() -> float:
    limits = _between(1, 89)
    return _parsed("LGL_TOKEN_UPKEEP_DAYS", limits, "a number of days between 1 and 89")


def unsubmitted_hours() -> float:
    return _parsed("LGL_UNSUBMITTED_HOURS", _positive_number, "a positive number of hours")


def fulfillment_service_name() -> str:
    name = _raw("LGL_FULFILLMENT_SERVICE_NAME").strip()
    if not name or len(name) > 255:
        raise SettingError("LGL_FULFILLMENT_SERVICE_NAME must be a name of 1 to 255 characters")
    return name


def fulfillment_service_handle() -> str:
    """The handle Shopify gives LGL's service: its name in lower case, words joined by -."""
    name = fulfillment_service_name().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in name).split())


def unconfirmed_minutes() -> float:
    limits = _between(0, float("inf"))
    return _parsed("LGL_UNCONFIRMED_MINUTES", limits, "a number of minutes, 0 or more")


def _aliases(raw: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in raw.split(";") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ValueError(raw)
    return {a.strip(): b.strip() for a, b in pairs}


def carrier_aliases() -> dict[str, str]:
    from lgl_sync.shopify.carriers import known  # the list Shopify's schema gives

    aliases = _parsed("LGL_CARRIER_ALIASES", _aliases, "NAME=SHOPIFY NAME pairs separated by ;")
    unknown = sorted(b for b in aliases.values() if b not in known())
    if unknown:
        raise SettingError(
            f"LGL_CARRIER_ALIASES maps to {unknown[0]!r}, which is not one of Shopify's tracking "
            "companies (case-sensitive; see lgl_sync/shopify/carriers.json)"
        )
    return aliases


# -- every setting at once ------------------------------------------------------------------------

# The accessors above: each raises SettingError naming its variable for a value it cannot use.
CHECKED = (
    max_sleep_seconds,
    max_pages,
    db_connect_timeout,
    db_statement_timeout,
    slack_webhook_url,
    allow_local_stores,
    run_locks,
    max_zero_share,
    connect_timeout,
    read_timeout,
    takeover_seconds,
    watermark_overlap_minutes,
    max_order_age_hours,
    sweep_minutes,
    pick_window_minutes,
    held_reminder_hours,
    token_upkeep_days,
    handoff_retention_hours,
    history_retention_days,
    unsubmitted_hours,
    fulfillment_service_name,
    unconfirmed_minutes,
    webhook_debounce_seconds,
    webhook_retention_days,
    carrier_aliases,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
API_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$|^unstable$")
_EMAIL = r"\s*[^@\s,]+@[^@\s,]+\.[A-Za-z]{2,}\s*"
EMAILS = re.compile(rf"^{_EMAIL}(,{_EMAIL})*$")


def _other_problems(env) -> list[str]:
    """Variables read outside this module, checked here too."""
    found = []

    def check(name: str, ok, expected: str) -> None:
        raw = env.get(name)
        if raw is not None and raw != "" and not ok(raw):
            found.append(f"{name} must be {expected}, not {raw[:40]!r}")

    check("LOG_LEVEL", lambda v: v.upper() in LOG_LEVELS, "one of " + ", ".join(LOG_LEVELS))
    for name in ("LOG_RETENTION_DAYS", "LOG_MAX_BYTES", "LOG_BACKUP_COUNT"):
        check(name, lambda v: v.isdigit(), "a whole number, 0 or more")
    for flow in ("ORDERS", "FULFILLMENTS", "INVENTORY"):
        check(f"LGL_FRESH_{flow}_MINUTES", lambda v: v.isdigit() and int(v) > 0, "minutes")
    check("SHOPIFY_API_VERSION", API_VERSION.match, "a Shopify API version such as 2026-10")
    check("LGL_SCHEDULES", lambda v: v.lower() in ("running", "stopped"), "running or stopped")
    check("NOTIFY_TIMEZONE", _zone, "an IANA time zone such as America/Chicago")
    check("NOTIFY_QUIET_HOURS", _quiet, "a window such as 22:00-07:00, or off")
    for name in ("NOTIFY_ACTIVITY_INTERVAL_MINUTES", "NOTIFY_ERROR_REPEAT_MINUTES"):
        check(name, lambda v: v.isdigit(), "a whole number of minutes")
    check("NOTIFY_FAILURES_BREAK_QUIET_HOURS", _is_flag, "true or false")
    for name in ("EMAIL_TO", "LGL_WAREHOUSE_EMAIL", "LGL_BILLING_EMAIL", "LGL_STOCK_EMAIL"):
        check(name, EMAILS.match, "comma-separated email addresses")
    check(
        "LGL_DATABASE_URL",
        lambda v: v.startswith(("sqlite://", "postgres://", "postgresql://", "postgresql+")),
        "a sqlite:// or postgresql:// URL",
    )
    return found


def _zone(value: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _quiet(value: str) -> bool:
    from datetime import time

    if value.strip().lower() in ("off", "none"):
        return True
    try:
        start, end = value.split("-")
        time.fromisoformat(start.strip())
        time.fromisoformat(end.strip())
    except ValueError:
        return False
    return True


def _is_flag(value: str) -> bool:
    try:
        _flag(value)
    except ValueError:
        return False
    return True


def problems(environ=None) -> list[str]:
    """One line per environment value LGL Sync cannot use, each naming its variable (the
    schedules' cron variables are ``cron_problems``: a bad one stops only its schedule)."""
    found = []
    for accessor in CHECKED:
        try:
            accessor()
        except SettingError as exc:
            found.append(str(exc))
    found += _other_problems(os.environ if environ is None else environ)
    return list(dict.fromkeys(found))  # one accessor may read another's variable
