"""Property (issue 13, item 1): for every adapter, any body (arbitrary JSON with lone surrogates, huge and tiny
numbers, NaN/Infinity, nesting past 1,000, or any bytes) is answered 200 and stored byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from relay.app import create_app
from relay.config import Settings
from relay.providers import PROVIDER_NAMES
from tests.conftest import ADMIN
from tests.routes.test_roundtrip_properties import raw_of
from tests.servers import run_server

SURROGATES = st.sampled_from(["\ud83d", "\ude00", "\udfff", "\ud800"])
texts = st.lists(st.text(max_size=8) | SURROGATES, max_size=4).map("".join)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**19, max_value=10**400) | st.integers(min_value=-(10**400), max_value=-(10**19)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-320, 5e-324, 1.7976931348623157e308, -0.0]),
)
# The names adapters look at, so that bodies reach past "no task id" into every reading path.
KEYS = (
    "id taskId task_id jobId job_id request_id requestId status state success code msg message error progress"
    " percentage data output outputs result results payload payload_error resultJson callbackType successFlag"
    " video_url image_url audio_url imageUrl image_urls original_image_url referImages works file_id event"
    " generation object failReason"
).split()
URLS = st.builds(lambda t: f"https://cdn.example/{t}.png", texts)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts, URLS),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | texts, children, max_size=6),
    ),
    max_leaves=25,
)


def encode(value: Any, depth: int, ensure_ascii: bool, indent: int | None) -> bytes:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, allow_nan=True)
    # Deep nesting written as text: the stdlib encoder would recurse past Python's limit.
    opening = "".join("[" if level % 2 else '{"data": ' for level in range(depth))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(depth)))
    # Without ensure_ascii a lone surrogate is written as itself: bytes no UTF-8 decoder accepts.
    return (opening + text + closing).encode("utf-8", "surrogatepass")


ID_KEYS = ("id", "taskId", "task_id", "jobId", "request_id")
# Bodies with a task id where adapters look for one (top level, or in Kie's "data"), so readings happen.
tasks = st.builds(
    lambda key, task_id, rest, in_data: (
        {"code": 200, "data": {**rest, key: task_id}} if in_data else {**rest, key: task_id}
    ),
    st.sampled_from(ID_KEYS),
    texts | st.integers() | st.integers(min_value=10**30, max_value=10**400),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
    st.booleans(),
)
json_bodies = st.builds(
    encode,
    tasks | json_values,
    st.sampled_from([0, 0, 0, 1, 2, 200, 300, 1001, 1500]),
    st.booleans(),
    st.sampled_from([None, 1]),
)
bodies = st.one_of(json_bodies, json_bodies, st.binary(max_size=300))
EVENT_TYPES = {"task.succeeded", "task.failed", "task.progress", "callback.unrecognized"}


@pytest.mark.timeout(240)  # a few hundred real HTTP round trips on a shared 2-core machine
def test_every_adapter_stores_every_body(make_settings: Callable[..., Settings]) -> None:
    with run_server(create_app(make_settings()), proxy_headers=False) as url, httpx.Client(base_url=url) as client:
        paths = {
            name: httpx.URL(client.post("/v1/callback-urls", json={"provider": name}, headers=ADMIN).json()["url"]).path
            for name in PROVIDER_NAMES
        }
        fresh: list[str] = []

        @settings(
            max_examples=250,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # shrinking a body of 1,500 levels over HTTP takes minutes
            suppress_health_check=list(HealthCheck),
        )
        @given(provider=st.sampled_from(PROVIDER_NAMES), body=bodies)
        def stored(provider: str, body: bytes) -> None:
            ack = client.post(paths[provider], content=body, headers={"content-type": "application/json"})
            assert ack.status_code == 200, ack.text
            if ack.json()["duplicate"]:
                return  # the first callback of this task + state is the one kept
            got = client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN)
            assert got.status_code == 200
            event = json.loads(got.content)
            assert raw_of(got.content, event) == body
            assert event["type"] in EVENT_TYPES
            assert event["provider"] == provider
            got.content.decode("utf-8")  # the event's own fields are valid UTF-8 whatever the body held
            fresh.append(event["type"])

        stored()
        # Positive control: after all of that, the same relay still reads a plain result as a task event.
        control = {
            "code": 200,
            "msg": "success",
            "data": {"taskId": "control-1", "resultUrls": ["https://c.example/r.png"]},
        }
        ack = client.post(paths["kie"], json=control)
        read = client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN).json()

    assert len(fresh) > 100 and "callback.unrecognized" in fresh
    assert read["type"] == "task.succeeded" and read["task_id"] == "control-1"
