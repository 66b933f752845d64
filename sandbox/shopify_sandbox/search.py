"""Shopify's search syntax for the ``query:`` argument, over the sandbox's records.

FACTS.md §4.2: terms are ANDed implicitly; ``OR``/``AND`` are explicit; ``NOT`` or a leading
``-`` negates; comparators ``:`` ``:<`` ``:>`` ``:<=`` ``:>=``; quoted values; a trailing ``*``
is a prefix wildcard; ``field:*`` tests existence; parentheses group. An unknown field is ignored
with a warning, as Shopify does, rather than matching nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Term:
    field: str | None
    comparator: str
    value: str


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class BoolOp:
    op: str
    operands: tuple[Any, ...]


def _tokens(query: str) -> list[str]:
    tokens, i = [], 0
    while i < len(query):
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(c)
            i += 1
        else:
            start, quote = i, None
            while i < len(query):
                c = query[i]
                if quote:
                    quote = None if c == quote else quote
                elif c in "'\"":
                    quote = c
                elif c.isspace() or c in "()":
                    break
                i += 1
            tokens.append(query[start:i])
    return tokens


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace("\\'", "'").replace('\\"', '"')
    return value


def _term(word: str) -> Term:
    field, sep, rest = word.partition(":")
    if not sep or not field or field[0] in "'\"":
        return Term(None, ":", _unquote(word))
    for comparator in (">=", "<=", ">", "<"):
        if rest.startswith(comparator):
            return Term(field.lower(), comparator, _unquote(rest[len(comparator) :]))
    return Term(field.lower(), ":", _unquote(rest))


def parse(query: str) -> Any:
    """Parses a search string into a tree of Term / Not / BoolOp."""
    tokens = _tokens(query)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def or_expr() -> Any:
        operands = [and_expr()]
        while peek() == "OR":
            take()
            operands.append(and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def and_expr() -> Any:
        operands = []
        while peek() not in (None, ")", "OR"):
            if peek() == "AND":
                take()
                continue
            operands.append(unary())
        if not operands:
            return BoolOp("AND", ())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def unary() -> Any:
        token = take()
        if token == "NOT":
            return Not(unary())
        if token == "(":
            inner = or_expr()
            if peek() == ")":
                take()
            return inner
        if token.startswith("-") and len(token) > 1:
            return Not(_term(token[1:]))
        return _term(token)

    return or_expr()


def _as_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(actual: Any, comparator: str, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, datetime):
        target = _as_datetime(wanted)
        if target is None:
            return False
        if comparator == ":" and len(wanted) == 10:
            return actual.date() == target.date()
        left, right = actual, target
    elif isinstance(actual, bool):
        return comparator == ":" and str(actual).lower() == wanted.lower()
    elif isinstance(actual, int):
        try:
            left, right = actual, int(wanted.rsplit("/", 1)[-1])
        except ValueError:
            return False
    else:
        left, right = str(actual).lower(), wanted.lower()
        if comparator == ":":
            if right.endswith("*"):
                return left.startswith(right[:-1])
            return left == right
    return {
        ":": left == right,
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }[comparator]


def matches(tree: Any, doc: Doc, warnings: list[str]) -> bool:
    """True when the document satisfies the parsed query."""
    if isinstance(tree, BoolOp):
        results = (matches(t, doc, warnings) for t in tree.operands)
        return any(results) if tree.op == "OR" else all(results)
    if isinstance(tree, Not):
        return not matches(tree.operand, doc, warnings)
    if tree.field is None:
        words = tree.value.lower().rstrip("*")
        return any(words in str(text).lower() for text in doc.get("_text", ()))
    if tree.field == "tag_not":
        return not matches(Term("tag", ":", tree.value), doc, warnings)
    if tree.field not in doc:
        if f"Invalid search field for this query: {tree.field}" not in warnings:
            warnings.append(f"Invalid search field for this query: {tree.field}")
        return True
    actual = doc[tree.field]
    values = actual if isinstance(actual, list | tuple) else [actual]
    if tree.value == "*":
        return any(v not in (None, "") for v in values)
    return any(_compare(v, tree.comparator, tree.value) for v in values)


_FULFILLMENT_FILTER = {
    "FULFILLED": ["fulfilled", "shipped"],
    "PARTIALLY_FULFILLED": ["partial", "unshipped"],
    "UNFULFILLED": ["unfulfilled", "unshipped"],
    "ON_HOLD": ["on_hold", "unfulfilled", "unshipped"],
}


def return_status(store: Any, order: Any) -> str:
    """Order.returnStatus: NO_RETURN, RETURN_REQUESTED, IN_PROGRESS or RETURNED
    (https://shopify.dev/docs/api/admin-graphql/latest/enums/OrderReturnStatus)."""
    statuses = [r.status for r in store.returns.values() if r.order_id == order.id]
    if "OPEN" in statuses:
        return "IN_PROGRESS"
    if "REQUESTED" in statuses:
        return "RETURN_REQUESTED"
    return "RETURNED" if "CLOSED" in statuses else "NO_RETURN"


def index_document(store: Any, record: Any) -> Doc:
    """The searchable fields of a record, as Shopify's index holds them."""
    kind = record.gid_type
    if kind == "Order":
        status = "cancelled" if record.cancelled_at else ("closed" if record.closed else "open")
        statuses = [status] + (["not_closed"] if not record.closed else [])
        return {
            "id": record.id,
            "name": [record.name, record.name.lstrip("#")],
            "financial_status": record.financial_status.lower(),
            "fulfillment_status": _FULFILLMENT_FILTER.get(store.fulfillment_status(record), []),
            "status": statuses,
            "tag": list(record.tags),
            "return_status": return_status(store, record).lower(),
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "processed_at": record.processed_at,
            "sku": [li.sku for li in record.line_items if li.sku],
            "source_identifier": record.source_identifier,
            "source_name": record.source_name,
            "email": record.email,
            "test": record.test,
            "location_id": sorted(
                {store.fulfillment_orders[i].location_id for i in record.fulfillment_order_ids}
            ),
            "_text": [record.name, record.email or "", *record.tags],
        }
    if kind == "ProductVariant":
        product = store.products[record.product_id]
        return {
            "id": record.id,
            "sku": record.sku,
            "barcode": record.barcode,
            "title": record.title,
            "product_id": record.product_id,
            "_text": [record.sku or "", record.title, product.title],
        }
    if kind == "InventoryItem":
        return {
            "id": record.id,
            "sku": record.sku,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "_text": [record.sku or ""],
        }
    if kind == "Product":
        skus = [store.variants[v].sku for v in record.variant_ids]
        return {
            "id": record.id,
            "title": record.title,
            "sku": skus,
            "status": record.status.lower(),
            "_text": [record.title, *filter(None, skus)],
        }
    if kind == "Location":
        return {
            "id": record.id,
            "name": record.name,
            "active": record.is_active,
            "_text": [record.name],
        }
    if kind == "FulfillmentOrder":
        return {
            "id": record.id,
            "status": record.status.lower(),
            "order_id": record.order_id,
            "assigned_location_id": record.location_id,
            "updated_at": record.updated_at,
        }
    return {"id": record.id}


def visible_document(store: Any, record: Any) -> Doc | None:
    """The document search sees now: with search lag, the state indexed ``lag`` seconds ago."""
    history = store.index_history.get(f"{record.gid_type}/{record.id}")
    if store.search_lag <= 0 or not history:
        return index_document(store, record)
    cutoff = store.clock.monotonic() - store.search_lag
    for at, doc in reversed(history):
        if at <= cutoff:
            return doc
    return None


def _exact_sku(tree: Any) -> str | None:
    terms = tree.operands if isinstance(tree, BoolOp) and tree.op == "AND" else (tree,)
    for term in terms:
        if (
            isinstance(term, Term)
            and term.field == "sku"
            and term.comparator == ":"
            and term.value
            and not term.value.endswith("*")
        ):
            return term.value.lower()
    return None


def _candidates(store: Any, records: Any, tree: Any) -> Any:
    """Only the records that can match an exact ``sku:`` term on variants or inventory items,
    from the store's SKU index, so a per-SKU lookup in a 100,000-SKU store costs what Shopify's
    index costs, not a scan. Every candidate is still matched against the whole query."""
    sku = _exact_sku(tree) if store.search_lag <= 0 else None
    mapping = getattr(records, "mapping", None)  # a dict's values() view
    first = next(iter(records), None) if sku is not None and mapping is not None else None
    if first is None or first.gid_type not in ("ProductVariant", "InventoryItem"):
        return records
    variants = [store.variants[i] for i in store.sku_index.get(sku, ())]
    if first.gid_type == "InventoryItem":
        variants = [store.inventory_items[v.inventory_item_id] for v in variants]
    return [record for record in variants if record.id in mapping]


def search(store: Any, records: Any, query: str | None, warnings: list[str]) -> list[Any]:
    """Filters records by a search string, honouring the store's search lag."""
    if not query or not query.strip():
        return list(records)
    tree = parse(query)
    records = _candidates(store, records, tree)
    found = []
    for record in records:
        doc = visible_document(store, record)
        if doc is not None and matches(tree, doc, warnings):
            found.append(record)
    return found
