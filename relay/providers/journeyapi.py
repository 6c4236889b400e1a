"""JourneyAPI (Midjourney and video models through one generation API): the run object POSTed to the request's
callback when a run ends, the same object its status endpoint returns.

``{"runId" (preferred) | "taskId" (legacy alias) | "id", "status": "pending"|"processing"|"completed"|"failed",
"model", "cost", "videos"|"images"|"videoUrl"|"imageUrl"|"output"..., "error"?}`` (the shared seed 002
describes the status endpoint: runId/taskId, statuses pending, processing, completed, failed). A runId is
unique per account only, so two tenants may see the same one (the dedup identity includes the callback URL tag).
"""

from __future__ import annotations

from typing import Any

from relay.providers.base import TaskUpdate
from relay.providers.generic import GenericProvider
from relay.providers.outputs import task_id_of


class JourneyAPIProvider(GenericProvider):
    name: str = "journeyapi"

    def parse(self, payload: Any) -> TaskUpdate | None:
        update = super().parse(payload)
        if update is None or not isinstance(payload, dict):
            return update
        # runId first: a run object's "id" is the generation's, "taskId" the legacy alias of runId.
        for key in ("runId", "run_id", "taskId"):
            run_id = task_id_of(payload.get(key))
            if run_id is not None:
                if run_id != update.task_id:
                    return TaskUpdate(
                        task_id=run_id,
                        status=update.status,
                        progress=update.progress,
                        outputs=update.outputs,
                        error=update.error,
                        step=update.step,
                    )
                break
        return update
