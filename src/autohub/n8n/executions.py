"""The n8n public-API client of the executions watcher: failed executions, one execution
with its data, and the workflows (for their webhook paths).

Every call sends ``X-N8N-API-KEY`` and has a timeout. A refused key is an
:class:`N8nAuthError` naming ``n8n.api_key``; n8n down, restarting or answering 5xx is an
:class:`N8nUnavailable` (the watcher logs it and polls again).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from autohub.errors import AutohubError, InvalidInput

PAGE_SIZE = 100
MAX_PAGES = 50
"""At most this many pages per listing (5,000 executions): a bound on one poll."""


class N8nApiError(AutohubError):
    """The n8n public API failed a request."""


class N8nUnavailable(N8nApiError):
    """n8n did not answer (down, restarting, or a 5xx)."""


class N8nAuthError(N8nApiError, InvalidInput):
    """n8n refused the API key (n8n.api_key)."""


@dataclass(frozen=True)
class Execution:
    """One execution as the list (or the detail) returns it; ``data`` only with the detail."""

    id: str
    workflow_id: str
    status: str
    mode: str
    started_at: datetime | None
    stopped_at: datetime | None
    data: Mapping[str, Any] | None = None
    workflow_data: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Execution:
        return cls(
            id=str(body.get("id")),
            workflow_id=str(body.get("workflowId") or ""),
            status=str(body.get("status") or ""),
            mode=str(body.get("mode") or ""),
            started_at=parse_time(body.get("startedAt")),
            stopped_at=parse_time(body.get("stoppedAt")),
            data=body.get("data") if isinstance(body.get("data"), Mapping) else None,
            workflow_data=(
                body.get("workflowData") if isinstance(body.get("workflowData"), Mapping) else None
            ),
        )


@dataclass(frozen=True)
class Workflow:
    """A workflow's id, name, settings and the path of its (first) webhook node."""

    id: str
    name: str
    webhook_path: str | None
    settings: Mapping[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Workflow:
        settings = body.get("settings")
        return cls(
            id=str(body.get("id") or ""),
            name=str(body.get("name") or ""),
            webhook_path=webhook_path(body.get("nodes")),
            settings=settings if isinstance(settings, Mapping) else {},
        )


def webhook_path(nodes: Any) -> str | None:
    """The ``path`` of the first webhook node in a workflow's ``nodes``."""
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, Mapping) and node.get("type") == "n8n-nodes-base.webhook":
            path = (node.get("parameters") or {}).get("path")
            if isinstance(path, str) and path:
                return path
    return None


def parse_time(value: Any) -> datetime | None:
    """n8n's ``2026-11-22T08:03:41.663Z`` as an aware datetime (None if absent or bad)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class ExecutionsClient:
    """The calls of the public API (``/api/v1``) the watcher makes."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key.strip():
            raise InvalidInput("n8n.api_key: empty; set it to a ${NAME} secret reference")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"X-N8N-API-KEY": api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ExecutionsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def executions(
        self,
        status: str,
        *,
        since: datetime | None = None,
        workflow_id: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Execution]:
        """Executions with ``status``, newest first, following ``nextCursor``; stops at the
        first one started before ``since`` (the list is newest first)."""
        params: dict[str, Any] = {"status": status, "limit": page_size, "includeData": "false"}
        if workflow_id:
            params["workflowId"] = workflow_id
        for _ in range(MAX_PAGES):
            body = self._get("/executions", params)
            for item in body.get("data") or []:
                execution = Execution.from_json(item)
                moment = execution.started_at or execution.stopped_at
                if since is not None and moment is not None and moment < since:
                    return
                yield execution
            cursor = body.get("nextCursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def execution(self, execution_id: str) -> Execution | None:
        """One execution with its data and workflow snapshot (None if n8n no longer has it)."""
        body = self._get(f"/executions/{execution_id}", {"includeData": "true"}, missing_ok=True)
        return Execution.from_json(body) if body else None

    def workflows(self) -> list[Workflow]:
        """Every workflow (for its name and webhook path)."""
        found: list[Workflow] = []
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            body = self._get("/workflows", params)
            found.extend(Workflow.from_json(item) for item in body.get("data") or [])
            cursor = body.get("nextCursor")
            if not cursor:
                break
            params["cursor"] = cursor
        return found

    def _get(
        self, path: str, params: Mapping[str, Any], *, missing_ok: bool = False
    ) -> dict[str, Any]:
        """One GET, its JSON object; the errors of this module otherwise."""
        where = f"n8n {self.base_url}"
        try:
            response = self._client.get(path, params=dict(params))
        except httpx.TimeoutException as exc:
            raise N8nUnavailable(f"{where}: no answer to GET {path} in time") from exc
        except httpx.HTTPError as exc:  # refused, reset, DNS, protocol errors
            raise N8nUnavailable(f"{where}: unreachable ({type(exc).__name__})") from exc
        if response.status_code == 401:
            raise N8nAuthError(
                f"{where} refused the API key (HTTP 401): check n8n.api_key and its secret"
            )
        if response.status_code == 403:
            raise N8nAuthError(
                f"{where}: the API key lacks a scope for GET {path} (HTTP 403): check n8n.api_key"
            )
        if response.status_code == 404 and missing_ok:
            return {}
        if response.status_code >= 500 or response.status_code in (404, 502, 503, 504):
            raise N8nUnavailable(f"{where}: GET {path} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise N8nApiError(
                f"{where}: GET {path} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise N8nUnavailable(f"{where}: GET {path} answered non-JSON") from exc
        if not isinstance(body, dict):
            raise N8nApiError(f"{where}: GET {path} answered an unexpected body")
        return body
