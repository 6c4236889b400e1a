"""The release metadata agrees with itself: version, changelog, licence, and the CI running README's commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from relay import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_the_newest_changelog_release_is_the_package_version() -> None:
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases, "CHANGELOG.md has no release heading like '## [0.1.0] - 2026-11-22'"
    assert releases[0] == __version__


def test_the_license_file_is_the_one_the_metadata_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_ci_lints_then_runs_readme_test_command_then_the_lowest_versions() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = "pip install -e '.[test]' && python -m pytest"
    assert command in readme
    steps = [line for line in ci if line and not line.startswith("#")]
    assert command in steps, ".ci/run does not run README's test command"
    for lint in ("ruff check .", "ruff format --check .", "mypy"):
        assert lint in steps, f".ci/run does not run {lint!r}"
        assert steps.index(lint) < steps.index(command)
    # After the tests: the same in-process tests at the lowest versions pyproject.toml allows.
    assert steps.index(".ci/lowest") > steps.index(command)
