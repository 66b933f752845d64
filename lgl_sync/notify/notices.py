"""What people are told: failure, activity, recovery and digest notices, their subject lines
and their rendering through the Jinja2 templates (HTML and plain text)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

from lgl_sync import flows
from lgl_sync.flows import Flow
from lgl_sync.ops.redaction import redact

MAX_ERROR_LINES = 3

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("lgl_sync.notify", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Notice:
    """Something worth telling; the policy decides whether and when it becomes an email."""

    # failure activity recovery digest warehouse held unsubmitted compliance usage low_stock
    # anomaly
    kind: str
    subject: str
    context: dict[str, Any] = field(default_factory=dict)
    retailer_id: str | None = None
    flow: str | None = None
    fingerprint: str | None = None
    dedupe_key: str | None = None
    # Files sent with the email: (filename, MIME type, bytes); a chart is shown in the HTML
    # too when the template names it (cid:<filename>).
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    recipients: tuple[str, ...] = ()  # instead of the notifier's, when given


def _listed(kind: str, title: str, lines: list[str], **fields: Any) -> Notice:
    """A notice whose email is its title over a list of lines (the webhooks template)."""
    return Notice(kind=kind, subject=title, context={"title": title, "lines": lines}, **fields)


def _flow_title(flow: str | None) -> str:
    return flows.label(flow)


def short_error(message: str) -> str:
    """The first lines of an error, secrets removed: no stack traces in email."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return redact("\n".join(lines[:MAX_ERROR_LINES]))[:600]


def fingerprint(retailer_id: str | None, flow: str | None, category: str, message: str) -> str:
    """Identical errors share one: numbers and ids are ignored, so "3 of 40 orders failed" and
    "5 of 41 orders failed" collapse together."""
    first = (message or "").strip().splitlines()[0] if message and message.strip() else ""
    shape = re.sub(r"\d+", "#", first)[:200]
    return hashlib.sha256(f"{retailer_id}|{flow}|{category}|{shape}".encode()).hexdigest()[:16]


