"""ActionTracker: from a tool's output to a todo's new status and its audit event.

1. The detector finds the most confident keyword (:mod:`autohub.watch.detector`).
2. The thresholds decide: at ``complete_at`` (80) or above the todo is completed; at
   ``review_at`` (60) or above it goes to pending_review; below, nothing changes.
3. The todo is the one the output names (``todo-12``), else the in-progress todo whose
   title the output overlaps most, else the only todo in progress.
4. The change and its event (``action_item_completed`` or
   ``action_item_pending_review``) are written in one transaction; anything that changes
   nothing is a ``no_action_taken`` event saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from autohub.errors import NotFound
from autohub.redact import Redactor
from autohub.store.todos import Todo, TodoStore
from autohub.watch.detector import CONTEXT_CHARS, Detection, KeywordDetector

COMPLETED = "action_item_completed"
PENDING_REVIEW = "action_item_pending_review"
NO_ACTION = "no_action_taken"
EVENT_STATUS = {COMPLETED: "success", PENDING_REVIEW: "pending_review", NO_ACTION: "skipped"}
MIN_OVERLAP = 0.5
"""The share of a title's words the output must contain to name that todo."""

_TODO_REF = re.compile(r"\btodo(?:[-_:]|\s*#)(\d{1,12})\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "into",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "all",
        "any",
        "add",
        "fix",
        "run",
        "use",
        "new",
        "its",
    ]
)


class EventSink(Protocol):
    """Where the tracker records its decisions: the store's ``EventStore``, or the bare
    SQLite file of the hook's fast start (``store/sqlite_file.py``)."""

    @property
    def redactor(self) -> Redactor: ...

    def add(self, event: dict[str, Any]) -> object: ...

    def record(self, event_type: str, project_id: str, status: str, **fields: Any) -> object: ...


@dataclass(frozen=True)
class Thresholds:
    complete_at: int = 80
    review_at: int = 60

    def outcome(self, confidence: int) -> tuple[str, str | None]:
        """The event type and the todo's new status (None: no change) at ``confidence``."""
        if confidence >= self.complete_at:
            return COMPLETED, "completed"
        if confidence >= self.review_at:
            return PENDING_REVIEW, "pending_review"
        return NO_ACTION, None


@dataclass(frozen=True)
class Observation:
    """A tool's output to look at, and where it came from."""

    project_id: str
    tool_name: str
    text: str
    todo_id: int | None = None
    """The todo to update, when the caller knows it."""
    session_id: str | None = None
    """The agent session: the events' correlation id, and the todos searched first."""
    run_id: str | None = None
    detected_from: str = "autohub"
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class UpdateResult:
    """What an observation did: the todo's old and new status, or why nothing changed."""

    event_type: str
    changed: bool
    reason: str
    todo_id: int | None = None
    old_status: str | None = None
    new_status: str | None = None
    detection: Detection | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "changed": self.changed,
            "reason": self.reason,
            "todo_id": self.todo_id,
            "old_status": self.old_status,
            "new_status": self.new_status,
            **_detected(self.detection),
        }


