"""Names the command line offers as choices, in a module that imports nothing.

``relay --help`` and ``relay tunnel`` build their options from these; importing them from :mod:`relay.providers` or
:mod:`relay.events` would load every provider adapter (and cryptography) before the first line is printed.
"""

from __future__ import annotations

PROVIDER_NAMES: tuple[str, ...] = (
    "acedata",
    "ttapi",
    "kie",
    "generic",
    "replicate",
    "fal",
    "piapi",
    "apiframe",
    "minimax",
    "leonardo",
    "journeyapi",
    "luma",
    "volcengine",
    "mjproxy",
)
UNRECOGNIZED = "callback.unrecognized"
EVENT_TYPES = ("task.succeeded", "task.failed", "task.timed_out", "task.progress", UNRECOGNIZED)
