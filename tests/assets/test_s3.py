"""Copies in object storage: an S3-compatible server (moto, its own process) over the real protocol."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from relay.config import Settings
from tests.assets.conftest import post_result, settled
from tests.assets.files import FileServer, generated
from tests.assets.s3 import CREDENTIALS, create_bucket, moto_server, object_keys
from tests.conftest import app_client

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_settings(assets_settings: Callable[..., Settings], s3_endpoint: str, request: pytest.FixtureRequest) -> Settings:
    bucket = f"relay-{request.node.name.replace('_', '-')[:40].lower()}"
    create_bucket(s3_endpoint, bucket)
    settings = assets_settings()
    # What Settings.from_environ collects from AWS_* variables (tests/assets/test_settings.py checks that part).
    return dataclasses.replace(
        settings,
        assets_url=f"s3://{bucket}/media",
        assets_store_options={**CREDENTIALS, "AWS_ENDPOINT": s3_endpoint, "AWS_CA_BUNDLE": "/nonexistent"},
    )


async def test_copies_go_to_object_storage_behind_presigned_urls(
    s3_settings: Settings, s3_endpoint: str, files: FileServer, tmp_path: Path
) -> None:
    image = generated(200_000, seed=11)
    video = generated(6_000_000, seed=12)  # over obstore's 5 MB part size: a multipart upload
    urls = [files.add("s3.png", image, "image/png"), files.add("s3.mp4", video, "video/mp4")]
    bucket = httpx.URL(f"http://x/{s3_settings.assets_url[5:]}").path.split("/")[1]
    async with app_client(s3_settings) as relay:
        event = await settled(relay, await post_result(relay, "t-s3", urls), timeout_s=20)
        again = await settled(relay, await post_result(relay, "t-s3-again", [urls[0]]), timeout_s=20)

    assert event["assets"]["status"] == "complete"
    for output, data, content_type in zip(event["outputs"], [image, video], ["image/png", "video/mp4"], strict=True):
        asset = output["asset"]
        assert asset["url"].startswith(f"{s3_endpoint}/{bucket}/media/sha256/")
        assert "X-Amz-Signature=" in asset["url"]
        answer = httpx.get(asset["url"])  # what a subscriber does with the link
        assert answer.status_code == 200
        assert answer.content == data
        assert answer.headers["content-type"] == content_type
        assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert again["outputs"][0]["asset"]["sha256"] == event["outputs"][0]["asset"]["sha256"]
    expected = sorted(f"media/sha256/{h[:2]}/{h}" for h in (hashlib.sha256(d).hexdigest() for d in (image, video)))
    assert object_keys(s3_endpoint, bucket) == expected  # each file once, nothing half-written
    assert list((tmp_path / "data" / "assets-tmp").iterdir()) == []  # temporary files removed
    assert not (tmp_path / "data" / "assets").exists()  # nothing went to the local backend
