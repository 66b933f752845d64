"""Retailer tokens: the name of an environment variable, or a token encrypted with
``LGL_SECRET_KEY`` (Fernet). A plaintext token is refused before it is ever stored."""

from __future__ import annotations

import os
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from lgl_sync import settings

ENCRYPTED_PREFIX = "enc:v1:"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


class SecretError(ValueError):
    """A token reference that cannot be used; the message never contains the token."""


def _fernet() -> MultiFernet:
    """Every key of LGL_SECRET_KEY: the first encrypts, each decrypts (a rotation in
    progress lists the new key first and the old after it)."""
    keys = settings.secret_keys()
    if not keys:
        raise SecretError("LGL_SECRET_KEY is not set, so encrypted tokens cannot be used")
    fernets = []
    for position, key in enumerate(keys, 1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise SecretError(
                f"LGL_SECRET_KEY's key {position} of {len(keys)} is not a valid Fernet key "
                "(generate one with `lgl-sync retailer new-key`)"
            ) from None
    return MultiFernet(fernets)


APP = "app"  # the store was connected by installing LGL's app: tokens in the control plane


def token_kind(reference: str) -> str:
    """``env``, ``encrypted`` or ``app``; raises SecretError for anything else (a plaintext
    token)."""
    if reference == APP:
        return APP
    if reference.startswith(ENCRYPTED_PREFIX):
        return "encrypted"
    if ENV_NAME.match(reference):
        return "env"
    raise SecretError(
        "api_token must be an environment variable name such as "
        "SHOPIFY_NATIONWIDE_PLANTS_TOKEN, a token encrypted with `lgl-sync retailer "
        "encrypt-token`, or `app` for a store connected with `lgl-sync retailer connect`; a "
        "plaintext token is refused"
    )


def encrypt_token(token: str) -> str:
    return ENCRYPTED_PREFIX + _fernet().encrypt(token.encode()).decode()


def resolve_token(reference: str) -> str:
    """The usable token behind a reference (from the environment, or decrypted)."""
    if token_kind(reference) == "env":
        value = os.environ.get(reference)
        if not value:
            raise SecretError(f"environment variable {reference} is not set")
        return value
    try:
        return _fernet().decrypt(reference[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretError("the encrypted token cannot be decrypted with LGL_SECRET_KEY") from None


def decrypt_secret(value: str) -> str:
    """An app secret or token stored encrypted (``enc:v1:...``), in clear for use."""
    if not value.startswith(ENCRYPTED_PREFIX):
        raise SecretError("a stored secret is not encrypted")
    try:
        return _fernet().decrypt(value[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretError("a stored secret cannot be decrypted with LGL_SECRET_KEY") from None


def new_key() -> str:
    return Fernet.generate_key().decode()


SEALED = b"enc:v1:"


def seal(data: bytes) -> bytes:
    """``data`` encrypted with LGL_SECRET_KEY when it is set (else as it is)."""
    if not settings.secret_keys():
        return data
    return SEALED + _fernet().encrypt(data)


def unseal(data: bytes) -> bytes:
    """What ``seal`` made, back in clear."""
    if not data.startswith(SEALED):
        return data
    try:
        return _fernet().decrypt(data[len(SEALED) :])
    except InvalidToken:
        raise SecretError("a stored value cannot be decrypted with LGL_SECRET_KEY") from None


def rotated(value: str) -> str:
    """A stored ``enc:v1:`` secret encrypted again under LGL_SECRET_KEY's first key."""
    if not value.startswith(ENCRYPTED_PREFIX):
        raise SecretError("a stored secret is not encrypted")
    try:
        token = _fernet().rotate(value[len(ENCRYPTED_PREFIX) :].encode())
    except InvalidToken:
        raise SecretError("a stored secret cannot be decrypted with LGL_SECRET_KEY") from None
    return ENCRYPTED_PREFIX + token.decode()


def resealed(data: bytes) -> bytes:
    """What ``seal`` made, encrypted again under the first key (clear data stays clear)."""
    if not data.startswith(SEALED):
        return data
    try:
        return SEALED + _fernet().rotate(data[len(SEALED) :])
    except InvalidToken:
        raise SecretError("a stored value cannot be decrypted with LGL_SECRET_KEY") from None
