"""Property tests: adapters are total on arbitrary JSON and bytes, and verify only ever raises SignatureInvalid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.errors import SignatureInvalid
from relay.providers import PROVIDER_NAMES, build_providers
from relay.providers.base import TaskUpdate
from relay.providers.kie import KieProvider
from relay.providers.replicate import ReplicateProvider
from relay.signing import new_secret, webhook_headers

VOCABULARY = [
    "taskId", "task_id", "jobId", "job_id", "runId", "id", "data", "info", "code", "msg", "message", "status",
    "state", "progress", "percentage", "success", "error", "resultJson", "resultUrls", "param", "callbackType",
    "video_urls", "videos", "images", "image_url", "audio_url", "stream_audio_url", "output", "urls", "failCode",
    "failMsg", "successFlag", "response", "hookUrl", "logs", "input", "canceled",
]  # fmt: skip
WORDS = ["SUCCESS", "FAILED", "ON_QUEUE", "PENDING_QUEUE", "success", "fail", "waiting", "generating", "text",
         "first", "complete", "error", "45%", "100", "200", "https://x.example/a.mp4", "http://[", "https://", "{",
         '{"resultUrls": ["https://r.example/1.png", "https://r.example/1.png"]}', "starting", "processing",
         "succeeded", "failed", "canceled", " 45%|████▌ | 45/100", "100%|"]  # fmt: skip

keys = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(WORDS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)),
    max_leaves=30,
)
PROVIDERS = build_providers(b"key", [new_secret()])
# The envelope shape {"code", "data": {"taskId"}} is the one these providers read; Replicate's id is top-level.
# The adapters whose providers put the task id in a {"code", "data": {...}} envelope (or read any shape).
ENVELOPED = ["acedata", "ttapi", "kie", "generic", "apiframe", "journeyapi"]


def check(update: TaskUpdate | None) -> None:
    if update is None:
        return
    assert isinstance(update.task_id, str) and update.task_id
    assert update.status in ("succeeded", "failed", "processing", "queued")
    assert update.progress is None or (isinstance(update.progress, int) and 0 <= update.progress <= 100)
    urls = [output.url for output in update.outputs]
    assert len(urls) == len(set(urls))
    assert all(url.startswith(("http://", "https://")) for url in urls)
    assert all(output.kind in ("video", "image", "audio", "file") for output in update.outputs)
    assert (update.error is not None) == (update.status == "failed")
    if update.error is not None:
        assert isinstance(update.error.code, str) and update.error.code
        assert isinstance(update.error.message, str)
    json.dumps(update.event_type + update.dedup_state)


@pytest.mark.parametrize("name", PROVIDER_NAMES)
@settings(max_examples=200, deadline=None, database=None)
@given(payload=json_values)
def test_parse_is_total(name: str, payload: Any) -> None:
    check(PROVIDERS[name].parse(payload))


@pytest.mark.parametrize("name", ENVELOPED)
@settings(max_examples=50, deadline=None, database=None)
@given(data=st.dictionaries(keys, json_values, max_size=4), task_id=st.one_of(st.text(max_size=10), st.integers()))
def test_parse_with_task_id_in_data(name: str, data: dict[str, Any], task_id: Any) -> None:
    update = PROVIDERS[name].parse({"code": 200, "data": {**data, "taskId": task_id, "jobId": task_id}})
    check(update)
    if isinstance(task_id, int) or task_id.strip():
        assert update is not None


header_names = st.one_of(
    st.sampled_from(["X-Webhook-Timestamp", "x-webhook-signature", "X-WEBHOOK-SIGNATURE", "x-webhook-timestamp"]),
    st.text(max_size=10),
)
header_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=0, max_value=2_000_000_000).map(str),
    st.sampled_from(["", "==", "AA=="]),
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    headers=st.dictionaries(header_names, header_values, max_size=4),
    payload=json_values,
    now=st.floats(min_value=0, max_value=4e9),
)
def test_kie_verify_only_raises_signature_invalid(headers: dict[str, str], payload: Any, now: float) -> None:
    try:
        KieProvider(b"secret").verify(headers, payload, now)
    except SignatureInvalid as exc:
        assert exc.provider == "kie"
        assert "secret" not in exc.message


@settings(max_examples=100, deadline=None, database=None)
@given(
    fields=st.dictionaries(keys, json_values, max_size=5),
    task_id=st.text(max_size=10).filter(str.strip),
    status=st.sampled_from(["starting", "processing", "succeeded", "failed", "canceled", "aborted", "x"]),
    output=json_values,
)
def test_replicate_reads_its_id_and_never_reports_inputs_or_api_links(
    fields: dict[str, Any], task_id: str, status: str, output: Any
) -> None:
    link = "https://api.replicate.com/v1/predictions/abc"
    source = "https://in.example/source.png"
    payload = {**fields, "id": task_id, "status": status, "output": output, "input": {"image": source},
               "urls": {"get": link, "cancel": link + "/cancel"}}  # fmt: skip

    update = PROVIDERS["replicate"].parse(payload)

    check(update)
    assert update is not None and update.task_id == task_id.strip()
    assert {link, link + "/cancel", source}.isdisjoint(output.url for output in update.outputs)


@pytest.mark.parametrize("name", PROVIDER_NAMES)
@settings(max_examples=100, deadline=None, database=None)
@given(
    headers=st.dictionaries(
        st.one_of(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]), st.text(max_size=10)),
        st.one_of(st.text(max_size=60), st.sampled_from(["v1,AAAA", "1700000000", "v1,", "²"])),
        max_size=4,
    ),
    payload=json_values,
    body=st.binary(max_size=64),
    now=st.one_of(st.floats(allow_nan=True), st.floats(min_value=0, max_value=4e9)),
)
def test_verify_only_raises_signature_invalid(
    name: str, headers: dict[str, str], payload: Any, body: bytes, now: float
) -> None:
    try:
        PROVIDERS[name].verify(headers, payload, now, body=body)
    except SignatureInvalid as exc:
        assert exc.provider == name


def test_replicate_verify_with_nan_clock_fails_closed() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], "msg_1", 1, b"{}")

    ReplicateProvider([secret]).verify(headers, None, 2.0, body=b"{}")
    with pytest.raises(SignatureInvalid):
        ReplicateProvider([secret]).verify(headers, None, float("nan"), body=b"{}")
