"""Property: whatever the callback endpoint accepts is stored and read back byte for byte, for every provider."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.app import create_app
from relay.config import Settings
from relay.providers import PROVIDER_NAMES
from tests.conftest import ADMIN
from tests.servers import run_server

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["id", "taskId", "status", "output", "data", "x"]) | st.text(max_size=6),
            children,
            max_size=5,
        ),  # fmt: skip
    ),
    max_leaves=20,
)
json_bodies = st.builds(
    lambda value, indent, pad: (pad + json.dumps(value, indent=indent, ensure_ascii=False) + pad).encode(),
    json_values,
    st.sampled_from([None, 1]),
    st.sampled_from(["", " ", "\n"]),
)
bodies = st.one_of(json_bodies, st.binary(max_size=300))


def raw_of(event_bytes: bytes, event: dict[str, Any]) -> bytes:
    raw = event["raw"]
    if isinstance(raw, dict) and set(raw) == {"content_type", "body_base64"}:
        return base64.b64decode(raw["body_base64"])
    # A JSON body is spliced in verbatim: its bytes close the document.
    return event_bytes[event_bytes.index(b',"raw":') + len(b',"raw":') : -1]


def test_accepted_callbacks_read_back_identically(make_settings: Callable[..., Settings]) -> None:
    with run_server(create_app(make_settings()), proxy_headers=False) as url, httpx.Client(base_url=url) as client:
        paths = {
            name: httpx.URL(client.post("/v1/callback-urls", json={"provider": name}, headers=ADMIN).json()["url"]).path
            for name in PROVIDER_NAMES
        }
        fresh: list[bool] = []

        @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(provider=st.sampled_from(PROVIDER_NAMES), body=bodies, content_type=st.sampled_from(
            ["application/json", "application/octet-stream", "text/plain; charset=utf-8"]))  # fmt: skip
        def roundtrip(provider: str, body: bytes, content_type: str) -> None:
            ack = client.post(paths[provider], content=body, headers={"content-type": content_type})
            assert ack.status_code == 200, ack.text
            if ack.json()["duplicate"]:
                return  # the first callback of this task + state is the one kept
            fresh.append(True)
            stored = client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN)
            assert stored.status_code == 200
            assert raw_of(stored.content, stored.json()) == body

        roundtrip()

    assert len(fresh) > 50
