"""API key format and hashing: the clear key is shown once and never stored."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "cachet_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """Enough of the key for an operator to recognise it in a listing, not enough to use it."""
    return key[: len(KEY_PREFIX) + 6]
