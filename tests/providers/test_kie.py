"""Kie.ai callbacks, written from its docs (seed 003): code/msg/data, Market, Suno, Runway, Veo, Flux; HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from relay.errors import SignatureInvalid
from relay.providers import build_providers
from relay.providers.base import Output, TaskError
from relay.providers.kie import KieProvider

CALLBACK = "https://your-domain.com/api/callback"
INPUT_IMAGE = "https://file.aiquickdraw.com/custom-page/akr/section-images/input.png"


def parse(payload: Any) -> Any:
    return KieProvider().parse(payload)


def market(state: str, code: int = 200, **extra: Any) -> dict[str, Any]:
    param = {"callBackUrl": CALLBACK, "model": "google/nano-banana-edit", "input": {"image_urls": [INPUT_IMAGE]}}
    data: dict[str, Any] = {
        "taskId": "market-1",
        "model": "google/nano-banana-edit",
        "state": state,
        "param": json.dumps(param),
        "resultJson": None,
        "failCode": None,
        "failMsg": None,
        **extra,
    }
    return {"code": code, "msg": "Playground task", "data": data}


# --- Market API ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "status"), [("waiting", "queued"), ("queuing", "queued"), ("generating", "processing")]
)
def test_market_pending_states(state: str, status: str) -> None:
    update = parse(market(state))
    assert update.status == status
    assert update.event_type == "task.progress"
    assert update.outputs == ()
    assert update.error is None


def test_market_success_reads_result_json_string_and_ignores_param() -> None:
    result = {"resultUrls": ["https://tempfile.aiquickdraw.com/r/1.png", "https://tempfile.aiquickdraw.com/r/2.mp4"]}
    update = parse(market("success", resultJson=json.dumps(result)))
    assert update.task_id == "market-1"
    assert update.status == "succeeded"
    assert update.outputs == (
        Output("https://tempfile.aiquickdraw.com/r/1.png", "image"),
        Output("https://tempfile.aiquickdraw.com/r/2.mp4", "video"),
    )


def test_market_fail_with_a_failure_code_reports_that_code() -> None:
    update = parse(market("fail", code=501, failCode="500", failMsg="Internal server error"))
    assert update.status == "failed"
    assert update.error == TaskError("501", "Playground task")
    assert update.outputs == ()


def test_market_fail_under_code_200_uses_fail_code_and_message() -> None:
    update = parse(market("fail", failCode="500", failMsg="Internal server error"))
    assert update.status == "failed"
    assert update.error == TaskError("500", "Internal server error")


def test_market_fail_with_code_200_is_still_failed() -> None:
    update = parse(market("fail", failCode="422", failMsg="nsfw"))
    assert update.status == "failed"
    assert update.error == TaskError("422", "nsfw")


def test_market_fail_without_fail_code_uses_top_level_code() -> None:
    update = parse(market("fail", code=501))
    assert update.error == TaskError("501", "Playground task")


def test_market_malformed_result_json_yields_no_outputs() -> None:
    update = parse(market("success", resultJson="{not json"))
    assert update.status == "succeeded"
    assert update.outputs == ()


# --- Suno -----------------------------------------------------------------------------------------------------


def suno(callback_type: str, tracks: list[dict[str, Any]], code: int = 200, msg: str = "ok") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": {"callbackType": callback_type, "task_id": "suno-1", "data": tracks}}


def track(n: int, audio: str = "") -> dict[str, Any]:
    return {
        "id": f"track-{n}",
        "audio_url": audio,
        "source_audio_url": f"https://cdn1.suno.ai/source-{n}.mp3",
        "stream_audio_url": f"https://musicfile.kie.ai/stream-{n}",
        "source_stream_audio_url": f"https://audiopipe.suno.ai/?item_id={n}",
        "image_url": f"https://musicfile.kie.ai/cover-{n}.jpeg",
        "prompt": "[Verse] Night city lights shining bright",
        "title": "Iron Man",
    }


def test_suno_text_is_processing_step_text() -> None:
    update = parse(suno("text", []))
    assert update.status == "processing"
    assert update.step == "text"
    assert update.dedup_state == "processing:text"
    assert update.outputs == ()


def test_suno_first_carries_first_track_stream() -> None:
    update = parse(suno("first", [track(1)]))
    assert update.status == "processing"
    assert update.step == "first"
    assert update.outputs == (
        Output("https://musicfile.kie.ai/stream-1", "audio"),
        Output("https://musicfile.kie.ai/cover-1.jpeg", "image"),
    )


def test_suno_complete_is_succeeded_with_every_track() -> None:
    tracks = [track(1, "https://musicfile.kie.ai/1.mp3"), track(2, "https://musicfile.kie.ai/2.mp3")]
    update = parse(suno("complete", tracks))
    assert update.status == "succeeded"
    assert update.outputs == (
        Output("https://musicfile.kie.ai/1.mp3", "audio"),
        Output("https://musicfile.kie.ai/cover-1.jpeg", "image"),
        Output("https://musicfile.kie.ai/2.mp3", "audio"),
        Output("https://musicfile.kie.ai/cover-2.jpeg", "image"),
    )


def test_suno_error_is_failed() -> None:
    update = parse(suno("error", [], code=400, msg="Song Description flagged for moderation"))
    assert update.status == "failed"
    assert update.error == TaskError("400", "Song Description flagged for moderation")


def test_suno_error_with_code_200_has_default_code() -> None:
    update = parse(suno("error", [], msg="generation failed"))
    assert update.error == TaskError("error", "generation failed")


# --- Other Kie APIs -------------------------------------------------------------------------------------------


def test_runway_aleph_top_level_task_id() -> None:
    body = {
        "code": 200,
        "msg": "success",
        "data": {
            "result_video_url": "https://file.com/aleph/video.mp4",
            "result_image_url": "https://file.com/aleph/cover.png",
        },
        "taskId": "aleph-1",
    }
    update = parse(body)
    assert update.task_id == "aleph-1"
    assert update.status == "succeeded"
    assert update.outputs == (
        Output("https://file.com/aleph/video.mp4", "video"),
        Output("https://file.com/aleph/cover.png", "image"),
    )


def test_flux_kontext_result_image_not_origin() -> None:
    body = {
        "code": 200,
        "msg": "BFL image generated successfully.",
        "data": {
            "taskId": "flux-1",
            "info": {"originImageUrl": "https://bfl.example.com/o.jpg", "resultImageUrl": "https://kie.example.com/r"},
        },
    }
    assert parse(body).outputs == (Output("https://kie.example.com/r", "image"),)


def test_4o_info_result_urls_snake_case() -> None:
    body = {"code": 200, "msg": "ok", "data": {"taskId": "4o-1", "info": {"result_urls": ["https://x.example/a.png"]}}}
    assert parse(body).outputs == (Output("https://x.example/a.png", "image"),)


def test_veo_origin_urls_and_callback_excluded() -> None:
    body = {
        "code": 200,
        "msg": "Veo3.1 video generated successfully.",
        "data": {
            "taskId": "veo-1",
            "callBackUrl": CALLBACK,
            "info": {"resultUrls": ["https://v.example/1.mp4"], "originUrls": ["https://v.example/o.mp4"]},
        },
    }
    assert [o.url for o in parse(body).outputs] == ["https://v.example/1.mp4"]


@pytest.mark.parametrize(
    ("code", "msg"),
    [(400, "Content policy"), (451, "Failed to fetch the image"), (501, "Generation failed"), ("422", "Invalid")],
)
def test_failure_codes(code: Any, msg: str) -> None:
    update = parse({"code": code, "msg": msg, "data": {"taskId": "veo-2", "info": None}})
    assert update.status == "failed"
    assert update.event_type == "task.failed"
    assert update.error == TaskError(str(code), msg)


def test_string_code_200_is_success() -> None:
    assert parse({"code": "200", "msg": "ok", "data": {"taskId": "t"}}).status == "succeeded"


@pytest.mark.parametrize(
    "payload", [None, 7, "x", [], {"code": 200, "data": {}}, {"code": 200, "data": {"taskId": ""}}, {"data": []}]
)
def test_no_task_id_is_none(payload: Any) -> None:
    assert parse(payload) is None


# --- HMAC signature -------------------------------------------------------------------------------------------

KEY = b"kie-webhook-hmac-key"
NOW = 1_760_000_000.0
BODY = {"code": 200, "msg": "success", "data": {"taskId": "mj_task_12345", "resultUrls": []}}


def sign(task_id: str, timestamp: str, key: bytes = KEY) -> str:
    return base64.b64encode(hmac.new(key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()).decode()


def headers(timestamp: str, signature: str) -> dict[str, str]:
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": signature}


def test_valid_signature_passes() -> None:
    ts = str(int(NOW) - 10)
    KieProvider(KEY).verify(headers(ts, sign("mj_task_12345", ts)), BODY, NOW)


def test_header_names_are_case_insensitive() -> None:
    ts = str(int(NOW))
    lower = {"x-webhook-timestamp": ts, "x-webhook-signature": sign("mj_task_12345", ts)}
    KieProvider(KEY).verify(lower, BODY, NOW)


def test_top_level_task_id_is_signed() -> None:
    ts = str(int(NOW))
    body = {"code": 200, "msg": "success", "data": {}, "taskId": "aleph-1"}
    KieProvider(KEY).verify(headers(ts, sign("aleph-1", ts)), body, NOW)


def test_build_providers_passes_key_to_kie() -> None:
    kie = build_providers(KEY)["kie"]
    with pytest.raises(SignatureInvalid):
        kie.verify({}, BODY, NOW)


@pytest.mark.parametrize("skew", [0, 300, -300])
def test_timestamp_within_window(skew: int) -> None:
    ts = str(int(NOW) + skew)
    KieProvider(KEY).verify(headers(ts, sign("mj_task_12345", ts)), BODY, NOW)


@pytest.mark.parametrize("skew", [301, -301, -86_400])
def test_stale_or_future_timestamp_rejected(skew: int) -> None:
    ts = str(int(NOW) + skew)
    with pytest.raises(SignatureInvalid) as info:
        KieProvider(KEY).verify(headers(ts, sign("mj_task_12345", ts)), BODY, NOW)
    assert info.value.provider == "kie"


def test_nan_clock_fails_closed() -> None:
    ts = str(int(NOW))
    with pytest.raises(SignatureInvalid):
        KieProvider(KEY).verify(headers(ts, sign("mj_task_12345", ts)), BODY, float("nan"))


def test_wrong_signature_rejected_without_leaking_it() -> None:
    ts = str(int(NOW))
    bad = sign("mj_task_12345", ts, key=b"another-key")
    with pytest.raises(SignatureInvalid) as info:
        KieProvider(KEY).verify(headers(ts, bad), BODY, NOW)
    assert info.value.provider == "kie"
    assert info.value.code == "invalid_signature"
    assert bad not in info.value.message
    assert KEY.decode() not in info.value.message


def test_signature_for_other_task_rejected() -> None:
    ts = str(int(NOW))
    with pytest.raises(SignatureInvalid):
        KieProvider(KEY).verify(headers(ts, sign("another-task", ts)), BODY, NOW)


def test_signature_over_other_timestamp_rejected() -> None:
    ts = str(int(NOW))
    with pytest.raises(SignatureInvalid):
        KieProvider(KEY).verify(headers(ts, sign("mj_task_12345", str(int(NOW) - 1))), BODY, NOW)


@pytest.mark.parametrize(
    "hdrs",
    [
        {},
        {"X-Webhook-Timestamp": str(int(NOW))},
        {"X-Webhook-Signature": "c2lnbmF0dXJl"},
        headers("", "c2lnbmF0dXJl"),
        headers(str(int(NOW)), ""),
        headers("yesterday", "c2lnbmF0dXJl"),
        headers("1760000000.5", "c2lnbmF0dXJl"),
        headers("-1760000000", "c2lnbmF0dXJl"),
        headers("9" * 5000, "c2lnbmF0dXJl"),
        headers(str(int(NOW)), "not base64!!"),
        headers(str(int(NOW)), "abc"),
        headers(str(int(NOW)), "é"),
    ],
)
def test_missing_or_malformed_headers_rejected(hdrs: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        KieProvider(KEY).verify(hdrs, BODY, NOW)


@pytest.mark.parametrize("payload", [None, [], "body", {"code": 200, "data": {}}])
def test_signed_body_without_task_id_rejected(payload: Any) -> None:
    ts = str(int(NOW))
    with pytest.raises(SignatureInvalid):
        KieProvider(KEY).verify(headers(ts, sign("", ts)), payload, NOW)


@pytest.mark.parametrize("key", [None, b""])
def test_no_key_configured_verifies_nothing(key: bytes | None) -> None:
    KieProvider(key).verify({}, None, NOW)
    KieProvider(key).verify(headers("garbage", "garbage"), BODY, 0.0)
