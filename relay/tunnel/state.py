"""What ``relay tunnel`` remembers between runs: the channel (and its secrets) of each server + forward target.

Like ``stripe listen``, running the same command again reuses the same channel and ``whsec_`` secret, so the local
server's configuration stays valid and the relay's stored position lets the new run resume. The file holds
secrets: it is written atomically, readable by its owner only.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

FILE_NAME = "tunnels.json"


@dataclass(frozen=True, slots=True)
class SavedChannel:
    channel: str
    read_secret: str
    secret: str
    mode: str


def default_path(config_home: Path) -> Path:
    """``$XDG_CONFIG_HOME/relay/tunnels.json`` (``~/.config/relay/...`` without it): per user, not per directory."""
    return config_home.expanduser() / "relay" / FILE_NAME


def state_key(server: str, forward_to: str, mode: str, providers: tuple[str, ...]) -> str:
    return " ".join([server.rstrip("/"), forward_to, mode, ",".join(sorted(providers)) or "*"])


class TunnelState:
    """The saved channels in one JSON file, keyed by :func:`state_key`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError):
            return {}  # unreadable: start over rather than refuse to run; the file is rewritten on save
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> SavedChannel | None:
        entry = self._read().get(key)
        try:
            return SavedChannel(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def find(self, channel: str) -> SavedChannel | None:
        """The saved channel named ``channel``, whatever command saved it (for ``--channel``)."""
        for entry in self._read().values():
            if isinstance(entry, dict) and entry.get("channel") == channel:
                try:
                    return SavedChannel(**entry)
                except TypeError:
                    return None
        return None

    def save(self, key: str, saved: SavedChannel) -> None:
        data = self._read()
        data[key] = asdict(saved)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tunnels-")
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def forget(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            self.path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
