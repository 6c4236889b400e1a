"""The generic adapter: the seed 002 reseller (runId/taskId + pending|processing|completed|failed) and others."""

from __future__ import annotations

from typing import Any

import pytest

from relay.providers.base import Output, TaskError
from relay.providers.generic import GenericProvider


def parse(payload: Any) -> Any:
    return GenericProvider().parse(payload)


@pytest.mark.parametrize(
    ("status", "expected", "event"),
    [
        ("pending", "queued", "task.progress"),
        ("processing", "processing", "task.progress"),
        ("completed", "succeeded", "task.succeeded"),
        ("failed", "failed", "task.failed"),
    ],
)
def test_seed_002_statuses(status: str, expected: str, event: str) -> None:
    update = parse({"runId": "run_abc123", "id": "gen_1", "status": status, "model": "midjourney-video", "cost": 0.5})
    assert update.task_id == "run_abc123"
    assert update.status == expected
    assert update.event_type == event


def test_seed_002_completed_with_videos() -> None:
    body = {
        "runId": "run_abc123",
        "status": "completed",
        "videos": ["https://cdn.example.com/v/0.mp4", "https://cdn.example.com/v/1.mp4"],
        "videoUrl": "https://cdn.example.com/v/0.mp4",
    }
    assert parse(body).outputs == (
        Output("https://cdn.example.com/v/0.mp4", "video"),
        Output("https://cdn.example.com/v/1.mp4", "video"),
    )


def test_seed_002_failed_error() -> None:
    update = parse({"taskId": "legacy-1", "status": "failed", "error": "Source video too long"})
    assert update.task_id == "legacy-1"
    assert update.error == TaskError("failed", "Source video too long")


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("SUCCESS", "succeeded"),
        ("COMPLETE", "succeeded"),
        ("finished", "succeeded"),
        ("succeed", "succeeded"),
        ("Succeeded", "succeeded"),
        ("done", "succeeded"),
        ("OK", "succeeded"),
        ("FAILED", "failed"),
        ("error", "failed"),
        ("failure", "failed"),
        ("canceled", "failed"),
        ("cancelled", "failed"),
        ("timeout", "failed"),
        ("queued", "queued"),
        ("waiting", "queued"),
        ("submitted", "queued"),
        ("starting", "queued"),
        ("running", "processing"),
        ("in_progress", "processing"),
        ("IN-PROGRESS", "processing"),
        ("generating", "processing"),
        ("brand-new-word", "processing"),
    ],
)
def test_status_words(word: str, status: str) -> None:
    assert parse({"job_id": "j", "state": word}).status == status


def test_nested_data_task_id_and_progress_percent_string() -> None:
    update = parse({"event": "task.progress", "id": "evt_1", "data": {"taskId": "inner-1", "progress": "45%"}})
    assert update.task_id == "inner-1"
    assert update.status == "processing"
    assert update.progress == 45
    assert update.step == "45"


@pytest.mark.parametrize(("raw", "value"), [("45", 45), ("45%", 45), (45, 45), (45.5, 45), (250, 100), (-3, 0)])
def test_progress_forms(raw: Any, value: int) -> None:
    assert parse({"taskId": "t", "status": "running", "percentage": raw}).progress == value


def test_success_flag() -> None:
    assert parse({"task_id": "t", "success": True}).status == "succeeded"
    assert parse({"task_id": "t", "success": True, "progress": 40}).status == "processing"
    failed = parse({"task_id": "t", "success": False, "error": {"code": "quota", "message": "no credits"}})
    assert failed.status == "failed"
    assert failed.error == TaskError("quota", "no credits")


def test_numeric_error_code_is_failure() -> None:
    update = parse({"code": 500, "msg": "Internal error", "data": {"task_id": "t"}})
    assert update.status == "failed"
    assert update.error == TaskError("500", "Internal error")


def test_midjourney_proxy_failure_reason() -> None:
    update = parse({"id": "1400", "action": "IMAGINE", "status": "FAILURE", "failReason": "banned prompt"})
    assert update.status == "failed"
    assert update.error == TaskError("failed", "banned prompt")


