from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from relay import signing
from relay.errors import SignatureInvalid

BODY = json.dumps({"id": "evt_1", "type": "task.succeeded"}).encode()


def test_signatures_verify_with_the_official_library() -> None:
    secret = signing.new_secret()
    now = int(time.time())

    headers = signing.webhook_headers([secret], "evt_1", now, BODY)

    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_both_secrets_verify_during_rotation() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    now = int(time.time())

    headers = signing.webhook_headers([new, old], "evt_1", now, BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_known_vector() -> None:
    # Built as the spec's reference tests build theirs: HMAC-SHA256 over "{id}.{ts}.{body}" with the decoded key.
    key = b"\x01" * 24
    secret = "whsec_" + base64.b64encode(key).decode()

    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == (
        "v1,"
        + base64.b64encode(
            __import__("hmac")
            .new(key, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', "sha256")
            .digest()
        ).decode()
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "m", "webhook-timestamp": "abc", "webhook-signature": "v1,xx"},
        {"webhook-id": "m", "webhook-timestamp": "1e3", "webhook-signature": "v1,xx"},
        {"webhook-id": "m", "webhook-timestamp": "100", "webhook-signature": "v1,!!"},
        {"webhook-id": "m", "webhook-timestamp": "99999999999999999999", "webhook-signature": "v1,xx"},
        {"webhook-id": "m", "webhook-timestamp": "1000", "webhook-signature": "garbage"},
    ],
)
def test_malformed_headers_are_signature_invalid(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        signing.verify([signing.new_secret()], headers, BODY, now=1000)


def test_stale_and_wrong_signatures_are_refused() -> None:
    secret = signing.new_secret()
    headers = signing.webhook_headers([secret], "m", 1000, BODY)

    signing.verify([secret], headers, BODY, now=1200)
    with pytest.raises(SignatureInvalid, match="away from now"):
        signing.verify([secret], headers, BODY, now=1400)
    with pytest.raises(SignatureInvalid, match="no webhook-signature"):
        signing.verify([signing.new_secret()], headers, BODY, now=1000)
    with pytest.raises(SignatureInvalid):
        signing.verify([secret], headers, BODY + b" ", now=1000)
