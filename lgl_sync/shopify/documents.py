"""The project's GraphQL documents: one named operation per ``queries/*.graphql`` file, and the
fragments they share in ``queries/fragments/`` (appended to each document that spreads them)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

QUERIES_DIR = Path(__file__).with_name("queries")
FRAGMENTS_DIR = QUERIES_DIR / "fragments"
SPREAD = re.compile(r"\.\.\.\s*(?!on\b)([_A-Za-z]\w*)")


@cache
def fragments() -> dict[str, str]:
    """Fragment name -> its definition text, for every file in ``queries/fragments/``."""
    found: dict[str, str] = {}
    for path in sorted(FRAGMENTS_DIR.glob("*.graphql")):
        text = path.read_text()
        for definition in parse(text).definitions:
            if isinstance(definition, FragmentDefinitionNode):
                found[definition.name.value] = text
    return found


def _with_fragments(text: str) -> str:
    """The operation followed by every fragment it spreads, directly or through another."""
    wanted: list[str] = []
    pending = SPREAD.findall(text)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.append(name)
            pending += SPREAD.findall(fragments()[name])
    return "\n".join([text, *(fragments()[name] for name in sorted(wanted))])


@cache
def all_documents() -> dict[str, str]:
    """Operation name -> document text (its fragments included), for every file in ``queries/``."""
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
        found[names[0]] = _with_fragments(text)
    return found


def document(name: str) -> str:
    """The text of the operation called ``name``."""
    try:
        return all_documents()[name]
    except KeyError:
        raise KeyError(f"no GraphQL document named {name} in {QUERIES_DIR}") from None
