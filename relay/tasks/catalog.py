"""Each provider's status endpoint, per service: where the poller asks, how it signs in, how it reads the answer.

The providers document their status answer as the shape of their callback (or close to it), so a poll answer is
read by the same adapter (``state.providers[name].parse``) once :func:`read_answer` has taken off the envelope's
request-level errors and, where the record's shape differs (Kie Suno), rewritten it as the callback would say it.
Sources, per endpoint: docs/tasks.md. Pure data and functions: no I/O, no settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TASK_PROVIDERS: tuple[str, ...] = ("kie", "ttapi", "acedata", "replicate", "piapi")
DEFAULT_BASES: dict[str, str] = {
    "kie": "https://api.kie.ai",
    "ttapi": "https://api.ttapi.io",
    "acedata": "https://api.acedata.cloud",
    "replicate": "https://api.replicate.com",
    "piapi": "https://api.piapi.ai",
}
# When a task without a terminal event is first polled. Kie's docs suggest polling every 30 s and Kie retries a failed
# callback after 1, 5 and 15 minutes; ten minutes covers most generations and the first retries, and finds a result
# whose callbacks were all lost long before anyone notices.
DEFAULT_DEADLINES_S: dict[str, float] = {provider: 600.0 for provider in TASK_PROVIDERS}
# Providers whose status endpoint needs no service name; their tasks are stored under this one.
NO_SERVICE = "-"
_ACEDATA_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
_TTAPI_MJ_ACTIONS = re.compile(r"(imagine|upsample|upscale|variation|reroll|zoom|pan|describe|blend|video|inpaint)")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one status answer says: a body for the adapter, a provider-reported error, or nothing yet."""

    payload: Any = None
    error: str | None = None


Reader = Callable[[Any], Answer]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One status endpoint. ``path`` may hold ``{task_id}`` and ``{service}``; ``id_param`` names where the task id
    goes otherwise (query string, form or JSON body)."""

    method: str
    path: str
    read: Reader
    id_param: str = ""
    body: str = ""  # "" (query string), "form" or "json"
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusRequest:
    method: str
    path: str
    params: dict[str, str]
    form: dict[str, str] | None
    json: dict[str, str] | None


def _text(value: Any, limit: int = 200) -> str:
    return str(value)[:limit] if value is not None else ""


def _kie(payload: Any) -> Answer:
    if not isinstance(payload, dict):
        return Answer(error="answer is not a JSON object")
    if payload.get("code") != 200:
        message = _text(payload.get("msg") or payload.get("message"))
        return Answer(error=f"code {_text(payload.get('code'), 20)}: {message}")
    data = payload.get("data")
    if not isinstance(data, dict) or not any(key in data for key in ("state", "successFlag", "status")):
        return Answer(error="answer carries no task state")
    return Answer(payload=payload)


# Kie Suno's record says in ``status`` what its callbacks say in ``callbackType``.
_SUNO_STEPS = {"TEXT_SUCCESS": "text", "FIRST_SUCCESS": "first", "SUCCESS": "complete"}


def _kie_suno(payload: Any) -> Answer:
    answer = _kie(payload)
    if answer.payload is None:
        return answer
    data = payload["data"]
    status = str(data.get("status") or "")
    response = data.get("response") if isinstance(data.get("response"), dict) else {}
    tracks = response.get("sunoData") if isinstance(response.get("sunoData"), list) else []
    body: dict[str, Any] = {"task_id": data.get("taskId"), "data": tracks}
    if status in _SUNO_STEPS:
        body["callbackType"] = _SUNO_STEPS[status]
    elif status.endswith(("FAILED", "ERROR", "EXCEPTION")):
        body.update(callbackType="error", errorCode=status, errorMessage=data.get("errorMessage"))
    else:
        body["state"] = "pending"
    return Answer(payload={"code": 200, "msg": payload.get("msg"), "data": body})


def _ttapi(payload: Any) -> Answer:
    if not isinstance(payload, dict) or not isinstance(payload.get("status"), str):
        return Answer(error="answer carries no status")
    data = payload.get("data")
    if not payload.get("jobId") and not (isinstance(data, dict) and data.get("jobId")):
        return Answer(error=f"{payload['status'][:20]}: {_text(payload.get('message'))}")
    return Answer(payload=payload)


def _acedata(payload: Any) -> Answer:
    if not isinstance(payload, dict):
        return Answer(error="answer is not a JSON object")
    if isinstance(payload.get("response"), dict):
        return Answer(payload=payload)
    if "error" in payload:
        error = payload["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return Answer(error=_text(message) or "error")
    return Answer()  # the task has no response yet


def _replicate(payload: Any) -> Answer:
    if isinstance(payload, dict) and payload.get("id") and isinstance(payload.get("status"), str):
        return Answer(payload=payload)
    detail = payload.get("detail") or payload.get("title") if isinstance(payload, dict) else None
    return Answer(error=_text(detail) or "answer carries no prediction")


def _piapi(payload: Any) -> Answer:
    if not isinstance(payload, dict):
        return Answer(error="answer is not a JSON object")
    data = payload.get("data")
    if payload.get("code") not in (200, None) or not isinstance(data, dict) or not data.get("status"):
        return Answer(error=f"code {_text(payload.get('code'), 20)}: {_text(payload.get('message'))}")
    return Answer(payload=payload)


_KIE = {
    "market": Endpoint("GET", "/api/v1/jobs/recordInfo", _kie, id_param="taskId"),
    "mj": Endpoint("GET", "/api/v1/mj/record-info", _kie, id_param="taskId"),
    "veo": Endpoint("GET", "/api/v1/veo/record-info", _kie, id_param="taskId"),
    "suno": Endpoint("GET", "/api/v1/generate/record-info", _kie_suno, id_param="taskId"),
    "runway": Endpoint("GET", "/api/v1/runway/record-detail", _kie, id_param="taskId"),
    "flux-kontext": Endpoint("GET", "/api/v1/flux/kontext/record-info", _kie, id_param="taskId"),
    "4o-image": Endpoint("GET", "/api/v1/gpt4o-image/record-info", _kie, id_param="taskId"),
}
_TTAPI = {
    "midjourney": Endpoint("GET", "/midjourney/v1/fetch", _ttapi, id_param="jobId"),
    "flux": Endpoint("POST", "/flux/fetch", _ttapi, id_param="jobId", body="form"),
    "suno": Endpoint("GET", "/suno/v2/fetch", _ttapi, id_param="jobId"),
}
_ACEDATA = Endpoint("POST", "/{service}/tasks", _acedata, id_param="id", body="json", extra={"action": "retrieve"})
_REPLICATE = Endpoint("GET", "/v1/predictions/{task_id}", _replicate)
_PIAPI = Endpoint("GET", "/api/v1/task/{task_id}", _piapi)

AUTH_HEADERS: dict[str, tuple[str, str]] = {
    "kie": ("authorization", "Bearer "),
    "ttapi": ("tt-api-key", ""),
    "acedata": ("authorization", "Bearer "),
    "replicate": ("authorization", "Bearer "),
    "piapi": ("x-api-key", ""),
}


def services(provider: str) -> list[str] | None:
    """The service names a provider's tasks take; ``[]`` for any path segment (AceData), None for no such provider."""
    return {
        "kie": sorted(_KIE),
        "ttapi": sorted(_TTAPI),
        "acedata": [],
        "replicate": [NO_SERVICE],
        "piapi": [NO_SERVICE],
    }.get(provider)