def failure_notice(
    *,
    retailer_id: str | None,
    retailer_name: str | None,
    flow: str | None,
    category: str,
    message: str,
    run_id: str,
    run_url: str,
    step: str | None,
) -> Notice:
    who = f"[{retailer_name or retailer_id}] " if (retailer_name or retailer_id) else "[LGL] "
    error = short_error(message)
    headline = error.splitlines()[0] if error else "the run failed"
    headline = headline.removeprefix(f"{category}: ")  # ShopifyError texts start with it
    return Notice(
        kind="failure",
        subject=f"{who}{_flow_title(flow)} failed: {category} — {headline[:90]}",
        context={
            "retailer": retailer_name or retailer_id or "LGL store",
            "flow": _flow_title(flow),
            "category": category,
            "error": error,
            "step": step,
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=flow,
        fingerprint=fingerprint(retailer_id, flow, category, message),
        dedupe_key=f"failure:{run_id}",
    )


def activity_summary(flow: str, numbers: dict[str, int]) -> str:
    """`12 imported, 1 held` — only the numbers that say something happened."""
    labels = {
        Flow.ORDERS: [
            ("imported", "imported"),
            ("held", "held"),
            ("failed", "failed"),
            ("cancelled", "cancelled at LGL after the retailer cancelled"),
            ("edited", "edited at LGL after the retailer's edit, refund or move"),
            ("edit_for_person", "changed at the retailer after LGL shipped: for you"),
            ("held_at_retailer", "on hold at LGL while the retailer holds them"),
            ("held_after_shipment", "cancelled after part shipped: the rest held for you"),
            ("shipped_before_cancel", "cancelled after shipping in full: for you"),
        ],
        Flow.FULFILLMENTS: [
            ("pushed", "shipments pushed"),
            ("tracking_updated", "tracking updated"),
            ("voided", "voided"),
            ("skipped", "skipped"),
        ],
        Flow.INVENTORY: [("skus_written", "SKUs updated"), ("conflicts_retried", "conflicts")],
    }[Flow(flow)]
    parts = [f"{numbers.get(key, 0)} {label}" for key, label in labels if numbers.get(key)]
    return ", ".join(parts)


def activity_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    flow: str,
    numbers: dict[str, int],
    reasons: dict[str, int],
    run_id: str,
    run_url: str,
    orders: list[dict] | None = None,
) -> Notice | None:
    """None when the run did nothing worth an email. ``orders``: the orders changed at the
    retailer and what became of them (order, lgl_order, outcome, detail)."""
    summary = activity_summary(flow, numbers)
    if not summary:
        return None
    return Notice(
        kind="activity",
        subject=f"[{retailer_name}] {_flow_title(flow)}: {summary}",
        context={
            "retailer": retailer_name,
            "flow": _flow_title(flow),
            "summary": summary,
            "numbers": {k: v for k, v in numbers.items() if v},
            "reasons": reasons,
            "orders": orders or [],
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=flow,
        dedupe_key=f"activity:{run_id}:{flow}",
    )


def recovery_notice(
    *, retailer_id: str, retailer_name: str, flow: str, run_id: str, run_url: str
) -> Notice:
    return Notice(
        kind="recovery",
        subject=f"[{retailer_name}] {_flow_title(flow)} recovered",
        context={
            "retailer": retailer_name,
            "flow": _flow_title(flow),
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=flow,
        dedupe_key=f"recovery:{run_id}:{flow}",
    )


def render(notice: Notice, repeats: int = 0) -> tuple[str, str, str]:
    """(subject, text, html) with every value passed through the redaction filter."""
    context = {k: redact(v) if isinstance(v, str) else v for k, v in notice.context.items()}
    context["repeats"] = repeats
    subject = redact(notice.subject)
    if repeats > 1:
        subject = f"{subject} ({repeats} times)"
    text = _env.get_template(f"{notice.kind}.txt").render(subject=subject, **context)
    html = _env.get_template(f"{notice.kind}.html").render(subject=subject, **context)
    return subject, text, html


def warehouse_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    orders: list[dict[str, str]],
    window: str,
    run_id: str,
    run_url: str,
) -> Notice:
    """Late cancellations for the warehouse floor: ``orders`` have lgl_order, order, what."""
    first = orders[0]["lgl_order"]
    return Notice(
        kind="warehouse",
        subject=f"[{retailer_name}] Pull from pick: {len(orders)} cancelled order(s), "
        f"first {first}",
        context={
            "retailer": retailer_name,
            "orders": orders,
            "window": window,
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=Flow.ORDERS.value,
        dedupe_key=f"warehouse:{retailer_id}:" + ",".join(sorted(o["lgl_order"] for o in orders)),
    )


def held_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    orders: list[dict[str, str]],
    step: str,
    run_id: str,
    run_url: str,
) -> Notice:
    """Orders held ``step`` or longer (one reminder per order and step: the dedupe key)."""
    return Notice(
        kind="held",
        subject=f"[{retailer_name}] {len(orders)} order(s) held for {step} or more",
        context={
            "retailer": retailer_name,
            "orders": orders,
            "step": step,
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=Flow.ORDERS.value,
        dedupe_key=f"held:{retailer_id}:{step}:" + ",".join(sorted(o["id"] for o in orders)),
    )


def unsubmitted_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    orders: list[dict[str, str]],
    hours: str,
    run_id: str,
    run_url: str,
) -> Notice:
    """Paid orders at LGL's fulfillment service that nobody asked LGL to ship (one email per
    set of orders: the dedupe key)."""
    return Notice(
        kind="unsubmitted",
        subject=f"[{retailer_name}] {len(orders)} paid order(s) not sent to LGL for {hours}",
        context={
            "retailer": retailer_name,
            "orders": orders,
            "hours": hours,
            "run_id": run_id,
            "run_url": run_url,
        },
        retailer_id=retailer_id,
        flow=Flow.ORDERS.value,
        dedupe_key=f"unsubmitted:{retailer_id}:" + ",".join(sorted(o["id"] for o in orders)),
    )


def compliance_notice(*, topic: str, title: str, lines: list[str], delivery: str) -> Notice:
    """A privacy webhook a person must see (once per delivery)."""
    return Notice(
        kind="compliance",
        subject=title,
        context={"topic": topic, "title": title, "lines": lines},
        dedupe_key=f"compliance:{delivery}",
    )


def webhook_notice(
    *, title: str, lines: list[str], retailer_id: str | None, dedupe_key: str
) -> Notice:
    """What Shopify's webhooks say a person must know: an app uninstalled, webhooks that
    stopped arriving (once per ``dedupe_key``)."""
    return _listed(
        "webhooks",
        title,
        lines,
        retailer_id=retailer_id,
        dedupe_key=dedupe_key,
    )


def not_shipped_notice(
    *, retailer_id: str, retailer_name: str, orders: list[dict[str, str]]
) -> Notice:
    """Orders whose items at LGL's location are a pickup, a local delivery or an in-store
    sale: not imported, and said once per order (the dedupe key)."""
    lines = [
        f"{o['order']}: {o['method'].replace('_', ' ').lower()} at the LGL location; "
        "LGL does not ship it"
        for o in orders
    ]
    lines.append(
        "Fulfil these at the store, or change the order's delivery to shipping and LGL imports it."
    )
    title = f"[{retailer_name}] {len(orders)} order(s) not shipped by LGL (pickup or local)"
    return _listed(
        "not_shipped",
        title,
        lines,
        retailer_id=retailer_id,
        flow=Flow.ORDERS.value,
        dedupe_key=f"not-shipped:{retailer_id}:" + ",".join(sorted(o["id"] for o in orders)),
    )


def discontinued_notice(*, retailer_name: str, skus: dict[str, str]) -> Notice:
    """SKUs LGL no longer sells (archived, or gone from its location), told once: the first
    retailer sync that found them took them to 0, and every retailer carrying them follows in
    the same cycle."""
    why = {"archived": "its product is archived at LGL", "gone": "no longer at LGL's location"}
    lines = [f"{sku}: {why.get(reason, reason)}" for sku, reason in sorted(skus.items())[:50]]
    if len(skus) > 50:
        lines.append(f"... and {len(skus) - 50} more")
    lines.append(
        f"Set to 0 at {retailer_name}, and at every other retailer carrying them in this cycle. "
        "If LGL sells one again, the next sync restores it."
    )
    title = f"{len(skus)} SKU(s) discontinued at LGL: retailers set to 0"
    return _listed(
        "discontinued",
        title,
        lines,
        flow=Flow.INVENTORY.value,
        dedupe_key="discontinued:" + ",".join(sorted(skus)),
    )


def returns_notice(
    *, retailer_id: str, retailer_name: str, received: list[dict], recipients: tuple[str, ...]
) -> Notice:
    """Returns LGL's warehouse has taken in, told to the retailer once (the dedupe key):
    what came back into stock and what did not."""
    words = {
        "RESTOCKED": "back in stock",
        "NOT_RESTOCKED": "not restocked",
        "MISSING": "missing from the parcel",
        "PROCESSING_REQUIRED": "held for inspection",
    }
    lines = []
    for item in received:
        parts = [
            f"{', '.join(f'{n} x {sku}' for sku, n in sorted(units.items()))} "
            f"{words.get(kind, kind.lower())}"
            for kind, units in sorted(item["received"].items())
        ]
        lines.append(f"{item['return']}: {'; '.join(parts) or 'nothing'}")
    lines.append(
        "Units back in stock reach your store with the next inventory sync; refunds stay yours "
        "to issue in Shopify."
    )
    title = f"[{retailer_name}] {len(received)} return(s) received at LGL"
    return _listed(
        "returns",
        title,
        lines,
        retailer_id=retailer_id,
        flow=Flow.FULFILLMENTS.value,
        dedupe_key=f"returns:{retailer_id}:" + ",".join(sorted(i["return"] for i in received)),
        recipients=recipients,
    )


def purged_notice(*, retailer_id: str, reason: str, disabled_at, purged: dict[str, int]) -> Notice:
    """A disabled retailer's personal data purged after the retention period, told once."""
    why = {
        "app_uninstalled": "uninstalled LGL's app",
        "shop_redact": "asked Shopify to redact the shop",
    }.get(reason, "was disabled")
    lines = [
        f"{retailer_id} {why} on {disabled_at:%Y-%m-%d}; the retention period has passed.",
        *(f"{table}: {rows} row(s)" for table, rows in sorted(purged.items()) if rows),
        "Kept: the ledger's ids and the sync history (SKUs, quantities, order numbers), which "
        "name no one. Enabling the retailer again needs its billing contact and token anew.",
    ]
    title = f"[{retailer_id}] personal data purged after offboarding"
    return _listed(
        "purged",
        title,
        lines,
        retailer_id=retailer_id,
        dedupe_key=f"purged:{retailer_id}:{disabled_at:%Y-%m-%dT%H:%M:%S}",
    )


def returns_scope_notice(retailer_id: str, retailer_name: str) -> Notice:
    """The retailer's token predates returns (no ``read_returns``): its shipments are still
    pushed, its returns not mirrored; said once per retailer."""
    title = f"[{retailer_name}] returns not read: the token lacks read_returns"
    lines = [
        "Shipments are pushed as before; returns of goods LGL shipped are not mirrored to LGL "
        "until the store grants read_returns.",
        f"Re-grant: lgl-sync retailer connect {retailer_id} (or add the scope to its custom app), "
        f"then lgl-sync retailer validate {retailer_id}.",
    ]
    return _listed(
        "returns",
        title,
        lines,
        retailer_id=retailer_id,
        flow=Flow.FULFILLMENTS.value,
        dedupe_key=f"returns-scope:{retailer_id}",
    )


def overdue_notice(*, retailer_id: str, retailer_name: str, orders: list[dict]) -> Notice:
    """Imported orders past the date the retailer promised to fulfil them by (Shopify's
    ``fulfillBy``) with nothing shipped yet: each told once."""
    lines = [
        f"{o['name']}: to be fulfilled by {o['fulfill_by']:%Y-%m-%d %H:%M} UTC, nothing shipped"
        for o in orders[:50]
    ]
    if len(orders) > 50:
        lines.append(f"... and {len(orders) - 50} more")
    lines.append("Ship them first, or tell the retailer: its customers were promised these dates.")
    title = f"[{retailer_name}] {len(orders)} order(s) past their fulfill-by date"
    return _listed(
        "overdue",
        title,
        lines,
        retailer_id=retailer_id,
        flow=Flow.FULFILLMENTS.value,
        dedupe_key=f"overdue:{retailer_id}:"
        + ",".join(sorted(o["source_order_id"] for o in orders)),
    )
