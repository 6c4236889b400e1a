"""``relay simulate``: stand-ins for Kie, TTAPI, AceData and Replicate over real HTTP, for tests and for trying a relay.

Each provider is served under its own prefix (point ``RELAY_<PROVIDER>_API_BASE`` at ``http://host:port/<provider>``):

* ``/kie``: ``POST /api/v1/jobs/createTask`` (Market), ``POST /api/v1/mj/generate``; status ``GET
  /api/v1/jobs/recordInfo`` and ``GET /api/v1/mj/record-info``; one callback when done, retried after 1, 5 and
  15 minutes when it fails, then never again.
* ``/ttapi``: ``POST /midjourney/v1/imagine``, ``GET /midjourney/v1/fetch``; progress and final ``hookUrl``
  callbacks, each sent at most three times.
* ``/acedata``: ``POST /<service>/<action>`` with ``callback_url``, ``POST /<service>/tasks`` (retrieve); a
  streamed progress callback and the final one, each sent once.
* ``/replicate``: ``POST /v1/predictions`` with ``webhook``, ``GET /v1/predictions/<id>``; start, output and
  completed webhooks, each sent once.

A generation takes ``duration_s``; its state is read from the clock, so status answers and callbacks agree.
Switches (:class:`SimConfig`, also ``POST /_sim/config``) drop, delay, duplicate or fail callbacks, fail the
generations, and throttle (429) or garble status answers. ``GET /_sim/log`` lists what was sent and asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.simulate import shapes
from relay.simulate.shapes import SimTask

# Seconds between a failed callback and the provider's next try, per provider (scaled by ``time_scale``).
RETRIES: dict[str, tuple[float, ...]] = {
    "kie": (60, 300, 900),  # Kie: 3 retries at 1, 5 and 15 minutes, then it stops
    "ttapi": (60, 60),  # TTAPI: at most 3 notifications in all
    "acedata": (),
    "replicate": (),
}
PROGRESS_PROVIDERS = ("ttapi", "acedata", "replicate")


@dataclass
class SimConfig:
    api_key: str = "sim-key"
    duration_s: float = 1.0
    drop: str = "none"  # none | progress | final | all: callbacks never sent
    delay_s: float = 0.0  # every callback leaves this much later
    duplicates: int = 0  # extra copies of the final callback
    fail_callbacks: int = 0  # this many callback attempts are lost on the way (the provider retries)
    fail_tasks: bool = False  # generations end failed
    throttle_status: int = 0  # the next N status requests get 429 with Retry-After
    retry_after_s: int = 1
    garbage_status: int = 0  # the next N status requests get an HTML page
    echo_key: bool = False  # a 401 names the key it was given (a careless provider)
    status_delay_s: float = 0.0  # every status answer takes this long
    time_scale: float = 1.0  # multiplies the providers' retry delays

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name: f.type for f in fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown switch {name!r}; expected one of {sorted(names)}")
            setattr(self, name, value)


@dataclass
class SimLog:
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    status_calls: list[dict[str, Any]] = field(default_factory=list)
    keys_seen: set[str] = field(default_factory=set)
    status_in_flight: int = 0
    status_max_in_flight: int = 0


class Simulator:
    """The simulated providers' state: tasks, switches, what was sent."""

    def __init__(self, config: SimConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SimConfig()
        self.clock = clock
        self.tasks: dict[tuple[str, str], SimTask] = {}
        self.log = SimLog()
        self.http: httpx.AsyncClient | None = None
        self._jobs: set[asyncio.Task[None]] = set()

    # -- generations ----------------------------------------------------------------------------------------------

    def submit(self, provider: str, service: str, callback_url: str, request: dict[str, Any]) -> SimTask:
        task = SimTask(provider, service, secrets.token_hex(12), callback_url, self.clock(), request=request)
        self.tasks[(provider, task.task_id)] = task
        if callback_url:
            self._spawn(self._callbacks(task))
        return task

    def current(self, provider: str, task_id: str) -> SimTask | None:
        task = self.tasks.get((provider, task_id))
        if task is not None:
            self._advance(task)
        return task

    def _advance(self, task: SimTask) -> None:
        if task.state in ("succeeded", "failed"):
            return
        elapsed = self.clock() - task.created_s
        duration = self.config.duration_s
        if elapsed >= duration:
            task.state = "failed" if self.config.fail_tasks else "succeeded"
            task.progress = 100 if task.state == "succeeded" else task.progress
            task.done_s = task.created_s + duration
        elif elapsed >= duration * 0.3:
            task.state, task.progress = "processing", max(1, min(99, int(100 * elapsed / duration)))

    # -- callbacks ------------------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        job = asyncio.get_running_loop().create_task(coroutine)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _callbacks(self, task: SimTask) -> None:
        duration = self.config.duration_s
        if task.provider in PROGRESS_PROVIDERS:
            await asyncio.sleep(duration * 0.5)
            self._advance(task)
            self._spawn(self._send(task, "progress", self._body(task)))
        # The task's clock (wall time) and asyncio's (monotonic) drift apart: sleep until the task's clock says done,
        # or an early wake-up would find the task still running and send no final callback at all.
        while (remaining := task.created_s + duration - self.clock()) > 0:
            await asyncio.sleep(remaining)
        self._advance(task)
        body = self._body(task)
        for copy in range(1 + self.config.duplicates):
            self._spawn(self._send(task, "final" if copy == 0 else "duplicate", body))

    def _body(self, task: SimTask) -> dict[str, Any] | None:
        if task.provider == "kie":
            return shapes.kie_callback(task)
        if task.provider == "ttapi":
            return shapes.ttapi_callback(task)
        if task.provider == "acedata":
            return shapes.acedata_callback(task)
        return shapes.replicate_prediction(task, "")

    async def _send(self, task: SimTask, kind: str, body: dict[str, Any] | None) -> None:
        dropped = self.config.drop == "all" or self.config.drop == ("final" if kind != "progress" else "progress")
        if body is None or dropped:
            self.log.callbacks.append({"task_id": task.task_id, "kind": kind, "attempt": 0, "outcome": "dropped"})
            return
        await asyncio.sleep(self.config.delay_s)
        delays = (0.0, *RETRIES[task.provider])
        for attempt, delay in enumerate(delays, start=1):
            await asyncio.sleep(delay * self.config.time_scale)
            entry: dict[str, Any] = {"task_id": task.task_id, "kind": kind, "attempt": attempt}
            if self.config.fail_callbacks > 0:
                self.config.fail_callbacks -= 1
                self.log.callbacks.append(entry | {"outcome": "lost"})
                continue
            assert self.http is not None
            try:
                response = await self.http.post(task.callback_url, json=body, timeout=15)
            except httpx.HTTPError as exc:
                self.log.callbacks.append(entry | {"outcome": f"error: {type(exc).__name__}"})
                continue
            ack: Any = None
            with contextlib.suppress(ValueError):
                ack = response.json()
            self.log.callbacks.append(entry | {"outcome": response.status_code, "ack": ack})
            if response.is_success:
                return

    async def aclose(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)


# -- HTTP -----------------------------------------------------------------------------------------------------------


def _sim(request: Request) -> Simulator:
    found: Simulator = request.app.state.simulator
    return found


def _authorized(request: Request, provider: str) -> Response | None:
    sim = _sim(request)
    if provider == "ttapi":
        given = request.headers.get("tt-api-key", "")
    else:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if given:
        sim.log.keys_seen.add(given)
    if secrets.compare_digest(given.encode(), sim.config.api_key.encode()):
        return None
    message = f"invalid api key {given!r}" if sim.config.echo_key else "invalid api key"
    bodies = {"kie": {"code": 401, "msg": message}, "ttapi": {"status": "FAILED", "message": message}}
    return JSONResponse(bodies.get(provider, {"detail": message}), status_code=401)


async def _status_gate(request: Request, provider: str) -> Response | None:
    """Auth, then the switches that spoil status answers; every status request is logged."""
    sim = _sim(request)
    call = {"provider": provider, "path": request.url.path, "query": str(request.query_params), "at": sim.clock()}
    sim.log.status_calls.append(call)
    if sim.config.status_delay_s:
        log = sim.log
        log.status_in_flight += 1
        log.status_max_in_flight = max(log.status_max_in_flight, log.status_in_flight)
        try:
            await asyncio.sleep(sim.config.status_delay_s)
        finally:
            log.status_in_flight -= 1
    refused = _authorized(request, provider)
    if refused is not None:
        return refused
    if sim.config.throttle_status > 0:
        sim.config.throttle_status -= 1
        retry_after = {"Retry-After": str(sim.config.retry_after_s)}
        return JSONResponse({"error": "slow down"}, status_code=429, headers=retry_after)
    if sim.config.garbage_status > 0:
        sim.config.garbage_status -= 1
        return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
    return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def kie_submit(request: Request) -> Response:
    refused = _authorized(request, "kie")
    if refused is not None:
        return refused
    body = await _json(request)
    service = "mj" if request.url.path.endswith("/mj/generate") else "market"
    task = _sim(request).submit("kie", service, str(body.get("callBackUrl") or ""), body)
    return JSONResponse({"code": 200, "msg": "success", "data": {"taskId": task.task_id}})


async def kie_status(request: Request) -> Response:
    refused = await _status_gate(request, "kie")
    if refused is not None:
        return refused
    task = _sim(request).current("kie", request.query_params.get("taskId", ""))
    if task is None:
        return JSONResponse({"code": 422, "msg": "recordInfo is null"})
    return JSONResponse(shapes.kie_status(task))


async def ttapi_submit(request: Request) -> Response:
    refused = _authorized(request, "ttapi")
    if refused is not None:
        return refused
    body = await _json(request)
    task = _sim(request).submit("ttapi", "midjourney", str(body.get("hookUrl") or ""), body)
    return JSONResponse({"status": "SUCCESS", "message": "success", "data": {"jobId": task.task_id}})


async def ttapi_fetch(request: Request) -> Response:
    refused = await _status_gate(request, "ttapi")
    if refused is not None:
        return refused
    task = _sim(request).current("ttapi", request.query_params.get("jobId", ""))
    if task is None:
        return JSONResponse({"status": "FAILED", "message": "job not found", "data": None})
    return JSONResponse(shapes.ttapi_body(task))


async def acedata_post(request: Request) -> Response:
    service, action = request.path_params["service"], request.path_params["action"]
    if action == "tasks":
        refused = await _status_gate(request, "acedata")
        if refused is not None:
            return refused
        task = _sim(request).current("acedata", str((await _json(request)).get("id", "")))
        if task is None:
            return JSONResponse({"error": {"code": "not_found", "message": "task not found"}}, status_code=404)
        return JSONResponse(shapes.acedata_status(task))
    refused = _authorized(request, "acedata")
    if refused is not None:
        return refused
    body = await _json(request)
    task = _sim(request).submit("acedata", service, str(body.get("callback_url") or ""), body)
    return JSONResponse({"task_id": task.task_id})


async def replicate_create(request: Request) -> Response:
    refused = _authorized(request, "replicate")
    if refused is not None:
        return refused
    body = await _json(request)
    task = _sim(request).submit("replicate", "-", str(body.get("webhook") or ""), body)
    return JSONResponse(shapes.replicate_prediction(task, _base(request, "replicate")), status_code=201)


async def replicate_get(request: Request) -> Response:
    refused = await _status_gate(request, "replicate")
    if refused is not None:
        return refused
    task = _sim(request).current("replicate", request.path_params["prediction_id"])
    if task is None:
        return JSONResponse({"detail": "Not found."}, status_code=404)
    return JSONResponse(shapes.replicate_prediction(task, _base(request, "replicate")))


def _base(request: Request, provider: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/{provider}"


async def sim_config(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        try:
            sim.config.update(await _json(request))
        except ValueError as exc:
            return JSONResponse({"error": {"code": "bad_request", "message": str(exc)}}, status_code=400)
    return JSONResponse(asdict(sim.config))


async def sim_log(request: Request) -> Response:
    log = _sim(request).log
    return JSONResponse(
        {"callbacks": log.callbacks, "status_calls": log.status_calls, "status_max_in_flight": log.status_max_in_flight}
    )


def create_simulator_app(simulator: Simulator | None = None) -> Starlette:
    sim = simulator or Simulator()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.http = httpx.AsyncClient(follow_redirects=False)
        try:
            yield
        finally:
            await sim.aclose()
            await sim.http.aclose()

    app = Starlette(
        routes=[
            Route("/kie/api/v1/jobs/createTask", kie_submit, methods=["POST"]),
            Route("/kie/api/v1/mj/generate", kie_submit, methods=["POST"]),
            Route("/kie/api/v1/jobs/recordInfo", kie_status, methods=["GET"]),
            Route("/kie/api/v1/mj/record-info", kie_status, methods=["GET"]),
            Route("/ttapi/midjourney/v1/imagine", ttapi_submit, methods=["POST"]),
            Route("/ttapi/midjourney/v1/fetch", ttapi_fetch, methods=["GET"]),
            Route("/acedata/{service}/{action}", acedata_post, methods=["POST"]),
            Route("/replicate/v1/predictions", replicate_create, methods=["POST"]),
            Route("/replicate/v1/predictions/{prediction_id}", replicate_get, methods=["GET"]),
            Route("/_sim/config", sim_config, methods=["GET", "POST"]),
            Route("/_sim/log", sim_log, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.simulator = sim
    return app
