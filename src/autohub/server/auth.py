"""Bearer-token authentication and role checks; every denial is an audit event."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from autohub.errors import InvalidInput, NotFound
from autohub.hub import Hub
from autohub.server.errors import error_response
from autohub.server.ratelimit import RateLimiter, retry_after_header
from autohub.store.tokens import ROLES, ApiToken


class Denied(Exception):
    """A request refused by authentication: ``response`` is what it gets."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


class Authenticator:
    """Checks a request's bearer token against the store."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.limiter = RateLimiter(hub.config.file.server.rate_limit_per_minute)

    def check(self, request: HTTPConnection, role: str, *, query_token: bool = False) -> ApiToken:
        """The request's token when it may act as ``role``; otherwise raise ``Denied``
        (401 without a valid token, 403 with too small a role, 429 over the token's rate
        limit), recorded as an event. With ``query_token``, the token may come as
        ``?access_token=`` (for browsers' WebSocket and EventSource, which cannot send
        headers)."""
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header and query_token and request.query_params.get("access_token"):
            scheme, secret = "bearer", request.query_params["access_token"]
        token = None
        if scheme.lower() == "bearer" and secret:
            token = self.hub.tokens.authenticate(secret.strip())
        if token is None:
            reason = "missing bearer token" if not secret else "invalid or expired token"
            self.record_denied(request, reason, None)
            raise Denied(
                error_response(401, "unauthorized", reason, headers={"WWW-Authenticate": "Bearer"})
            )
        if ROLES.index(token.role) < ROLES.index(role):
            reason = f"role {token.role} may not do this (needs {role})"
            self.record_denied(request, reason, token)
            raise Denied(error_response(403, "forbidden", reason))
        wait = self.limiter.acquire(token.id)
        if wait is not None:
            reason = f"over {self.limiter.per_minute} requests a minute for this token"
            self.record_denied(request, reason, token)
            raise Denied(
                error_response(
                    429, "rate_limited", reason, headers={"Retry-After": retry_after_header(wait)}
                )
            )
        return token

    def record_denied(
        self,
        request: HTTPConnection,
        reason: str,
        token: ApiToken | None,
        project: str | None = None,
    ) -> None:
        """The audit event of a refused request (in ``project``, else the token's first
        project, else the server's)."""
        self.hub.events.record(
            "api.denied",
            project or (token.projects[0] if token is not None else self.hub.project),
            "failed",
            detected_from="server",
            evidence={
                "method": request.scope.get("method", "WEBSOCKET"),
                "path": request.url.path,
                "reason": reason,
                "token": token.id if token is not None else None,
                "client": request.client.host if request.client else None,
            },
        )


def chosen_project(token: ApiToken, project: str | None) -> str:
    """The project a request is about: ``project`` if the token sees it (else 404, as if it
    did not exist), or the token's only project."""
    if project is None:
        if len(token.projects) == 1:
            return token.projects[0]
        raise InvalidInput(
            f"project: this token sees {', '.join(token.projects)}: name one with ?project="
        )
    if project not in token.projects:
        raise NotFound(f"no project {project!r}")
    return project
