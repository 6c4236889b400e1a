"""Refresh ``docs/dashboard.png``, the README's picture of the events page: ``python -m tests.dashboard.screenshot``.

It runs the browser test that draws forty minutes of traffic through a real relay and Chromium, with
``RELAY_TEST_SCREENSHOT`` pointing at the docs. A plain ``python -m pytest`` writes its screenshot to a tmp dir.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "dashboard.png"
TEST = "tests/dashboard/test_browser.py::test_screenshot_of_the_events_page"


def main() -> int:
    os.environ["RELAY_TEST_SCREENSHOT"] = str(TARGET)
    code = int(pytest.main([str(ROOT / TEST), "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT)]))
    if code == 0:
        print(f"wrote {TARGET.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
