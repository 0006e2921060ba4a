"""Standard Webhooks v1 signing: secrets, message ids and the three webhook-* headers.

The signed content is ``{msg_id}.{timestamp}.{body}`` under HMAC-SHA256, keyed with the
base64-decoded part of a ``whsec_`` secret (spec: github.com/standard-webhooks, v1.0.0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24..64 bytes
USER_AGENT = "Cachet-Webhooks/1"
CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_secret() -> str:
    """A fresh endpoint secret, shown to the customer once and used as the HMAC key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature; a rotation header joins several with spaces."""
    if "." in msg_id:
        # The id is followed by '.' in the signed content; a '.' inside it would be ambiguous.
        raise ValueError("a webhook message id must not contain '.'")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt (``timestamp`` is the attempt's Unix time)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def new_message_id() -> str:
    """``msg_`` + a ULID: 48-bit millisecond time, then 80 random bits, in Crockford base32.

    Ids sort by creation time to the millisecond; within one millisecond their order is random.
    """
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds << 80) | secrets.randbits(80)
    return "msg_" + _crockford_base32(value, length=26)


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from error
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def _crockford_base32(value: int, *, length: int) -> str:
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        digits.append(CROCKFORD_BASE32[digit])
    return "".join(reversed(digits))
