"""Helpers every mutation module shares: the request context and the payload builder that
puts a user error where Shopify does (``userErrors``, all other fields null)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox.resolvers import RequestContext
from shopify_sandbox.state import SandboxError


def context_of(info: GraphQLResolveInfo) -> RequestContext:
    """The store and clock of the request being resolved."""
    return info.context


def payload(errors_key: str = "userErrors", **fields: Any):
    """A builder for a mutation's payload: the fields, or nulls and the user error."""

    def build(error: SandboxError | None = None) -> dict[str, Any]:
        body = {k: (None if error else v) for k, v in fields.items()}
        body[errors_key] = [error.as_user_error()] if error else []
        return body

    return build
