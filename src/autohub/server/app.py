"""The FastAPI application: the seed endpoints (``/health``, ``/ready``, ``/status``,
``/metrics``) behind token authentication where the issue asks for it."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

import autohub
from autohub.clock import utcnow
from autohub.errors import (
    AutohubError,
    Conflict,
    MigrationRequired,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from autohub.hub import Hub
from autohub.server.api import api_router
from autohub.server.auth import Authenticator, Denied
from autohub.server.errors import ERROR_RESPONSES, error_response
from autohub.server.event_triggers import EventTriggers
from autohub.server.executor import RunExecutor
from autohub.server.intake import RunIntake
from autohub.server.metrics import exposition
from autohub.server.probes import Check, Probes
from autohub.server.registry_refresh import RegistryRefresher
from autohub.server.scheduler import Scheduler
from autohub.server.stream import EventBroadcaster

if TYPE_CHECKING:
    from autohub.n8n.watcher import ExecutionsWatcher

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
"""Request bodies larger than this are refused (413) before they are read."""
_ERROR_STATUS: list[tuple[type[AutohubError], int, str]] = [
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (MigrationRequired, 503, "migration_required"),
    (StoreUnavailable, 503, "store_unavailable"),
    (StoreError, 503, "store_error"),
    (AutohubError, 400, "invalid_input"),
]


class ReadyBody(BaseModel):
    """``/ready``: whether every check passes, and each check."""

    ready: bool
    checks: list[Check]


def _trigger_firers(
    hub: Hub, executor: RunExecutor | None
) -> tuple[Scheduler | None, EventTriggers | None]:
    """The scheduler (cron triggers) and the event triggers, with ``server.scheduler``;
    each wakes the executor when it creates a run."""
    if not hub.config.file.server.scheduler:
        return None, None
    wake = executor.wake if executor else lambda: None
    return Scheduler(hub, on_fire=wake), EventTriggers(hub, on_fire=wake)


def create_app(hub: Hub, *, execute_runs: bool = True) -> FastAPI:
    """The application serving ``hub``'s project; with ``execute_runs``, it executes the
    project's runs too, and with ``server.scheduler`` it fires the cron and event triggers
    (the run executor, the scheduler and the event triggers start and stop with the
    application)."""
    settings = hub.config.file.server
    executor = RunExecutor(hub, max_runs=settings.max_runs) if execute_runs else None
    scheduler, event_triggers = _trigger_firers(hub, executor)
    firers = [firer for firer in (scheduler, event_triggers) if firer is not None]

    broadcaster = EventBroadcaster(hub, queue_events=settings.stream_queue_events)
    intake = RunIntake(hub.runs)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gc.collect()
        gc.freeze()  # what startup built lives on: the collector stops walking it
        intake.start()
        broadcaster.start()
        if executor is not None:
            executor.start()
        for firer in firers:
            firer.start()
        watchers = _start_watchers(hub)
        yield
        for watcher in watchers:
            await run_in_threadpool(watcher.stop)
        await broadcaster.stop()
        await run_in_threadpool(intake.stop)
        for firer in firers:  # SIGTERM: fire no more, give up schedule leases
            await run_in_threadpool(firer.stop)
        if executor is not None:  # no new runs; running ones get the grace period
            await run_in_threadpool(executor.stop, settings.shutdown_grace_seconds)

    app = FastAPI(
        title="autohub",
        version=autohub.__version__,
        description="One hub for a team's automations: runs, events, breakers.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    probes = Probes(
        hub,
        started_at=utcnow(),
        executor=executor,
        scheduler=scheduler,
        event_triggers=event_triggers,
    )
    auth = Authenticator(hub)
    app.include_router(
        api_router(
            hub,
            auth,
            broadcaster,
            intake,
            on_run_created=executor.wake if executor else lambda: None,
        )
    )
    origins = settings.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    _handle_errors(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.get("/health", tags=["probes"])
    async def health() -> dict[str, Any]:
        """Liveness: the process answers (no store access)."""
        return {"status": "ok", "uptime_seconds": round(probes.uptime_seconds, 3)}

    ready_body = {"model": ReadyBody, "description": "not ready: the failing checks say why"}

    @app.get("/ready", tags=["probes"], response_model=ReadyBody, responses={503: ready_body})
    async def ready() -> JSONResponse:
        """Readiness: the store answers, its schema is current, no runs are stuck."""
        checks = await run_in_threadpool(probes.readiness)
        ok = all(check.ok for check in checks)
        return JSONResponse(
            {"ready": ok, "checks": [check.__dict__ for check in checks]},
            status_code=200 if ok else 503,
        )

    @app.get("/status", tags=["probes"])
    async def status(request: Request) -> Any:
        """The status document (a viewer token)."""
        await run_in_threadpool(auth.check, request, "viewer")
        return await run_in_threadpool(probes.status)

    @app.get(
        "/metrics",
        tags=["probes"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (open when ``server.metrics_open``, else a viewer token)."""
        if not settings.metrics_open:
            await run_in_threadpool(auth.check, request, "viewer")
        body = await run_in_threadpool(exposition, probes)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def _start_watchers(hub: Hub) -> list[RegistryRefresher | ExecutionsWatcher]:
    """The threads that watch the outside: the definitions' sources, and n8n's executions
    when it is configured."""
    refresher = RegistryRefresher(hub)
    refresher.start()
    n8n = _start_n8n_watcher(hub)
    return [refresher, *([n8n] if n8n is not None else [])]


