"""The repository's provider bodies (tests/fixtures/providers) parse as their expected.json says."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest

from relay.providers import build_providers
from tests.conftest import PROVIDERS_DIR
from tests.providers.contract import CHALLENGES, EXPECTED, EXPECTED_LOCAL, cases, check_event

PROVIDERS = build_providers()


def test_every_fixture_is_in_the_contract_and_has_a_source() -> None:
    bodies = {path.name for path in PROVIDERS_DIR.glob("*.json")} - {
        "expected.json",
        "expected_local.json",
        "challenges.json",
    }
    referenced = [entry["file"] for entry in EXPECTED + EXPECTED_LOCAL + CHALLENGES]
    sources = set(re.findall(r"`([^`]+\.json)`", (PROVIDERS_DIR / "SOURCES.md").read_text(encoding="utf-8")))

    assert set(referenced) == bodies
    assert bodies <= sources, f"no source written down for {sorted(bodies - sources)}"


@pytest.mark.parametrize(("adapter", "entry"), cases("provider") + cases("route"))
def test_real_body(adapter: str, entry: dict[str, Any]) -> None:
    body = json.loads((PROVIDERS_DIR / entry["file"]).read_text(encoding="utf-8"))
    update = PROVIDERS[adapter].parse(body)

    assert update is not None
    check_event(
        entry,
        {
            "task_id": update.task_id,
            "type": update.event_type,
            "status": update.status,
            "progress": update.progress,
            "outputs": [asdict(output) for output in update.outputs],
            "error": None if update.error is None else asdict(update.error),
        },
    )
