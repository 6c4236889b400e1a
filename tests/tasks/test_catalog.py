"""Status answers, shaped as the providers document them, read by the same adapters as their callbacks."""

from __future__ import annotations

from typing import Any

import pytest

from relay.providers import build_providers
from relay.tasks.catalog import build_request, check_service, endpoint, service_of
from relay.tasks.policy import Schedule

ADAPTERS = build_providers()


def read(provider: str, service: str, payload: Any) -> tuple[str | None, str | None, list[str]]:
    ep = endpoint(provider, service)
    assert ep is not None
    answer = ep.read(payload)
    if answer.payload is None:
        return None, answer.error, []
    update = ADAPTERS[provider].parse(answer.payload)
    assert update is not None
    return update.status, None, [o.url for o in update.outputs]


KIE_MARKET = {  # docs.kie.ai/market/common/get-task-detail
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "task_12345678",
        "model": "grok-imagine/text-to-image",
        "state": "success",
        "param": '{"callBackUrl":"https://your-domain.com/api/callback","input":{"prompt":"x"}}',
        "resultJson": '{"resultUrls":["https://example.com/generated-content.jpg"]}',
        "failCode": "",
        "failMsg": "",
    },
}
KIE_SUNO = {  # docs.kie.ai/suno-api/get-music-details
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "5c79be8e",
        "param": '{"prompt":"A calm piano track"}',
        "response": {"taskId": "5c79be8e", "sunoData": [{"id": "8551", "audioUrl": "https://example.cn/a.mp3",
                                                          "streamAudioUrl": "https://example.cn/s"}]},
        "status": "SUCCESS",
        "errorCode": None,
        "errorMessage": None,
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("state", "expected"), [("waiting", "queued"), ("queuing", "queued"), ("generating", "processing"),
                            ("success", "succeeded"), ("fail", "failed")]
)  # fmt: skip
def test_kie_market_states(state: str, expected: str) -> None:
    payload = {**KIE_MARKET, "data": {**KIE_MARKET["data"], "state": state}}  # type: ignore[dict-item]
    assert read("kie", "market", payload)[0] == expected
    assert read("kie", "market", KIE_MARKET)[2] == ["https://example.com/generated-content.jpg"]


def test_kie_request_level_errors_are_provider_errors_not_task_failures() -> None:
    assert read("kie", "market", {"code": 401, "msg": "Unauthorized"}) == (None, "code 401: Unauthorized", [])
    assert read("kie", "market", {"code": 200, "data": {"taskId": "x"}})[1] == "answer carries no task state"
    assert read("kie", "mj", ["garbage"])[1] == "answer is not a JSON object"


@pytest.mark.parametrize(("flag", "expected"), [(0, "processing"), (1, "succeeded"), (2, "failed"), (3, "failed")])
def test_kie_success_flags(flag: int, expected: str) -> None:  # seed 003: mj/record-info
    payload = {"code": 200, "msg": "success", "data": {"taskId": "t", "successFlag": flag, "resultInfoJson": {
        "resultUrls": [{"resultUrl": "https://tempfile.aiquickdraw.com/v/x_0_0.jpeg"}]}}}  # fmt: skip
    assert read("kie", "mj", payload)[0] == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("PENDING", "queued"), ("TEXT_SUCCESS", "processing"), ("FIRST_SUCCESS", "processing"),
     ("SUCCESS", "succeeded"), ("GENERATE_AUDIO_FAILED", "failed"), ("SENSITIVE_WORD_ERROR", "failed")],
)  # fmt: skip
def test_kie_suno_record_is_read_as_its_callbacks(status: str, expected: str) -> None:
    payload = {**KIE_SUNO, "data": {**KIE_SUNO["data"], "status": status}}  # type: ignore[dict-item]
    found, _, outputs = read("kie", "suno", payload)
    assert found == expected
    if status == "SUCCESS":
        assert outputs == ["https://example.cn/a.mp3"]


