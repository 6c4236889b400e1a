"""The provider bodies' contract (tests/fixtures/providers/expected.json), shared by the unit and end-to-end tests.

Every entry is exercised twice: by ``provider`` (an adapter every relay version has) and by ``route`` (the adapter
that must read it). Nothing is skipped: an entry the code does not meet yet is a strict xfail listed below with
the reason, reported by ``-rxXs`` and turned into a failure (XPASS) the moment it is fixed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.providers import PROVIDER_NAMES
from tests.conftest import PROVIDERS_DIR

EXPECTED: list[dict[str, Any]] = json.loads((PROVIDERS_DIR / "expected.json").read_text(encoding="utf-8"))
CHALLENGES: list[dict[str, Any]] = json.loads((PROVIDERS_DIR / "challenges.json").read_text(encoding="utf-8"))
# The repository's own bodies (beyond the shared corpus, which expected.json mirrors): same format, by route.
EXPECTED_LOCAL: list[dict[str, Any]] = json.loads((PROVIDERS_DIR / "expected_local.json").read_text(encoding="utf-8"))

# Entries the code does not read right yet (issue 13), keyed by (file, "provider" | "route").
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def route_of(entry: dict[str, Any]) -> str:
    return str(entry.get("route", entry["provider"]))


def cases(kind: str) -> list[Any]:
    """pytest params over EXPECTED read by its ``provider`` or ``route`` adapter, known gaps as strict xfails."""
    params = []
    for entry in EXPECTED + (EXPECTED_LOCAL if kind == "route" else []):
        adapter = entry["provider"] if kind == "provider" else route_of(entry)
        if kind == "route" and adapter == entry["provider"] and entry in EXPECTED:
            continue  # the same adapter: already a "provider" case
        marks = []
        reason = KNOWN_BROKEN.get((entry["file"], kind))
        if adapter not in PROVIDER_NAMES:
            reason = f"no {adapter!r} adapter yet (issue 13)"
        if reason is not None:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(pytest.param(adapter, entry, id=f"{entry['file']}-{kind}:{adapter}", marks=marks))
    return params


def check_event(entry: dict[str, Any], event: dict[str, Any]) -> None:
    """One event (the API's JSON shape) against its expected.json entry."""
    assert (event["task_id"], event["type"], event["status"]) == (entry["task_id"], entry["type"], entry["status"])
    urls = [output["url"] for output in event["outputs"]]
    assert len(urls) == len(set(urls)), "duplicate output URL"
    assert all(output["kind"] in {"video", "image", "audio", "file"} for output in event["outputs"])
    if "progress" in entry:
        assert event["progress"] == entry["progress"]
    if "outputs" in entry:
        assert len(urls) == entry["outputs"]
    for url in entry.get("outputs_include", []):
        assert url in urls
    for url in entry.get("outputs_exclude", []):
        assert url not in urls
    error = event["error"]
    if "error_code" in entry:
        assert error is not None and error["code"] == entry["error_code"]
    elif entry["status"] == "failed":
        # The provider gives no code: the event still says, in words, why the task failed.
        assert error is not None and error["message"].strip()
    else:
        assert error is None
