"""The shared contract: every real callback body in /work/shared/providers parses as expected.json says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relay.providers import build_providers

PROVIDERS_DIR = Path(__file__).resolve().parents[3] / "shared" / "providers"
EXPECTED: list[dict[str, Any]] = json.loads((PROVIDERS_DIR / "expected.json").read_text(encoding="utf-8"))


def test_expected_covers_every_adapter() -> None:
    # replicate has its own vectors (tests/providers/test_replicate.py); its shared body is read as generic here.
    assert {entry["provider"] for entry in EXPECTED} == {"acedata", "ttapi", "kie", "generic"}


@pytest.mark.parametrize("entry", EXPECTED, ids=[entry["file"] for entry in EXPECTED])
def test_real_body(entry: dict[str, Any]) -> None:
    body = json.loads((PROVIDERS_DIR / entry["file"]).read_text(encoding="utf-8"))
    update = build_providers()[entry["provider"]].parse(body)

    assert update is not None
    assert update.task_id == entry["task_id"]
    assert update.event_type == entry["type"]
    assert update.status == entry["status"]
    if "progress" in entry:
        assert update.progress == entry["progress"]
    urls = [output.url for output in update.outputs]
    assert len(urls) == len(set(urls)), "duplicate output URL"
    if "outputs" in entry:
        assert len(urls) == entry["outputs"]
    for url in entry.get("outputs_include", []):
        assert url in urls
    for url in entry.get("outputs_exclude", []):
        assert url not in urls
    if "error_code" in entry:
        assert update.error is not None
        assert update.error.code == entry["error_code"]
    else:
        assert update.error is None
