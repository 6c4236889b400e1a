"""Every module of the package imports on its own, first, in an interpreter where nothing of relay is loaded yet.

An import cycle only fails for some entry points (``import relay.app`` may work while ``import
relay.dashboard.routes`` does not), so each module is imported first in its own child: the parent preloads the
third-party libraries once, then forks one child per module, which is as fresh as a new interpreter for relay and
costs a fraction of a new interpreter's start (children run side by side, one per core).
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import relay

CHILD = r"""
import importlib, os, sys
# Third-party only: loaded once here, shared by every forked child.
import click, httpx, jinja2, orjson, prometheus_client, redis.asyncio, starlette.applications, uvicorn
assert not [name for name in sys.modules if name == "relay" or name.startswith("relay.")]
failed = 0
running = 0
for name in sys.argv[1:]:
    if running == os.cpu_count():
        failed += os.waitpid(-1, 0)[1] != 0
        running -= 1
    if os.fork() == 0:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
            os._exit(1)
        os._exit(0)
    running += 1
for _ in range(running):
    failed += os.waitpid(-1, 0)[1] != 0
sys.exit(1 if failed else 0)
"""


def package_modules() -> list[str]:
    names = ["relay"]
    for info in pkgutil.walk_packages(relay.__path__, "relay."):
        if info.name != "relay.__main__":  # runs the CLI when imported
            names.append(info.name)
    return sorted(names)


def test_the_package_is_walked() -> None:
    # Positive control for the walk itself: a few modules that exist at every depth.
    names = package_modules()
    assert {"relay", "relay.app", "relay.dashboard.routes", "relay.store.store"} <= set(names)
    assert len(names) == len([p for p in Path(relay.__path__[0]).rglob("*.py") if p.name != "__main__.py"])


@pytest.mark.timeout(300)  # about 5 s on 2 quiet cores; much more on a machine busy with other work
def test_every_module_imports_first() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *package_modules()], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cycle_is_caught(tmp_path: Path) -> None:
    # Positive control: the same child reports a package whose two modules import each other.
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (package / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "cyclic.a"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 1
    assert "cyclic.a: ImportError" in result.stdout


def module_imports(name: str, source: str) -> set[str]:
    """The relay modules ``name`` imports when it is loaded (module level, not inside functions)."""
    found: set[str] = set()
    package = name if source.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.parse(Path(source).read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found |= {alias.name for alias in inner.names}
            elif isinstance(inner, ast.ImportFrom):
                base = inner.module or ""
                if inner.level:
                    base = ".".join([package.rsplit(".", inner.level - 1)[0], *([base] if base else [])])
                found |= {base} | {f"{base}.{alias.name}" for alias in inner.names}
    return {module for module in found if module.startswith("relay")}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_module_imports_form_no_cycle() -> None:
    """Stricter than importing: no cycle at all among module-level imports, whatever order loads them.

    A package's ``__init__`` importing its own submodules is not counted (Python loads the package first).
    """
    modules = {info.name: info for info in pkgutil.walk_packages(relay.__path__, "relay.")}
    sources = {name: str(Path(relay.__path__[0]).parent / (name.replace(".", "/"))) for name in modules}
    graph: dict[str, set[str]] = {}
    for name, info in modules.items():
        source = sources[name] + ("/__init__.py" if info.ispkg else ".py")
        graph[name] = {
            module
            for module in module_imports(name, source)
            if module in modules and module != name and not name.startswith(module + ".")
        }
    assert import_cycles(graph) == []
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]  # positive control