def _start_n8n_watcher(hub: Hub) -> ExecutionsWatcher | None:
    """The n8n executions watcher, polling in a thread, when ``n8n.api_key`` is set and
    ``n8n.watch`` is on; a key that cannot be resolved is logged and the server serves."""
    settings = hub.config.file.n8n
    if not settings.api_key or not settings.watch:
        return None
    from autohub.n8n.watcher import ExecutionsWatcher

    try:
        watcher = ExecutionsWatcher.from_hub(hub)
    except AutohubError as exc:
        logger.error("n8n watcher not started: %s", exc.message)
        return None
    watcher.start(settings.watch_interval_seconds)
    return watcher


def _handle_errors(app: FastAPI) -> None:
    """Every failure answers with the JSON error shape (``errors.py``)."""

    @app.exception_handler(AutohubError)
    async def autohub_error(_request: Request, exc: AutohubError) -> JSONResponse:
        status, code = next((s, c) for kind, s, c in _ERROR_STATUS if isinstance(exc, kind))
        return error_response(status, code, exc.message)

    @app.exception_handler(Denied)
    async def denied(_request: Request, exc: Denied) -> JSONResponse:
        return exc.response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = _first_problem(exc.errors())
        return error_response(422, "invalid_request", message, field=field)

    @app.exception_handler(WebSocketRequestValidationError)
    async def invalid_websocket(websocket: WebSocket, exc: WebSocketRequestValidationError) -> None:
        field, message = _first_problem(exc.errors())
        await websocket.accept()  # so that the client can read why
        error = {"code": "invalid_request", "message": message, "field": field}
        await websocket.send_json({"type": "error", "error": error})
        await websocket.close(code=4422, reason=message[:120])


def _first_problem(errors: Sequence[Any]) -> tuple[str, str]:
    """The field and message of a validation error's first problem."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(part) for part in first["loc"])
    return field, f"{field}: {first['msg']}"


class BodyLimit:
    """Refuses a request whose Content-Length is over ``max_bytes`` (413) before its body
    is read; pure ASGI, so that other requests pay nothing for it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and (
                    not value.isdigit() or int(value) > self.max_bytes
                ):
                    response = error_response(
                        413, "too_large", f"request body over {self.max_bytes} bytes", "body"
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
