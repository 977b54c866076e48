"""The executions watcher: reports the n8n executions that failed without any webhook call
seeing it (an ``onReceived`` workflow answers 200 "Workflow was started" and fails later).

One poll (:meth:`ExecutionsWatcher.poll_once`) lists the ``error`` and ``canceled``
executions started within the look-back window (default one hour before now), newest
first, and records one ``n8n_failure_detected`` event for each one not reported before:

* ``error`` (n8n also lists ``crashed`` there) → ``unknown_error``, the reason being the
  error's original text (the first line of ``stack``: n8n splits Code-node messages at
  ':'); a ``canceled`` execution whose run reached the workflow's ``executionTimeout`` →
  ``execution_timeout``. Other cancellations (a person stopped it) are not failures.
* **Never twice**: the event's uid is derived from the project, the n8n base URL and the
  execution id, and the store skips a uid it holds; executions already reported are
  found by uid before their details are fetched, so a restart (of the watcher or of n8n)
  reports nothing again.
* **Seen by a webhook call**: an error execution is skipped when an
  ``n8n_failure_detected`` event of the step kind (``detected_by`` absent or
  ``"webhook"``) has the same ``base_url`` and ``webhook_path`` and a
  ``[started_at, finished_at]`` overlapping the execution's, with 2 s of slack.
* **First poll**: the window keeps a new store from being flooded with old history;
  failures older than the window are never reported (documented in docs/n8n.md).
* **Settling**: an execution stopped less than 5 s ago waits for the next poll, so that
  the step kind's own event (recorded when its call returns) is there to be found.

n8n down or restarting is a warning and the next poll; the window makes up for it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from autohub.clock import utcnow
from autohub.errors import AutohubError, InvalidInput, SecretsError
from autohub.n8n.events import FAILURE_EVENT, SNIPPET_CHARS
from autohub.n8n.executions import (
    Execution,
    ExecutionsClient,
    N8nApiError,
    N8nAuthError,
    webhook_path,
)
from autohub.store.events import Event, EventFilter, EventStore
from autohub.store.schema import automation_events

if TYPE_CHECKING:
    from autohub.hub import Hub

logger = logging.getLogger(__name__)

DETECTED_FROM = "n8n-watcher"
DEFAULT_LOOKBACK_SECONDS = 3600.0
OVERLAP_SLACK_SECONDS = 2.0
DEFAULT_SETTLE_SECONDS = 5.0
"""An execution that stopped less than this ago waits for the next poll: the step kind
records its own failure event when its call returns, a moment after n8n stops."""
MAX_PASSED = 10_000
STATUSES = ("error", "canceled")


@dataclass(frozen=True)
class WebhookCall:
    """A failure the step kind recorded: where it called and when."""

    base_url: str
    webhook_path: str
    started_at: datetime
    finished_at: datetime


@dataclass
class PollStatus:
    """The outcome of the last poll (for ``/ready`` and the CLI)."""

    at: datetime | None = None
    ok: bool = False
    reported: int = 0
    error: str | None = None
    seconds: float = 0.0


class ExecutionsWatcher:
    """Polls one n8n instance's failed executions into one project's event store."""

    def __init__(
        self,
        events: EventStore,
        project: str,
        client: ExecutionsClient,
        *,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        workflow_names: Mapping[str, str] | None = None,
        workflow_ids: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if lookback_seconds <= 0:
            raise InvalidInput(f"look-back: must be positive, got {lookback_seconds:g} s")
        self.events = events
        self.project = project
        self.client = client
        self.lookback_seconds = lookback_seconds
        self.settle_seconds = settle_seconds
        self.workflow_names = dict(workflow_names or {})
        """autohub's name of a workflow by its webhook path (``n8n.workflows``)."""
        self.workflow_ids = list(workflow_ids)
        self.clock = clock
        self.status = PollStatus()
        self._paths: dict[str, tuple[str, str | None]] = {}
        self._passed: set[str] = set()
        """Executions found not to be reported (a manual cancel, seen by a webhook call)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_hub(
        cls,
        hub: Hub,
        *,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        workflow_ids: Sequence[str] = (),
        timeout_seconds: float = 10.0,
    ) -> ExecutionsWatcher:
        """The watcher of the project's ``n8n:`` section; InvalidInput without an API key."""
        settings = hub.config.file.n8n
        if not settings.api_key:
            raise InvalidInput("n8n.api_key is not set: give a ${NAME} reference to the key")
        try:
            api_key = hub.config.secrets.resolve(settings.api_key, "n8n.api_key")
        except SecretsError as exc:
            raise InvalidInput(exc.message) from exc
        client = ExecutionsClient(settings.base_url, api_key, timeout_seconds=timeout_seconds)
        base_url = settings.base_url.rstrip("/")
        names = {
            workflow.path.strip("/"): name
            for name, workflow in settings.workflows.items()
            if (workflow.base_url or base_url).rstrip("/") == base_url
        }
        return cls(
            hub.events,
            hub.project,
            client,
            lookback_seconds=lookback_seconds,
            settle_seconds=settle_seconds,
            workflow_names=names,
            workflow_ids=workflow_ids,
        )

    # -- one poll ------------------------------------------------------------------------

    def poll_once(self) -> list[Event]:
        """List the window's failed executions and record those not reported yet; the
        events recorded. N8nApiError (n8n down, key refused) propagates."""
        began = time.monotonic()
        now = self.clock()
        since = now - timedelta(seconds=self.lookback_seconds)
        try:
            settled = now - timedelta(seconds=self.settle_seconds)
            candidates = [
                execution
                for execution in self._candidates(since)
                if (execution.stopped_at or execution.started_at or since) <= settled
            ]
            fresh = self._unreported(candidates)
            calls = self._webhook_calls(since) if fresh else []
            reported = []
            for execution in fresh:
                event = self._report(execution, calls)
                if event is not None:
                    reported.append(event)
        except AutohubError as exc:
            self.status = PollStatus(
                at=now, ok=False, error=exc.message, seconds=time.monotonic() - began
            )
            raise
        self.status = PollStatus(
            at=now, ok=True, reported=len(reported), seconds=time.monotonic() - began
        )
        return reported

    def uid(self, execution_id: str) -> str:
        """The event uid of an execution: the same in every process, for every restart."""
        key = f"n8n-execution|{self.project}|{self.client.base_url}|{execution_id}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def _candidates(self, since: datetime) -> list[Execution]:
        found: dict[str, Execution] = {}
        workflows: list[str | None] = [*self.workflow_ids] or [None]
        for status in STATUSES:
            for workflow_id in workflows:
                for execution in self.client.executions(
                    status, since=since, workflow_id=workflow_id
                ):
                    found.setdefault(execution.id, execution)
        return sorted(found.values(), key=lambda e: (e.started_at or since, e.id))

    def _unreported(self, executions: list[Execution]) -> list[Execution]:
        """The executions whose uid the store does not hold (one query per 500)."""
        held: set[str] = set()
        uids = [self.uid(execution.id) for execution in executions]
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            rows = self.events.select(automation_events.c.uid.in_(chunk), limit=len(chunk))
            held.update(event.uid for event in rows)
        return [
            execution
            for execution, uid in zip(executions, uids, strict=True)
            if uid not in held and execution.id not in self._passed
        ]

    def _pass(self, execution_id: str) -> None:
        if len(self._passed) >= MAX_PASSED:
            self._passed.clear()
        self._passed.add(execution_id)

    def _webhook_calls(self, since: datetime) -> list[WebhookCall]:
        """The failures the step kind recorded since the window began (minus the slack)."""
        where = EventFilter(
            event_types=[FAILURE_EVENT],
            since=since - timedelta(seconds=OVERLAP_SLACK_SECONDS),
        )
        calls: list[WebhookCall] = []
        cursor: str | None = None
        for _ in range(20):
            page = self.events.query(where, limit=1000, cursor=cursor)
            calls.extend(call for call in map(_webhook_call, page.events) if call is not None)
            cursor = page.next_cursor
            if cursor is None:
                break
        return calls

    def _report(self, execution: Execution, calls: Iterable[WebhookCall]) -> Event | None:
        """The event of one failed execution, recorded; None when it is not a failure to
        report (a manual cancel, gone from n8n, or seen by a webhook call)."""
        detail = self.client.execution(execution.id)
        if detail is None:
            return None
        workflow = detail.workflow_data or {}
        path = webhook_path(workflow.get("nodes"))
        name = str(workflow.get("name") or "")
        if path is None or not name:
            name, path = self._workflow(detail.workflow_id, name, path)
        started, stopped = detail.started_at, detail.stopped_at
        if detail.status == "canceled":
            if not _timed_out(detail, workflow):
                self._pass(detail.id)
                return None
            failure_type = "execution_timeout"
            limit = (workflow.get("settings") or {}).get("executionTimeout")
            reason = f"execution canceled: it ran past the workflow's executionTimeout ({limit} s)"
            message = reason
        else:
            failure_type = "unknown_error"
            message = _error_text(detail) or f"execution ended with status {detail.status}"
            reason = message
        if path is not None and _seen_by_webhook(
            self.client.base_url, path, started, stopped, calls
        ):
            self._pass(detail.id)
            return None
        duration = (stopped - started).total_seconds() if started and stopped else None
        evidence: dict[str, Any] = {
            "task_id": None,
            "workflow_name": self.workflow_names.get((path or "").strip("/"), name) or None,
            "failure_type": failure_type,
            "status_code": None,
            "duration_seconds": round(duration, 3) if duration is not None else None,
            "response_snippet": message[:SNIPPET_CHARS],
            "reason": reason,
            "base_url": self.client.base_url,
            "webhook_path": path,
            "started_at": started.isoformat() if started else None,
            "finished_at": stopped.isoformat() if stopped else None,
            "execution_id": detail.id,
            "workflow_id": detail.workflow_id,
            "detected_by": "watcher",
        }
        return self.events.record(
            FAILURE_EVENT,
            self.project,
            "failed",
            evidence=evidence,
            metadata={"n8n_status": detail.status, "n8n_mode": detail.mode},
            detected_from=DETECTED_FROM,
            correlation_id=f"n8n-execution-{detail.id}"[:64],
            uid=self.uid(detail.id),
        )

    def _workflow(self, workflow_id: str, name: str, path: str | None) -> tuple[str, str | None]:
        """Name and webhook path from the workflows API (when the snapshot lacks them)."""
        if workflow_id not in self._paths:
            try:
                for workflow in self.client.workflows():
                    self._paths[workflow.id] = (workflow.name, workflow.webhook_path)
            except N8nAuthError:  # a refused key (or one without the workflow scope)
                raise
            except N8nApiError as exc:  # n8n unavailable for the listing: go without
                logger.warning("n8n watcher: cannot list workflows: %s", exc.message)
            else:  # a deleted workflow: not listed again for its next executions
                self._paths.setdefault(workflow_id, ("", None))
        known_name, known_path = self._paths.get(workflow_id, ("", None))
        return name or known_name, path or known_path

    # -- the loop ------------------------------------------------------------------------

    def run(
        self,
        interval_seconds: float,
        *,
        on_report: Callable[[Event], None] | None = None,
        once: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        """Poll every ``interval_seconds`` until ``stop`` is set (or once). n8n down or
        restarting, and the store unreachable, are logged warnings; a refused key too,
        except on the first poll, where it is raised (a configuration error)."""
        stop = stop or self._stop
        first = True
        while not stop.is_set():
            try:
                for event in self.poll_once():
                    if on_report is not None:
                        on_report(event)
            except N8nAuthError:
                if first or once:
                    raise
                logger.error("n8n watcher: %s", self.status.error)
            except AutohubError as exc:
                if once:
                    raise
                logger.warning("n8n watcher: poll failed, next in %gs: %s", interval_seconds, exc)
            first = False
            if once:
                return
            stop.wait(interval_seconds)

    def start(self, interval_seconds: float) -> None:
        """Poll in a background thread (the server's)."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._main, args=(interval_seconds,), name="autohub-n8n-watcher", daemon=True
        )
        self._thread.start()

    def _main(self, interval_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.run(interval_seconds, stop=self._stop)
            except AutohubError as exc:  # a refused key: keep trying, it may be fixed
                logger.error("n8n watcher: %s", exc.message)
                self._stop.wait(interval_seconds)
            except Exception:  # a bug must not kill the thread silently
                logger.exception("n8n watcher: poll crashed")
                self._stop.wait(interval_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.client.close()


def _timed_out(detail: Execution, workflow: Mapping[str, Any]) -> bool:
    """Whether a canceled execution was canceled by its ``executionTimeout`` (it ran at
    least that long, less 0.5 s); a manual cancel has no such timeout or is quicker."""
    limit = (workflow.get("settings") or {}).get("executionTimeout")
    if not isinstance(limit, int | float) or limit <= 0:
        return False
    if detail.started_at is None or detail.stopped_at is None:
        return False
    return (detail.stopped_at - detail.started_at).total_seconds() >= limit - 0.5


def _error_text(detail: Execution) -> str | None:
    """The error's original text: the first line of ``stack`` without its ``Error:``
    class prefix (n8n splits Code-node messages at ':'), else ``message``."""
    result = (detail.data or {}).get("resultData") or {}
    error = result.get("error") if isinstance(result, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    stack = error.get("stack")
    if isinstance(stack, str) and stack.strip():
        first = stack.strip().splitlines()[0].strip()
        head, sep, rest = first.partition(": ")
        if sep and head.replace(".", "").isidentifier() and head.endswith(("Error", "Exception")):
            first = rest
        if first:
            return first
    message = error.get("message")
    return str(message) if message else None


def _webhook_call(event: Event) -> WebhookCall | None:
    evidence = event.evidence
    if evidence.get("detected_by") not in (None, "webhook"):
        return None
    base_url, path = evidence.get("base_url"), evidence.get("webhook_path")
    started, finished = evidence.get("started_at"), evidence.get("finished_at")
    if not all(isinstance(value, str) for value in (base_url, path, started, finished)):
        return None
    try:
        start, end = datetime.fromisoformat(str(started)), datetime.fromisoformat(str(finished))
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None:
        return None
    return WebhookCall(str(base_url).rstrip("/"), str(path).strip("/"), start, end)


def _seen_by_webhook(
    base_url: str,
    path: str,
    started: datetime | None,
    stopped: datetime | None,
    calls: Iterable[WebhookCall],
) -> bool:
    if started is None:
        return False
    end = stopped or started
    slack = timedelta(seconds=OVERLAP_SLACK_SECONDS)
    return any(
        call.base_url == base_url.rstrip("/")
        and call.webhook_path == path.strip("/")
        and call.started_at - slack <= end
        and started <= call.finished_at + slack
        for call in calls
    )
