"""The new adapters on the other shapes their providers document: progress bodies, status endpoints, cancellations.
(The published bodies themselves run through expected_local.json, tests/providers/test_expected.py.)"""

from __future__ import annotations

from typing import Any

from relay.providers import build_providers

PROVIDERS = build_providers()


def read(provider: str, body: Any) -> Any:
    update = PROVIDERS[provider].parse(body)
    assert update is not None
    return update


def urls(update: Any) -> list[str]:
    return [output.url for output in update.outputs]


def test_piapi_progress_and_suno_clips() -> None:
    running = read(
        "piapi", {"timestamp": 1, "data": {"task_id": "t", "status": "processing", "output": {"progress": 40}}}
    )
    clips = read(
        "piapi",
        {
            "code": 200,
            "data": {
                "task_id": "s",
                "status": "completed",
                "input": {"image_url": "https://in.example/ref.png"},
                "output": {
                    "clips": {
                        "c1": {"audio_url": "https://cdn.example/c1.mp3", "image_url": "https://cdn.example/c1.jpg"}
                    }
                },
            },
        },
    )
    assert (running.status, running.progress, running.step) == ("processing", 40, "processing:40")
    assert clips.status == "succeeded"
    assert urls(clips) == ["https://cdn.example/c1.mp3", "https://cdn.example/c1.jpg"]


def test_fal_status_endpoint_shapes() -> None:
    queued = read("fal", {"status": "IN_QUEUE", "queue_position": 3, "request_id": "r"})
    running = read("fal", {"status": "IN_PROGRESS", "request_id": "r", "logs": []})
    done = read("fal", {"status": "COMPLETED", "request_id": "r"})
    assert (queued.status, running.status, done.status) == ("processing", "processing", "succeeded")
    assert queued.step != running.step  # both kept: two progress events


def test_mjproxy_cancel_and_split_images() -> None:
    canceled = read("mjproxy", {"id": "1", "status": "CANCEL", "failReason": None})
    done = read(
        "mjproxy",
        {
            "id": "2",
            "status": "SUCCESS",
            "progress": "100%",
            "imageUrl": "https://cdn.example/grid.png",
            "imageUrls": [{"url": "https://cdn.example/0.png"}, {"url": "https://cdn.example/1.png"}],
            "buttons": [{"customId": "MJ::JOB::upsample::1::abc", "label": "U1"}],
            "properties": {"notifyHook": "https://me.example/hook", "finalPrompt": "cat"},
        },
    )
    assert (canceled.status, canceled.error.message) == ("failed", "task canceled")
    assert urls(done) == ["https://cdn.example/grid.png", "https://cdn.example/0.png", "https://cdn.example/1.png"]


def test_volcengine_running_and_cancelled() -> None:
    assert read("volcengine", {"id": "cgt-1", "status": "running"}).status == "processing"
    cancelled = read("volcengine", {"id": "cgt-1", "status": "cancelled"})
    assert cancelled.status == "failed" and "cancelled" in cancelled.error.message
    request_echo = read(
        "volcengine",
        {
            "id": "cgt-2",
            "status": "queued",
            "content": [{"type": "image_url", "image_url": {"url": "https://in.example/a.png"}}],
        },
    )
    assert urls(request_echo) == []


def test_luma_dreaming_and_image_generation() -> None:
    assert read("luma", {"id": "g", "state": "dreaming", "assets": None}).status == "processing"
    image = read(
        "luma",
        {"id": "g", "generation_type": "image", "state": "completed", "assets": {"image": "https://cdn.example/x"}},
    )
    assert [(o.url, o.kind) for o in image.outputs] == [("https://cdn.example/x", "image")]


def test_leonardo_get_generation_and_failure() -> None:
    got = read(
        "leonardo",
        {
            "generations_by_pk": {
                "id": "g1",
                "status": "COMPLETE",
                "generated_images": [{"id": "i", "url": "https://cdn.leonardo.ai/a.jpg"}],
            }
        },
    )
    failed = read("leonardo", {"type": "image_generation.failed", "data": {"object": {"id": "g2", "status": "FAILED"}}})
    assert (got.task_id, got.status, urls(got)) == ("g1", "succeeded", ["https://cdn.leonardo.ai/a.jpg"])
    assert failed.status == "failed" and failed.error.message


def test_minimax_query_api_shape() -> None:
    done = read(
        "minimax", {"task_id": "t", "status": "Success", "file_id": 205258526306433, "base_resp": {"status_code": 0}}
    )
    queued = read("minimax", {"task_id": "t", "status": "Queueing", "base_resp": {"status_code": 0}})
    assert (done.status, done.refs) == ("succeeded", (("file_id", "205258526306433"),))
    assert queued.status == "queued"


def test_apiframe_v1_progress_and_failure() -> None:
    progress = read("apiframe", {"task_id": "t", "task_type": "imagine", "status": "processing", "percentage": "40"})
    failed = read("apiframe", {"task_id": "t", "status": "failed", "message": "Banned prompt"})
    assert (progress.status, progress.progress) == ("processing", 40)
    assert (failed.status, failed.error.message) == ("failed", "Banned prompt")


def test_journeyapi_run_id_first() -> None:
    legacy = read("journeyapi", {"taskId": "run_1", "status": "processing"})
    both = read(
        "journeyapi", {"runId": "run_2", "taskId": "run_2_legacy", "id": "gen_9", "status": "failed", "error": "boom"}
    )
    assert legacy.task_id == "run_1"
    assert (both.task_id, both.status, both.error.message) == ("run_2", "failed", "boom")


def test_piapi_legacy_midjourney_webhook() -> None:
    # piapi.ai/docs/legacy/midjourney-api/webhook: the body is the v2 fetch answer.
    done = read(
        "piapi",
        {
            "task_id": "legacy-1",
            "status": "finished",
            "task_result": {
                "image_url": "https://img.midjourneyapi.xyz/mj/legacy-1.png",
                "intermediate_image_urls": ["https://img.midjourneyapi.xyz/mj/legacy-1-50.png"],
                "task_progress": 100,
                "error_messages": [],
            },
        },
    )
    failed = read(
        "piapi", {"task_id": "legacy-2", "status": "failed", "task_result": {"error_messages": ["banned prompt"]}}
    )
    assert (done.status, urls(done)) == ("succeeded", ["https://img.midjourneyapi.xyz/mj/legacy-1.png"])
    assert (failed.status, failed.error.message) == ("failed", "banned prompt")
