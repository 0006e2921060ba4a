"""Signatures checked by the reference receiver library (standardwebhooks), not by ourselves."""

from __future__ import annotations

import base64
import itertools
import re
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.webhooks.signatures import (
    SECRET_PREFIX,
    delivery_headers,
    new_message_id,
    new_secret,
    sign,
)

BODY = b'{"type":"envelope.completed","timestamp":"2026-11-02T10:00:00Z","data":{}}'
ULID = re.compile(r"^msg_[0-9A-HJKMNP-TV-Z]{26}$")


def test_golden_vector_from_the_standard_webhooks_documentation() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 32
    assert new_secret() != secret


def test_delivery_headers_verify_with_the_reference_library() -> None:
    secret, msg_id, now = new_secret(), new_message_id(), int(time.time())
    headers = delivery_headers(secret, msg_id, now, BODY)

    assert Webhook(secret).verify(BODY, headers) == {
        "type": "envelope.completed",
        "timestamp": "2026-11-02T10:00:00Z",
        "data": {},
    }
    assert headers["webhook-id"] == msg_id
    assert headers["webhook-timestamp"] == str(now)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Cachet-Webhooks/1"


def _tampered(headers: dict[str, str], body: bytes, part: str) -> tuple[dict[str, str], bytes]:
    match part:
        case "body":
            return headers, bytes([body[0] ^ 0x01]) + body[1:]
        case "id":
            return {**headers, "webhook-id": new_message_id()}, body
        case "timestamp":
            earlier = str(int(headers["webhook-timestamp"]) - 1)  # still inside the tolerance
            return {**headers, "webhook-timestamp": earlier}, body
    raise AssertionError(part)


@pytest.mark.parametrize("part", ["body", "id", "timestamp"])
def test_tampering_fails_verification(part: str) -> None:
    secret = new_secret()
    headers = delivery_headers(secret, new_message_id(), int(time.time()), BODY)
    tampered_headers, tampered_body = _tampered(headers, BODY, part)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered_body, tampered_headers)


def test_another_secret_fails_verification() -> None:
    headers = delivery_headers(new_secret(), new_message_id(), int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!"]
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(secret, "msg_1", 1, BODY)


def test_a_message_id_with_a_dot_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'\.'"):
        sign(new_secret(), "msg_1.2", 1, BODY)


def test_message_ids_are_ulids_and_unique() -> None:
    ids = [new_message_id() for _ in range(10_000)]
    assert all(ULID.match(msg_id) for msg_id in ids)
    assert len(set(ids)) == len(ids)


def test_message_ids_sort_by_creation_time() -> None:
    batches = []
    for _ in range(5):
        batches.append([new_message_id() for _ in range(50)])
        time.sleep(0.002)  # the next batch falls in a later millisecond

    for earlier, later in itertools.pairwise(batches):
        assert max(earlier) < min(later)


def test_message_id_starts_with_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    time_part = new_message_id()[4:14]
    after = time.time_ns() // 1_000_000

    milliseconds = 0
    for char in time_part:
        milliseconds = milliseconds * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    assert before <= milliseconds <= after
