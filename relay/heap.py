"""The collector and a long-running server: what start-up allocated is left out of every collection.

A server process imports and builds far more objects (modules, classes, functions, the app) than its requests ever
hold at once, and Python's oldest-generation collections walk all of them: on a loaded relay each such pass held
the event loop for tens of milliseconds, which was most of the ack latency's 99th percentile. Nothing start-up
built becomes garbage while the process runs, so it is collected once and then frozen (``gc.freeze``: kept alive,
never walked again); requests' own cycles are collected as before.
"""

from __future__ import annotations

import gc

_settled = False


def settle() -> None:
    """Collect start-up's garbage, then leave what survives out of later collections. Once per process: calling it
    again (a second app in the same process, as tests build) does nothing."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
