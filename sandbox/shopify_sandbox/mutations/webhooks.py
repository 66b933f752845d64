"""Webhook subscriptions: ``webhookSubscriptionCreate``/``Update``/``Delete`` and the
``webhookSubscriptions`` query, each seeing only the requesting app's subscriptions
(webhooks.py has the delivery rules and their shopify.dev pages)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLResolveInfo

from shopify_sandbox.access import grants
from shopify_sandbox.connections import connection
from shopify_sandbox.mutations.support import context_of, payload
from shopify_sandbox.resolvers import parse_gid
from shopify_sandbox.state import SandboxError, next_id
from shopify_sandbox.webhooks import Subscription, topic_scopes

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check(store: Any, topic: str, spec: dict[str, Any]) -> None:
    """Shopify's refusals: an address that is not HTTPS (loopback HTTP is allowed here, for the
    tests), and a topic the token's scopes do not cover."""
    uri = spec.get("uri") or spec.get("callbackUrl") or ""
    parts = urlsplit(uri)
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)):
        raise SandboxError("Address protocol http:// is not supported", ["webhookSubscription"])
    needs = topic_scopes(topic)
    if needs and not any(grants(store.scopes, scope) for scope in needs):
        raise SandboxError(
            f"You do not have permission to create or update webhooks with {topic} topic. "
            f"This topic requires one of {', '.join(needs)}.",
            ["topic"],
        )


def _owned(store: Any, app: str | None, id: str) -> Subscription:
    parsed = parse_gid(id, "WebhookSubscription")
    found = store.webhook_subscriptions.get(parsed[1]) if parsed else None
    if found is None or found.app != app:
        raise SandboxError("Webhook subscription does not exist", ["id"])
    return found


def _apply(subscription: Subscription, spec: dict[str, Any]) -> None:
    if spec.get("uri") or spec.get("callbackUrl"):
        subscription.uri = spec.get("uri") or spec["callbackUrl"]
    if "filter" in spec:
        subscription.filter = spec["filter"] or None
    if "includeFields" in spec:
        subscription.include_fields = list(spec["includeFields"] or [])


def webhook_subscription_create(
    _: Any, info: GraphQLResolveInfo, topic: str, webhookSubscription: dict[str, Any]
) -> dict:
    ctx = context_of(info)
    store, build = ctx.store, payload(webhookSubscription=None)
    try:
        _check(store, topic, webhookSubscription)
        uri = webhookSubscription.get("uri") or webhookSubscription.get("callbackUrl")
        if any(
            s.topic == topic and s.uri == uri and s.app == ctx.app
            for s in store.webhook_subscriptions.values()
        ):
            raise SandboxError("Address for this topic has already been taken", ["address"])
    except SandboxError as error:
        return build(error)
    now = store.now()
    subscription = Subscription(next_id(), topic, uri, ctx.app, now, now)
    _apply(subscription, webhookSubscription)
    store.webhook_subscriptions[subscription.id] = subscription
    return {"webhookSubscription": subscription, "userErrors": []}


def webhook_subscription_update(
    _: Any, info: GraphQLResolveInfo, id: str, webhookSubscription: dict[str, Any]
) -> dict:
    ctx = context_of(info)
    store, build = ctx.store, payload(webhookSubscription=None)
    try:
        subscription = _owned(store, ctx.app, id)
        _check(store, subscription.topic, {"uri": subscription.uri, **webhookSubscription})
    except SandboxError as error:
        return build(error)
    _apply(subscription, webhookSubscription)
    subscription.updated_at = store.now()
    return {"webhookSubscription": subscription, "userErrors": []}


def webhook_subscription_delete(_: Any, info: GraphQLResolveInfo, id: str) -> dict:
    ctx = context_of(info)
    store, build = ctx.store, payload(deletedWebhookSubscriptionId=None)
    try:
        subscription = _owned(store, ctx.app, id)
    except SandboxError as error:
        return build(error)
    store.webhook_subscriptions.pop(subscription.id)
    subscription.deleted = True
    return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def webhook_subscriptions(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    ctx = context_of(info)
    found = [
        s
        for s in ctx.store.webhook_subscriptions.values()
        if s.app == ctx.app
        and (not args.get("topics") or s.topic in args["topics"])
        and (not args.get("uri") or s.uri == args["uri"])
    ]
    return connection(found, args, bulk=ctx.bulk)


WEBHOOK_MUTATIONS = {
    "webhookSubscriptionCreate": webhook_subscription_create,
    "webhookSubscriptionUpdate": webhook_subscription_update,
    "webhookSubscriptionDelete": webhook_subscription_delete,
}
