"""AceData callbacks, written from its Midjourney docs (seed 000): success/progress/error, video and imagine bodies."""

from __future__ import annotations

from typing import Any

import pytest

from relay.providers.acedata import AceDataProvider
from relay.providers.base import Output, TaskError

TASK = "b726a27a-f379-4d91-b569-cfe4b7b299ee"
VIDEOS = [f"https://storage.fonedis.cc/video/9ff3/0_{i}.mp4" for i in range(4)]
COVER = "https://storage.fonedis.cc/upload_1751818513244368774.png"


def parse(body: Any) -> Any:
    return AceDataProvider().parse(body)


def test_name_and_no_signature() -> None:
    provider = AceDataProvider()
    assert provider.name == "acedata"
    provider.verify({}, {"task_id": TASK}, 0.0)  # signs nothing: never raises


def test_streaming_progress_is_processing_with_step() -> None:
    update = parse({"success": True, "task_id": TASK, "progress": 35})
    assert update.status == "processing"
    assert update.event_type == "task.progress"
    assert update.progress == 35
    assert update.step == "35"
    assert update.dedup_state == "processing:35"
    assert update.error is None


def test_streaming_steps_dedup_apart() -> None:
    first = parse({"success": True, "task_id": TASK, "progress": 35})
    second = parse({"success": True, "task_id": TASK, "progress": 70})
    assert first.dedup_state != second.dedup_state


def test_final_progress_100_is_succeeded_with_videos_and_cover() -> None:
    body = {
        "success": True,
        "task_id": TASK,
        "progress": 100,
        "image_url": COVER,
        "video_id": "17518",
        "video_urls": VIDEOS,
    }
    update = parse(body)
    assert update.status == "succeeded"
    assert update.event_type == "task.succeeded"
    assert update.progress == 100
    assert update.outputs == (
        Output(COVER, "image"),
        *(Output(url, "video") for url in VIDEOS),
    )


def test_success_without_progress_is_succeeded() -> None:
    update = parse({"success": True, "task_id": TASK, "video_urls": VIDEOS[:1]})
    assert update.status == "succeeded"
    assert update.progress is None
    assert update.outputs == (Output(VIDEOS[0], "video"),)


def test_imagine_result_images() -> None:
    body = {
        "success": True,
        "task_id": "6a97bc8e",
        "image_id": "1265485999343726592",
        "image_url": "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e.png",
        "image_width": 2048,
        "raw_image_url": "https://cdn.discordapp.com/attachments/1/2/grid_0.png",
        "sub_image_urls": [
            "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e-0.png",
            "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e-1.png",
        ],
        "actions": ["upscale1", "variation1"],
        "progress": 100,
    }
    update = parse(body)
    assert update.status == "succeeded"
    assert [o.url for o in update.outputs] == [
        "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e.png",
        "https://cdn.discordapp.com/attachments/1/2/grid_0.png",
        "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e-0.png",
        "https://platform.cdn.acedata.cloud/midjourney/6a97bc8e-1.png",
    ]
    assert {o.kind for o in update.outputs} == {"image"}


def test_failure_error_code_and_message() -> None:
    update = parse({"success": False, "task_id": TASK, "error": {"code": "api_error", "message": "boom"}})
    assert update.status == "failed"
    assert update.event_type == "task.failed"
    assert update.error == TaskError("api_error", "boom")
    assert update.outputs == ()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, TaskError("failed", "")),
        ({"message": "no code"}, TaskError("failed", "no code")),
        ({"code": 429, "message": "slow down"}, TaskError("429", "slow down")),
        ("plain text", TaskError("failed", "plain text")),
    ],
)
def test_failure_error_defaults(error: Any, expected: TaskError) -> None:
    body: dict[str, Any] = {"success": False, "task_id": TASK}
    if error is not None:
        body["error"] = error
    assert parse(body).error == expected


def test_error_without_success_flag_is_failure() -> None:
    update = parse({"task_id": TASK, "error": {"code": "timeout", "message": "took too long"}})
    assert update.status == "failed"
    assert update.error == TaskError("timeout", "took too long")


def test_inputs_and_callback_are_not_outputs() -> None:
    body = {
        "success": True,
        "task_id": TASK,
        "callback_url": "https://hooks.example.com/cb",
        "end_image_url": "https://example.com/last-frame.png",
        "request": {"image_url": "https://example.com/first-frame.png"},
        "video_urls": VIDEOS[:1],
    }
    assert [o.url for o in parse(body).outputs] == [VIDEOS[0]]


def test_task_record_shape_uses_response() -> None:
    body = {
        "id": "record-1",
        "request": {"image_url": "https://example.com/input.png", "callback_url": "https://hooks.example.com/x"},
        "response": {"success": True, "task_id": TASK, "video_urls": VIDEOS[:2]},
    }
    update = parse(body)
    assert update.task_id == TASK
    assert update.status == "succeeded"
    assert [o.url for o in update.outputs] == VIDEOS[:2]


def test_suno_style_tracks() -> None:
    body = {
        "success": True,
        "task_id": "suno-1",
        "data": [{"id": "t1", "audio_url": "https://cdn1.suno.ai/t1", "image_url": "https://cdn1.suno.ai/t1.jpeg"}],
    }
    assert parse(body).outputs == (
        Output("https://cdn1.suno.ai/t1", "audio"),
        Output("https://cdn1.suno.ai/t1.jpeg", "image"),
    )


@pytest.mark.parametrize("body", [None, [], "x", 3, {}, {"task_id": ""}, {"task_id": None}, {"success": True}])
def test_no_task_id_is_none(body: Any) -> None:
    assert parse(body) is None


def test_integer_task_id_becomes_string() -> None:
    assert parse({"task_id": 12345, "success": True}).task_id == "12345"