def test_ttapi_fetch() -> None:  # docs.ttapi.io/api/en/midjourney/fetch
    body = {"status": "SUCCESS", "message": "", "jobId": "c679", "data": {"action": "imagine", "jobId": "c679",
            "progress": "100", "images": ["https://cdn.ttapi.io/midjourney/x.png"], "hookUrl": None}}  # fmt: skip
    assert read("ttapi", "midjourney", body) == ("succeeded", None, ["https://cdn.ttapi.io/midjourney/x.png"])
    assert read("ttapi", "midjourney", {"status": "FAILED", "message": "invalid key"})[1] == "FAILED: invalid key"
    assert build_request(endpoint("ttapi", "flux"), "j1", "flux").form == {"jobId": "j1"}  # type: ignore[arg-type]


def test_acedata_retrieve() -> None:  # docs.acedata.cloud/api-reference/luma/operate-the-tasks-on-the-luma
    running = {"id": "t1", "request": {"prompt": "x", "callback_url": "https://cb"}}
    assert read("acedata", "luma", running) == (None, None, [])  # nothing to store yet, and no error
    done = {**running, "response": {"success": True, "task_id": "t1", "video_url": "https://cdn/x.mp4"}}
    assert read("acedata", "luma", done) == ("succeeded", None, ["https://cdn/x.mp4"])
    request = build_request(endpoint("acedata", "luma"), "t1", "luma")  # type: ignore[arg-type]
    assert (request.method, request.path, request.json) == ("POST", "/luma/tasks", {"id": "t1", "action": "retrieve"})


def test_replicate_prediction() -> None:  # replicate.com/docs/topics/predictions
    body = {"id": "gm3q", "status": "succeeded", "output": "hello Alice", "urls": {"get": "https://api/x"}}
    assert read("replicate", "-", body) == ("succeeded", None, [])
    assert read("replicate", "-", {"detail": "Not found."})[1] == "Not found."
    assert build_request(endpoint("replicate", "-"), "a/b", "-").path == "/v1/predictions/a%2Fb"  # type: ignore[arg-type]


def test_services_and_auto_tracking_hints() -> None:
    assert check_service("kie", "market") == "market" and check_service("replicate", None) == "-"
    with pytest.raises(ValueError, match="path segment"):
        check_service("acedata", "../x")
    assert service_of("kie", {"data": {"callbackType": "text", "task_id": "x"}}) == "suno"
    assert service_of("kie", {"data": {"taskId": "x", "state": "generating", "model": "m"}}) == "market"
    assert service_of("kie", {"data": {"taskId": "x", "resultUrls": []}}) is None
    assert service_of("ttapi", {"data": {"action": "upsample1"}}) == "midjourney"
    assert service_of("acedata", {"task_id": "x"}) is None


def test_polling_backs_off_to_its_cap_and_honours_retry_after() -> None:
    schedule = Schedule(deadline_s=0, horizon_s=3600, interval_s=30, max_interval_s=600)
    fixed = lambda: 0.5  # noqa: E731  (no jitter)
    assert [schedule.next_poll_ms(n, 0, rand=fixed) for n in range(6)] == [30_000, 60_000, 120_000, 240_000,
                                                                           480_000, 600_000]  # fmt: skip
    assert schedule.next_poll_ms(0, 0, retry_after_s=90, rand=fixed) == 90_000
    assert schedule.deadlines("kie", 0) == (600_000, 3_600_000)
    assert schedule.deadlines("kie", 0, deadline_s=5, horizon_s=1) == (5_000, 35_000)  # at least one poll


def test_piapi_get_task() -> None:  # piapi.ai/docs/dream-machine/get-task
    body = {"code": 200, "message": "success", "data": {"task_id": "f7a6", "model": "luma", "status": "completed",
            "input": {}, "output": {"video": {"url": "https://img.theapi.app/x.mp4"}},
            "error": {"code": 0, "message": ""}}}  # fmt: skip
    assert read("piapi", "-", body)[:2] == ("succeeded", None)
    assert "https://img.theapi.app/x.mp4" in read("piapi", "-", body)[2]
    assert read("piapi", "-", {"code": 404, "message": "task not found"})[1] == "code 404: task not found"
