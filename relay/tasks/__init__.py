"""Tracked tasks: follow every generation to its end, polling the provider when its callbacks never come.

``catalog`` (status endpoints), ``policy`` (deadlines, backoff), ``fetch`` (one status request), ``service``
(register, read, wait, settle), ``poller`` (the loop beside the delivery worker), ``notify`` (per-task
notifications through the delivery worker), ``cli`` (``relay tasks``). Redis access is in :mod:`relay.store.tasks`.
"""
