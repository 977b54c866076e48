"""Webhook triggers: ``POST /v1/hooks/{automation}`` starts a run of an automation that
declares a ``webhook`` trigger.

The caller proves itself with an HMAC-SHA256 signature of the raw body under the
trigger's secret, in ``X-Autohub-Signature-256: sha256=<hex>`` (GitHub's
``X-Hub-Signature-256`` is read too, so a GitHub webhook works as it is), or with an
operator token. A missing or wrong signature answers 401 and is an audit event
(``api.denied``). The JSON payload is mapped to params by the trigger's paths and
validated like any run's params. A delivery id (``X-Autohub-Delivery``,
``X-GitHub-Delivery`` or ``Idempotency-Key``) makes a redelivered hook return the run
it started the first time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from autohub.errors import InvalidInput, NotFound
from autohub.hub import Hub
from autohub.registry.triggers import WebhookTrigger
from autohub.server.auth import Authenticator, Denied
from autohub.server.errors import error_response
from autohub.server.intake import RunIntake

SIGNATURE_HEADERS = ("x-autohub-signature-256", "x-hub-signature-256")
DELIVERY_HEADERS = ("x-autohub-delivery", "x-github-delivery", "idempotency-key")
MAX_DELIVERY_CHARS = 150


def hook_routes(
    router: APIRouter,
    hub: Hub,
    auth: Authenticator,
    intake: RunIntake,
    on_run_created: Callable[[], None],
) -> None:
    @router.post(
        "/hooks/{automation}",
        tags=["hooks"],
        status_code=202,
        responses={401: {"description": "missing or bad signature"}},
    )
    async def webhook(request: Request, automation: str) -> Any:
        """Start a run from a signed webhook delivery (202; 200 for a redelivery)."""
        hooks, project = _webhooks(hub, automation)
        body = await request.body()
        if "authorization" in request.headers:
            token = await run_in_threadpool(auth.check, request, "operator")
            if project not in token.projects:
                raise NotFound(f"no webhook for automation {automation!r}")
            trigger = hooks[0]
        else:
            trigger = await run_in_threadpool(_signed_by, hub, auth, request, hooks, body, project)
        try:
            params = trigger.params_from(_payload(body))
            delivery = _delivery(request)
        except _Refused as exc:
            return error_response(400, "invalid_request", exc.message, field=exc.field)
        try:
            run, created = await run_in_threadpool(
                lambda: intake.create(
                    hub.new_run(
                        automation,
                        params,
                        trigger="webhook",
                        idempotency_key=f"hook:{delivery}" if delivery else None,
                    )
                )
            )
        except InvalidInput as exc:
            return error_response(422, "invalid_params", exc.message, field="body")
        if created:
            on_run_created()
        return JSONResponse(
            {"run": run.to_dict(), "created": created}, status_code=202 if created else 200
        )


class _Refused(InvalidInput):
    """A request this endpoint cannot take, and the part of it that is wrong."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _webhooks(hub: Hub, automation: str) -> tuple[list[WebhookTrigger], str]:
    definition = hub.registry.definitions.get(automation)
    hooks = [
        trigger
        for trigger in (definition.automation.triggers if definition else [])
        if isinstance(trigger, WebhookTrigger)
    ]
    if definition is None or not hooks:
        raise NotFound(f"no webhook for automation {automation!r}")
    return hooks, definition.automation.project or hub.project


def _signed_by(
    hub: Hub,
    auth: Authenticator,
    request: Request,
    hooks: list[WebhookTrigger],
    body: bytes,
    project: str,
) -> WebhookTrigger:
    """The webhook trigger whose secret signed ``body``; otherwise raise Denied (401),
    recorded as an event."""
    signature = next((request.headers[h] for h in SIGNATURE_HEADERS if h in request.headers), None)
    signed = [hook for hook in hooks if hook.secret_name is not None]
    if not signed:
        reason = "this webhook takes an operator token (it has no secret to sign with)"
    elif signature is None:
        reason = "missing signature: send X-Autohub-Signature-256: sha256=<hex HMAC of the body>"
    else:
        for hook in signed:
            secret = hub.config.secrets.get(hook.secret_name or "")
            if secret is not None and _valid(signature, secret, body):
                return hook
        reason = "bad signature"
    auth.record_denied(request, reason, None, project)
    raise Denied(error_response(401, "unauthorized", reason))


def _valid(signature: str, secret: str, body: bytes) -> bool:
    scheme, _, given = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def _payload(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(f"body: not JSON ({exc})", "body") from exc


def _delivery(request: Request) -> str | None:
    for header in DELIVERY_HEADERS:
        value = request.headers.get(header, "").strip()
        if value:
            if len(value) > MAX_DELIVERY_CHARS:
                raise _Refused(f"{header}: over {MAX_DELIVERY_CHARS} characters", header)
            return value
    return None