def test_replicate_outputs_exclude_input_and_api_links() -> None:
    body = {
        "id": "pred-1",
        "status": "succeeded",
        "input": {"image": "https://replicate.delivery/input.png"},
        "output": ["https://replicate.delivery/out-0.webp", "https://replicate.delivery/out-1.webp"],
        "urls": {"get": "https://api.replicate.com/v1/predictions/pred-1", "cancel": "https://api.replicate.com/x"},
        "webhook": "https://hooks.example.com/r",
        "webhook_config": {"endpoint": "https://hooks.example.com/r2"},
    }
    assert parse(body).outputs == (
        Output("https://replicate.delivery/out-0.webp", "image"),
        Output("https://replicate.delivery/out-1.webp", "image"),
    )


@pytest.mark.parametrize(
    ("output", "urls"),
    [
        ("https://replicate.delivery/out.mp4", ["https://replicate.delivery/out.mp4"]),
        ("hello Alice", []),
        (["ftp://x/y.png", "data:image/png;base64,AAAA", "https://ok.example/y"], ["https://ok.example/y"]),
    ],
)
def test_replicate_output_forms(output: Any, urls: list[str]) -> None:
    update = parse({"id": "pred-2", "status": "succeeded", "output": output})
    assert [o.url for o in update.outputs] == urls


def test_kind_falls_back_to_extension() -> None:
    body = {
        "taskId": "t",
        "status": "done",
        "results": [
            "https://f.example/a.MOV",
            "https://f.example/b.jpeg?sig=1",
            "https://f.example/c.flac",
            "https://f.example/d.zip",
        ],
    }
    assert [o.kind for o in parse(body).outputs] == ["video", "image", "audio", "file"]


def test_specific_id_beats_envelope_id() -> None:
    assert parse({"id": "evt_9", "data": {"job_id": 42}}).task_id == "42"
    assert parse({"id": "only-id"}).task_id == "only-id"


@pytest.mark.parametrize("payload", [None, True, 1.5, "text", [], [{"taskId": "t"}], {}, {"taskId": "  "}])
def test_no_task_id_is_none(payload: Any) -> None:
    assert parse(payload) is None


# Issue 13, item 5: generic reading.


def test_results_without_a_status_are_a_success() -> None:
    # APIFrame v1's result body has no status at all; its progress bodies do ("processing", "percentage").
    done = parse({"task_id": "t1", "task_type": "imagine", "original_image_url": "https://cdn.example/grid.png"})
    under_way = parse({"task_id": "t1", "task_type": "imagine", "status": "processing", "percentage": 40})
    nothing = parse({"task_id": "t1", "task_type": "imagine"})

    assert (done.status, [o.url for o in done.outputs]) == ("succeeded", ["https://cdn.example/grid.png"])
    assert (under_way.status, under_way.progress) == ("processing", 40)
    assert nothing.status == "processing"  # no result, no status: nothing says it is done


def test_status_ok_with_a_payload_error_is_a_failure() -> None:
    update = parse({"request_id": "r1", "status": "OK", "payload": None, "payload_error": "not JSON serializable"})
    ok = parse({"request_id": "r1", "status": "OK", "payload": {"images": [{"url": "https://fal.media/a.png"}]}})

    assert update.status == "failed"
    assert update.error is not None and "not JSON serializable" in update.error.message
    assert (ok.status, [o.url for o in ok.outputs]) == ("succeeded", ["https://fal.media/a.png"])


def test_task_id_inside_data_object() -> None:
    body = {
        "type": "image_generation.complete",
        "object": "generation",
        "data": {"object": {"id": "gen-1", "status": "COMPLETE", "images": [{"url": "https://cdn.leonardo.ai/a.jpg"}]}},
    }
    update = parse(body)
    assert (update.task_id, update.status) == ("gen-1", "succeeded")


def test_a_cancellation_without_a_message_says_so() -> None:
    update = parse({"id": "p1", "status": "canceled", "error": None})
    assert update.status == "failed"
    assert update.error is not None and "canceled" in update.error.message