def endpoint(provider: str, service: str) -> Endpoint | None:
    if provider == "kie":
        return _KIE.get(service)
    if provider == "ttapi":
        return _TTAPI.get(service)
    if provider == "acedata":
        return _ACEDATA if _ACEDATA_SERVICE.fullmatch(service) else None
    if provider == "replicate":
        return _REPLICATE
    if provider == "piapi":
        return _PIAPI
    return None


def check_service(provider: str, service: str | None) -> str:
    """The service to store for a registration; raises ValueError with a message for people."""
    known = services(provider)
    if known is None:
        raise ValueError(f"the relay cannot poll provider {provider!r}; tasks support {list(TASK_PROVIDERS)}")
    if known == [NO_SERVICE]:
        if service not in (None, "", NO_SERVICE):
            raise ValueError(f"provider {provider!r} takes no service, got {service!r}")
        return NO_SERVICE
    if not service:
        hint = f"one of {known}" if known else "its service path, e.g. 'midjourney'"
        raise ValueError(f"provider {provider!r} needs a service: {hint}")
    if endpoint(provider, service) is None:
        hint = f"one of {known}" if known else "a path segment of lowercase letters, digits and dashes"
        raise ValueError(f"unknown service {service!r} for {provider!r}; expected {hint}")
    return service


def build_request(ep: Endpoint, task_id: str, service: str) -> StatusRequest:
    path = ep.path.replace("{service}", service).replace("{task_id}", _quote(task_id))
    fields = {ep.id_param: task_id, **ep.extra} if ep.id_param else {}
    return StatusRequest(
        method=ep.method,
        path=path,
        params=fields if not ep.body else {},
        form=fields if ep.body == "form" else None,
        json=fields if ep.body == "json" else None,
    )


def _quote(task_id: str) -> str:
    from urllib.parse import quote

    return quote(task_id, safe="")


def service_of(provider: str, payload: Any) -> str | None:
    """The service of a task whose callback this is, when the body tells it (auto-tracking); None when it cannot."""
    if provider in ("replicate", "piapi"):
        return NO_SERVICE
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    if provider == "kie":
        if data.get("callbackType"):
            return "suno"
        if "state" in data and ("model" in data or "resultJson" in data):
            return "market"
        return None
    if provider == "ttapi":
        if "musics" in data:
            return "suno"
        action = data.get("action")
        if isinstance(action, str) and _TTAPI_MJ_ACTIONS.match(action.lower()):
            return "midjourney"
    return None
