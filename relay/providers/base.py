"""The provider contract: how one provider's callback becomes a normalized task update.

A provider adapter is a module-level object with:

* ``name`` - the path segment in ``/hooks/{name}/{token}``;
* ``verify(headers, payload, now, body=...)`` - raise :class:`relay.errors.SignatureInvalid` when the provider
  signs its callbacks, the operator configured the secret, and the request does not carry a valid signature.
  Providers that sign nothing (most of them) do nothing. ``payload`` is the parsed JSON (or ``None`` for non-JSON
  bodies); ``body`` the raw bytes (what body-signing schemes such as Standard Webhooks sign); ``now`` is the
  caller's clock, in unix seconds. It must raise nothing else, whatever the headers hold.
* ``parse(payload)`` - turn the parsed JSON body into a :class:`TaskUpdate`, or return ``None`` when the body is
  not one this provider sends (no task id). It must never raise: arbitrary JSON is arbitrary input.

Adapters are pure: no I/O, no clock, no settings read at call time (configuration is given at construction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["succeeded", "failed", "processing", "queued"]
OutputKind = Literal["video", "image", "audio", "file"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed"})


@dataclass(frozen=True, slots=True)
class Output:
    url: str
    kind: OutputKind


@dataclass(frozen=True, slots=True)
class TaskError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """What one callback says about one task.

    ``step`` distinguishes two non-terminal callbacks of the same status (a progress value, Suno's
    ``callbackType``...) so that the deduplication key keeps both; it is ignored for terminal statuses.
    """

    task_id: str
    status: Status
    progress: int | None = None
    outputs: tuple[Output, ...] = field(default_factory=tuple)
    error: TaskError | None = None
    step: str | None = None
    # Identifiers of results that are no URL (MiniMax's ``file_id``), by the provider's own field name.
    refs: tuple[tuple[str, str], ...] = ()
    # More results than MAX_OUTPUTS (relay.providers.outputs): the event keeps the first ones, the raw body all.
    outputs_truncated: bool = False

    @property
    def event_type(self) -> str:
        if self.status == "succeeded":
            return "task.succeeded"
        if self.status == "failed":
            return "task.failed"
        return "task.progress"

    @property
    def dedup_state(self) -> str:
        """The state part of the dedup key: a terminal status alone, else status plus progress step."""
        if self.status in TERMINAL_STATUSES:
            return self.status
        step = self.step if self.step is not None else ("" if self.progress is None else str(self.progress))
        return f"{self.status}:{step}"


class Provider(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None: ...

    def parse(self, payload: Any) -> TaskUpdate | None: ...
