"""TTAPI callbacks, written from its Midjourney video docs (seed 001): every status, results, hookUrl echo."""

from __future__ import annotations

from typing import Any

import pytest

from relay.providers.base import Output, TaskError
from relay.providers.ttapi import TTAPIProvider

JOB = "943583cb-08f4-4077-ad1e-f1bfc6c1191a"
HOOK = "https://webhook-test.com/1cb411db3bc4bfa7729c7df3ca2c1a5e"
INPUT_IMAGE = "https://unlimbot.hb.ru-msk.vkcloud-storage.ru/AQADJvYxG8ZHiEt-.jpeg"


def body(status: str, progress: Any = None, message: str = "", **data: Any) -> dict[str, Any]:
    inner: dict[str, Any] = {"action": "generate", "jobId": JOB, "hookUrl": HOOK, "prompt": "canoe", **data}
    if progress is not None:
        inner["progress"] = progress
    return {"status": status, "message": message, "jobId": JOB, "data": inner}


def parse(payload: Any) -> Any:
    return TTAPIProvider().parse(payload)


def test_pending_queue_is_queued() -> None:
    update = parse(body("PENDING_QUEUE", "0"))
    assert update.status == "queued"
    assert update.event_type == "task.progress"
    assert update.progress == 0
    assert update.outputs == ()


def test_on_queue_is_processing_with_progress_step() -> None:
    update = parse(body("ON_QUEUE", "45"))
    assert update.status == "processing"
    assert update.progress == 45
    assert update.step == "45"
    assert update.dedup_state == "processing:45"


def test_success_collects_videos_not_hook_url() -> None:
    videos = [f"https://cdn.midjourney.com/video/780b/{i}.mp4" for i in range(4)]
    update = parse(body("SUCCESS", "100", "success", videos=videos, quota="30"))
    assert update.status == "succeeded"
    assert update.progress == 100
    assert update.outputs == tuple(Output(url, "video") for url in videos)
    assert update.error is None


def test_success_imagine_images() -> None:
    update = parse(
        body(
            "SUCCESS",
            "100",
            cdnImage="https://cdnb.ttapi.io/2024-05-01/grid.png",
            images=["https://cdnb.ttapi.io/2024-05-01/0.png", "https://cdnb.ttapi.io/2024-05-01/1.png"],
            components=["upsample1", "variation1"],
        )
    )
    assert [o.url for o in update.outputs] == [
        "https://cdnb.ttapi.io/2024-05-01/grid.png",
        "https://cdnb.ttapi.io/2024-05-01/0.png",
        "https://cdnb.ttapi.io/2024-05-01/1.png",
    ]
    assert {o.kind for o in update.outputs} == {"image"}


def test_failed_carries_message() -> None:
    update = parse(body("FAILED", "0", "The image could not be fetched"))
    assert update.status == "failed"
    assert update.event_type == "task.failed"
    assert update.error == TaskError("FAILED", "The image could not be fetched")


def test_request_echo_is_not_output() -> None:
    update = parse(
        body("SUCCESS", "100", request={"imageUrl": INPUT_IMAGE}, promptImage=INPUT_IMAGE, videos=["https://c/0.mp4"])
    )
    assert [o.url for o in update.outputs] == ["https://c/0.mp4"]


def test_job_id_only_inside_data() -> None:
    update = parse({"status": "SUCCESS", "data": {"jobId": "inner-job", "progress": "100"}})
    assert update.task_id == "inner-job"
    assert update.status == "succeeded"


def test_unknown_status_is_processing() -> None:
    assert parse(body("SOMETHING_NEW")).status == "processing"


@pytest.mark.parametrize("payload", [None, [], "SUCCESS", {"status": "SUCCESS", "data": {"progress": "100"}}])
def test_no_job_id_is_none(payload: Any) -> None:
    assert parse(payload) is None
