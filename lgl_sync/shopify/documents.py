"""The project's GraphQL documents: one named operation per ``queries/*.graphql`` file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import OperationDefinitionNode, parse

QUERIES_DIR = Path(__file__).with_name("queries")


@cache
def all_documents() -> dict[str, str]:
    """Operation name -> document text, for every file in ``queries/``."""
    found: dict[str, str] = {}
    for path in sorted(QUERIES_DIR.glob("*.graphql")):
        text = path.read_text()
        names = [
            d.name.value
            for d in parse(text).definitions
            if isinstance(d, OperationDefinitionNode) and d.name
        ]
        if len(names) != 1:
            raise ValueError(f"{path.name} must hold exactly one named operation")
        found[names[0]] = text
    return found


def document(name: str) -> str:
    """The text of the operation called ``name``."""
    try:
        return all_documents()[name]
    except KeyError:
        raise KeyError(f"no GraphQL document named {name} in {QUERIES_DIR}") from None
