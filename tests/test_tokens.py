from __future__ import annotations

import pytest

from relay.errors import TokenInvalid
from relay.tokens import CallbackTokens


def test_a_remembered_token_is_still_refused_on_another_providers_path() -> None:
    tokens = CallbackTokens(["key"])
    token = tokens.issue("kie", "order-1")

    first = tokens.read(token, "kie")
    again = tokens.read(token, "kie")
    with pytest.raises(TokenInvalid, match="another provider"):
        tokens.read(token, "acedata")

    assert first == again and again.tag == "order-1"


def test_forged_tokens_are_refused_every_time_and_never_remembered() -> None:
    tokens = CallbackTokens(["key"])
    forged = CallbackTokens(["other key"]).issue("kie", None)

    for _ in range(2):
        with pytest.raises(TokenInvalid, match="not valid"):
            tokens.read(forged, "kie")
    assert forged not in tokens._verified
