"""deploy/ and the Procfile stay consistent with the code: manifests parse, every command is one the CLI accepts,
every setting they name exists and is documented, and the example settings load."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from relay.cli import cli
from relay.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
README = (ROOT / "README.md").read_text()
# The reference: README is a quickstart, the settings are documented in docs/.
DOCS = "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
FILES = [ROOT / "Procfile", *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]
# Names that are not RELAY_* settings but that the relay reads.
OTHER_VARIABLES = {"REDIS_URL", "PORT", "WEB_CONCURRENCY"}


def relay_commands() -> list[list[str]]:
    """Every ``relay ...`` command line written in deploy/ and the Procfile (shell or exec-array form)."""
    found: list[list[str]] = []
    for path in FILES:
        # Commands, not prose: comment lines are left out.
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        for line in re.findall(r"(?:^|[\s/\"'\[])relay (serve|worker)([^\n\"\]]*)", text):
            found.append([line[0], *shlex.split(line[1].split("#")[0])])
        for array in re.findall(r'\["relay", ([^\]]*)\]', text):
            found.append([part.strip().strip('"') for part in array.split(",")])
    return found


def test_manifests_parse() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"redis", "web", "worker"}
    kinds = [
        doc["kind"] for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
    ]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Deployment", "Secret", "Service", "Service", "StatefulSet"]


def test_every_command_is_one_the_cli_accepts() -> None:
    commands = relay_commands()
    assert {command[0] for command in commands} == {"serve", "worker"}
    for name, *args in commands:
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        command.make_context(name, list(args))  # raises on an unknown option


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setting_named_exists_and_is_documented(path: Path) -> None:
    for name in set(re.findall(r"\b(RELAY_[A-Z0-9_]+|REDIS_URL|WEB_CONCURRENCY)\b", path.read_text())):
        assert f"`{name}`" in DOCS, f"{name} (in {path.name}) is not documented in docs/ (docs/settings.md)"


def test_every_setting_the_code_reads_is_documented() -> None:
    source = (ROOT / "relay" / "config.py").read_text()
    names = {f"RELAY_{name}" for name in re.findall(r'config\("([A-Z0-9_]+)"', source)} | OTHER_VARIABLES
    assert len(names) > 40  # the positive control: the pattern finds the settings
    missing = sorted(name for name in names if f"`{name}`" not in DOCS)
    assert not missing, f"not documented in docs/ (docs/settings.md): {missing}"


def test_every_relay_command_in_the_readme_is_one_the_cli_accepts() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    lines = [line.split("#")[0] for block in blocks for line in block.splitlines()]
    commands = [shlex.split(found) for line in lines for found in re.findall(r"(?:^|\$\(|&& )relay ([^)]*)", line)]
    assert len(commands) >= 5
    for args in commands:
        command: click.Command = cli
        rest = list(args)
        while isinstance(command, click.Group):
            found = command.commands.get(rest[0]) if rest else None
            assert found is not None, f"`relay {' '.join(args)}` in README: no such command"
            command, rest = found, rest[1:]
        command.make_context(command.name or "", rest)  # raises on an unknown option or a missing argument


def test_the_example_settings_load() -> None:
    environ = {"REDIS_URL": "redis://redis:6379/0"}
    for line in (DEPLOY / "relay.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            environ[name] = value
    settings = Settings.from_environ(environ)
    assert settings.log_format == "json" and settings.metrics_token is not None


def test_the_web_processes_run_without_the_in_app_worker() -> None:
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)
    assert "RELAY_WORKER=false" in procfile["web"] and "relay serve" in procfile["web"]
    assert procfile["worker"].endswith("relay worker")
    assert "ENV RELAY_WORKER=false" in (DEPLOY / "Dockerfile").read_text()
    web = next(yaml.safe_load_all((DEPLOY / "k8s" / "web.yaml").read_text()))
    env = web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "RELAY_WORKER", "value": "false"} in env
    assert "RELAY_WORKER=false" in (DEPLOY / "systemd" / "relay-web.service").read_text()
