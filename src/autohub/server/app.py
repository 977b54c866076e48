"""The FastAPI application: the seed endpoints (``/health``, ``/ready``, ``/status``,
``/metrics``) behind token authentication where the issue asks for it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

import autohub
from autohub.clock import utcnow
from autohub.hub import Hub
from autohub.server.auth import Authenticator, Denial
from autohub.server.metrics import exposition
from autohub.server.probes import Probes


def create_app(hub: Hub) -> FastAPI:
    """The application serving ``hub``'s project."""
    app = FastAPI(
        title="autohub",
        version=autohub.__version__,
        description="One hub for a team's automations: runs, events, breakers.",
    )
    probes = Probes(hub, started_at=utcnow())
    auth = Authenticator(hub)
    app.state.probes = probes

    @app.get("/health", tags=["probes"])
    async def health() -> dict[str, Any]:
        """Liveness: the process answers (no store access)."""
        return {"status": "ok", "uptime_seconds": round(probes.uptime_seconds, 3)}

    @app.get("/ready", tags=["probes"], responses={503: {"description": "not ready"}})
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
        granted = await run_in_threadpool(auth.check, request, "viewer")
        if isinstance(granted, Denial):
            return granted
        return await run_in_threadpool(probes.status)

    @app.get("/metrics", tags=["probes"])
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (open when ``server.metrics_open``, else a viewer token)."""
        if not hub.config.file.server.metrics_open:
            granted = await run_in_threadpool(auth.check, request, "viewer")
            if isinstance(granted, Denial):
                return granted
        body = await run_in_threadpool(exposition, probes)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app
