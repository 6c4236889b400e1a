"""Property tests of the credentials code: callback tokens and Standard Webhooks signatures."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relay.errors import SignatureInvalid, TokenInvalid
from relay.providers import PROVIDER_NAMES
from relay.signing import new_secret, sign, verify, webhook_headers
from relay.tokens import CallbackTokens

TOKENS = CallbackTokens(["old-key", "new-key"])
REFUSALS = ("callback token is not valid", "callback token was issued for another provider, not 'kie'")
providers = st.one_of(st.sampled_from(PROVIDER_NAMES), st.text(min_size=1, max_size=12))
tags = st.one_of(st.none(), st.text(min_size=1, max_size=200))


@settings(max_examples=200, deadline=None, database=None)
@given(a=providers, b=providers, tag=tags)
def test_a_token_for_one_provider_never_validates_for_another(a: str, b: str, tag: str | None) -> None:
    assume(a != b)
    token = TOKENS.issue(a, tag)

    assert TOKENS.read(token, a).tag == tag
    with pytest.raises(TokenInvalid):
        TOKENS.read(token, b)


@settings(max_examples=300, deadline=None, database=None)
@given(token=st.one_of(st.text(max_size=120), st.from_regex(r"[A-Za-z0-9_\-]{0,40}\.[A-Za-z0-9_\-]{0,40}")))
def test_reading_arbitrary_text_only_raises_token_invalid(token: str) -> None:
    try:
        TOKENS.read(token, "kie")
    except TokenInvalid as exc:
        # One of two fixed messages: a token is a credential and never echoed back.
        assert exc.message in REFUSALS


@settings(max_examples=200, deadline=None, database=None)
@given(provider=providers, tag=tags, flip=st.integers(min_value=0))
def test_any_one_character_change_is_refused(provider: str, tag: str | None, flip: int) -> None:
    token = TOKENS.issue(provider, tag)
    index = flip % len(token)
    replacement = "A" if token[index] != "A" else "B"
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        read = TOKENS.read(tampered, provider)
    except TokenInvalid:
        return
    # base64 padding bits can absorb a change of the last character: then the content must be the same.
    assert (read.provider, read.tag) == (provider, tag)


def test_tokens_of_another_secret_are_refused_and_rotation_keeps_old_ones() -> None:
    old = CallbackTokens(["old-key"]).issue("kie", None)

    assert TOKENS.read(old, "kie").provider == "kie"
    with pytest.raises(TokenInvalid):
        CallbackTokens(["other-key"]).read(old, "kie")


SECRETS = [new_secret(), new_secret()]
header_values = st.one_of(st.text(max_size=80), st.sampled_from(["v1,", "v1,AAAA", "1700000000", "²", " ", "v1,==="]))


@settings(max_examples=300, deadline=None, database=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "Webhook-Timestamp", "webhook-signature", "x"]), header_values, max_size=4
    ),
    body=st.binary(max_size=128),
    now=st.floats(allow_nan=True, allow_infinity=True),
)
def test_verify_is_total(headers: dict[str, str], body: bytes, now: float) -> None:
    try:
        verify(SECRETS, headers, body, now, provider="p")
    except SignatureInvalid as exc:
        assert exc.provider == "p"


@settings(max_examples=200, deadline=None, database=None)
@given(msg_id=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s), body=st.binary(max_size=256),
       at=st.integers(min_value=0, max_value=10**11), skew=st.integers(min_value=-300, max_value=300))  # fmt: skip
def test_signed_headers_verify_and_any_body_change_does_not(msg_id: str, body: bytes, at: int, skew: int) -> None:
    headers = webhook_headers(SECRETS, msg_id, at, body)

    verify(SECRETS[1:], headers, body, at + skew)  # rotation: any one of the signatures will do
    with pytest.raises(SignatureInvalid):
        verify(SECRETS, headers, body + b"x", at)
    with pytest.raises(SignatureInvalid):
        verify([new_secret()], headers, body, at)
    assert sign(SECRETS[0], msg_id, at, body) in headers["webhook-signature"].split()