class ActionTracker:
    """Applies detections to todos and records every decision."""

    def __init__(
        self,
        todos: TodoStore,
        events: EventSink,
        *,
        thresholds: Thresholds | None = None,
        detector: KeywordDetector | None = None,
    ) -> None:
        self.todos = todos
        self.events = events
        self.thresholds = thresholds or Thresholds()
        self.detector = detector or KeywordDetector()

    @property
    def redactor(self) -> Redactor:
        return self.events.redactor

    def observe(self, observation: Observation) -> UpdateResult:
        """Detect, decide, find the todo, update it: one event in every case."""
        detection = self.detector.detect(observation.text)
        if detection is None:
            return self.no_action(observation, "no action-item keyword in the output")
        event_type, new_status = self.thresholds.outcome(detection.confidence)
        if new_status is None:
            return self.no_action(
                observation,
                f"confidence {detection.confidence} is below review_at "
                f"({self.thresholds.review_at})",
                detection,
            )
        todo, why_none = self._find_todo(observation)
        if todo is None:
            return self.no_action(observation, why_none, detection)
        if todo.status in ("completed", new_status):
            return self.no_action(
                observation, f"{todo.ref} is already {todo.status}", detection, todo
            )
        event = self._event(
            observation,
            event_type,
            detection,
            todo_id=todo.id,
            old_status=todo.status,
            new_status=new_status,
        )
        changed = self.todos.set_status(
            todo.id,
            new_status,
            expected=todo.status,
            detection=self._detection_evidence(detection),
            events=[event],
        )
        if changed is None:
            return self.no_action(
                observation, f"{todo.ref} was changed by somebody else first", detection, todo
            )
        return UpdateResult(
            event_type=event_type,
            changed=True,
            reason=f"{detection.category} at confidence {detection.confidence}",
            todo_id=todo.id,
            old_status=todo.status,
            new_status=new_status,
            detection=detection,
        )

    def no_action(
        self,
        observation: Observation,
        reason: str,
        detection: Detection | None = None,
        todo: Todo | None = None,
    ) -> UpdateResult:
        """Record (and return) a ``no_action_taken`` decision saying why."""
        todo_id = todo.id if todo else observation.todo_id
        status = todo.status if todo else None
        self.events.add(
            self._event(
                observation,
                NO_ACTION,
                detection,
                todo_id=todo_id,
                old_status=status,
                new_status=status,
                reason=reason,
            )
        )
        return UpdateResult(
            event_type=NO_ACTION,
            changed=False,
            reason=reason,
            todo_id=todo_id,
            old_status=status,
            new_status=status,
            detection=detection,
        )

    # -- the todo a detection is about ---------------------------------------------------

    def _find_todo(self, observation: Observation) -> tuple[Todo | None, str]:
        explicit = observation.todo_id
        if explicit is None:
            mentioned = _TODO_REF.search(observation.text)
            explicit = int(mentioned.group(1)) if mentioned else None
        if explicit is not None:
            try:
                todo = self.todos.get(explicit)
            except NotFound:
                return None, f"todo-{explicit} does not exist"
            if todo.project_id != observation.project_id:
                return None, f"todo-{explicit} belongs to another project"
            return todo, ""
        in_progress = self._in_progress(observation)
        if not in_progress:
            return None, "no todo is in progress"
        best = _best_overlap(observation.text, in_progress)
        if best is not None:
            return best, ""
        if len(in_progress) == 1:
            return in_progress[0], ""
        return None, (f"{len(in_progress)} todos are in progress and the output names none of them")

    def _in_progress(self, observation: Observation) -> list[Todo]:
        """The session's todos in progress when it has any, else the project's."""
        todos = self.todos.query(observation.project_id, statuses=["in_progress"])
        if observation.session_id is not None:
            own = [todo for todo in todos if todo.session_id == observation.session_id]
            if own:
                return own
        return todos

    # -- events --------------------------------------------------------------------------

    def _event(
        self,
        observation: Observation,
        event_type: str,
        detection: Detection | None,
        *,
        todo_id: int | None,
        old_status: str | None,
        new_status: str | None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "tool_name": observation.tool_name,
            **self._detection_evidence(detection),
            "todo_id": todo_id,
            "old_status": old_status,
            "new_status": new_status,
        }
        if reason is not None:
            evidence["reason"] = reason
        return {
            "event_type": event_type,
            "project_id": observation.project_id,
            "status": EVENT_STATUS[event_type],
            "evidence": evidence,
            "metadata": observation.metadata or {},
            "detected_from": observation.detected_from,
            "run_id": observation.run_id,
            "correlation_id": observation.session_id,
        }

    def _detection_evidence(self, detection: Detection | None) -> dict[str, Any]:
        return {
            **_detected(detection),
            "context_snippet": snippet(detection.context, self.redactor) if detection else None,
        }


def _detected(detection: Detection | None) -> dict[str, Any]:
    """What was detected, as results and events name it (all None: nothing)."""
    return {
        "detected_keyword": detection.keyword if detection else None,
        "keyword_category": detection.category if detection else None,
        "confidence": detection.confidence if detection else None,
    }


def snippet(text: str, redactor: Redactor) -> str:
    """``text`` redacted, then cut to CONTEXT_CHARS (so a cut never leaves half a secret)."""
    redacted = redactor.text(text)
    if len(redacted) <= CONTEXT_CHARS:
        return redacted
    return redacted[: CONTEXT_CHARS - 1] + "…"


def _best_overlap(text: str, todos: list[Todo]) -> Todo | None:
    """The todo whose title's words the text contains most (at least MIN_OVERLAP of them);
    None when no title qualifies or two tie."""
    words = set(_WORD.findall(text.lower()))
    scored: list[tuple[float, Todo]] = []
    for todo in todos:
        title_words = set(_WORD.findall(todo.title.lower())) - _STOP_WORDS
        if title_words:
            share = len(title_words & words) / len(title_words)
            if share >= MIN_OVERLAP:
                scored.append((share, todo))
    scored.sort(key=lambda item: item[0], reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]
