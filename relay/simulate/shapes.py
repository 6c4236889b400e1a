"""The bodies the simulated providers send: submit acknowledgements, status answers and callbacks, per their docs.

Each :class:`Flavor` knows one provider API: how to read a submit request (its task id field name, callback URL
field), and how to say a task's state as a status answer and as a callback. Shapes follow the docs listed in
docs/tasks.md (Kie Market ``recordInfo`` and callbacks, Kie MJ ``record-info``, TTAPI ``fetch`` and ``hookUrl``,
AceData ``tasks`` retrieve and ``callback_url``, Replicate predictions and webhooks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimTask:
    """One simulated generation; ``state`` is queued -> processing -> succeeded | failed."""

    provider: str
    service: str
    task_id: str
    callback_url: str
    created_s: float
    state: str = "queued"
    progress: int = 0
    done_s: float = 0.0
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> list[str]:
        return [f"https://files.sim.test/{self.provider}/{self.task_id}/{n}.png" for n in range(2)]


def kie_record(task: SimTask) -> dict[str, Any]:
    """Kie Market's record (``recordInfo`` data, and the body of its callback)."""
    state = {"queued": "waiting", "processing": "generating", "succeeded": "success", "failed": "fail"}[task.state]
    done = task.state in ("succeeded", "failed")
    return {
        "taskId": task.task_id,
        "model": task.request.get("model", "sim/model"),
        "state": state,
        "param": json.dumps(task.request),
        "resultJson": json.dumps({"resultUrls": task.results}) if task.state == "succeeded" else "",
        "failCode": "500" if task.state == "failed" else "",
        "failMsg": "simulated failure" if task.state == "failed" else "",
        "completeTime": int(task.done_s * 1000) if done else None,
        "createTime": int(task.created_s * 1000),
        "updateTime": int(task.created_s * 1000),
    }


def kie_mj_record(task: SimTask) -> dict[str, Any]:
    flag = {"queued": 0, "processing": 0, "succeeded": 1, "failed": 3}[task.state]
    return {
        "taskId": task.task_id,
        "taskType": "mj_txt2img",
        "paramJson": json.dumps(task.request),
        "resultInfoJson": {"resultUrls": [{"resultUrl": url} for url in task.results]} if flag == 1 else None,
        "successFlag": flag,
        "errorCode": 500 if flag == 3 else None,
        "errorMessage": "simulated failure" if flag == 3 else None,
    }


def kie_status(task: SimTask) -> dict[str, Any]:
    data = kie_mj_record(task) if task.service == "mj" else kie_record(task)
    return {"code": 200, "msg": "success", "data": data}


def kie_callback(task: SimTask) -> dict[str, Any] | None:
    """Kie calls back once a task is done (no progress callbacks)."""
    if task.state == "failed":
        return {"code": 501, "msg": "simulated failure", "data": kie_record(task) | {"taskId": task.task_id}}
    if task.state != "succeeded":
        return None
    if task.service == "mj":
        data = {"taskId": task.task_id, "promptJson": json.dumps(task.request), "resultUrls": task.results}
        return {"code": 200, "msg": "success", "data": data}
    return {"code": 200, "msg": "Playground task completed successfully.", "data": kie_record(task)}


def ttapi_body(task: SimTask) -> dict[str, Any]:
    """TTAPI's fetch answer, which its hookUrl callbacks repeat."""
    status = {"queued": "PENDING_QUEUE", "processing": "ON_QUEUE", "succeeded": "SUCCESS", "failed": "FAILED"}
    data: dict[str, Any] = {
        "action": "imagine",
        "jobId": task.task_id,
        "progress": str(task.progress),
        "prompt": task.request.get("prompt", ""),
        "hookUrl": task.callback_url or None,
    }
    if task.state == "succeeded":
        data.update(cdnImage=task.results[0], images=task.results)
    return {
        "status": status[task.state],
        "message": "simulated failure" if task.state == "failed" else "",
        "jobId": task.task_id,
        "data": data,
    }


def ttapi_callback(task: SimTask) -> dict[str, Any] | None:
    return ttapi_body(task) if task.state in ("processing", "succeeded", "failed") else None


def acedata_callback(task: SimTask) -> dict[str, Any] | None:
    """AceData's callback_url body: flat, ``success`` and ``progress`` (streamed steps below 100)."""
    if task.state == "failed":
        return {"success": False, "task_id": task.task_id, "error": {"code": "sim", "message": "simulated failure"}}
    if task.state == "processing":
        return {"success": True, "task_id": task.task_id, "progress": task.progress}
    if task.state == "succeeded":
        return {
            "success": True,
            "task_id": task.task_id,
            "progress": 100,
            "image_url": task.results[0],
            "sub_image_urls": task.results,
        }
    return None


def acedata_status(task: SimTask) -> dict[str, Any]:
    """AceData's ``tasks`` retrieve: the request, and the callback body as ``response`` once there is one."""
    body: dict[str, Any] = {"id": task.task_id, "request": task.request}
    response = acedata_callback(task)
    if response is not None:
        body["response"] = response
    return body


def replicate_prediction(task: SimTask, base: str) -> dict[str, Any]:
    status = {"queued": "starting", "processing": "processing", "succeeded": "succeeded", "failed": "failed"}
    return {
        "id": task.task_id,
        "model": "sim/model",
        "version": "sim",
        "input": task.request.get("input", {}),
        "logs": f"{task.progress}%|####|" if task.state == "processing" else "",
        "output": task.results if task.state == "succeeded" else None,
        "error": "simulated failure" if task.state == "failed" else None,
        "status": status[task.state],
        "urls": {
            "get": f"{base}/v1/predictions/{task.task_id}",
            "cancel": f"{base}/v1/predictions/{task.task_id}/cancel",
        },
    }
