"""Todos: the action items that tool output (hooks, automations) and people complete.

A todo moves ``pending -> in_progress -> pending_review -> completed`` (people may also
move it back). Every change is written with its audit event in one transaction, and a
change is conditional on the status it was read with, so two writers never both
"complete" the same todo.

The statements are plain SQL with ``:name`` parameters, run through a
:class:`TodoSessions` backend: the store's ``Database`` (``store/sessions.py``, SQLite or
PostgreSQL through SQLAlchemy) or a bare SQLite file (``store/sqlite_file.py``, standard
library only, for the Claude Code hook's fast start). This module imports neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from autohub.clock import utcnow
from autohub.errors import Conflict, InvalidInput, NotFound
from autohub.store.event_rows import from_sqlite_time, sqlite_time

TodoStatus = Literal["pending", "in_progress", "pending_review", "completed"]
TODO_STATUSES: tuple[str, ...] = get_args(TodoStatus)
OPEN_STATUSES = ("pending", "in_progress", "pending_review")
TITLE_MAX_CHARS = 500
ID_PREFIX = "todo-"
MAX_ID = 2**63 - 1
"""The largest id a (64-bit) id column holds."""


@dataclass(frozen=True)
class Todo:
    id: int
    project_id: str
    title: str
    status: str
    source: str
    session_id: str | None
    detection: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @property
    def ref(self) -> str:
        """How people and tool output name it: ``todo-12``."""
        return f"{ID_PREFIX}{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ref": self.ref,
            "project_id": self.project_id,
            "title": self.title,
            "status": self.status,
            "source": self.source,
            "session_id": self.session_id,
            "detection": self.detection,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


@dataclass(frozen=True)
class SyncItem:
    """One entry of an agent's todo list."""

    title: str
    status: str


@dataclass(frozen=True)
class SyncResult:
    added: list[int]
    updated: list[int]
    unchanged: int


def parse_ref(text: str | int) -> int:
    """``12``, ``"12"`` or ``"todo-12"`` as the id 12; InvalidInput otherwise."""
    if isinstance(text, int):
        return text
    digits = text.strip().lower().removeprefix(ID_PREFIX)
    # ASCII digits only ("²".isdigit() is true), and no more than an id column holds.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 or int(digits) > MAX_ID:
        raise InvalidInput(f"{text!r} is not a todo id (give 12 or todo-12)")
    return int(digits)


def check_status(status: str) -> str:
    if status not in TODO_STATUSES:
        raise InvalidInput(f"status: {status!r} is not one of {', '.join(TODO_STATUSES)}")
    return status


def check_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InvalidInput("title: give a non-empty title")
    if len(cleaned) > TITLE_MAX_CHARS:
        raise InvalidInput(f"title: longer than {TITLE_MAX_CHARS} characters")
    return cleaned


class TodoSession(Protocol):
    """One transaction (or read) on the store, in its dialect's terms."""

    dialect: str
    """``sqlite`` or ``postgresql``."""

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a statement with ``:name`` parameters, as dicts."""
        ...

    def record_events(self, events: list[dict[str, Any]]) -> None:
        """Insert events (validated, redacted, capped) inside this transaction."""
        ...


class TodoSessions(Protocol):
    """Where todos live: transactions whose driver errors become the store's errors."""

    def write(self, action: str) -> AbstractContextManager[TodoSession]: ...

    def read(self, action: str) -> AbstractContextManager[TodoSession]: ...


_COLUMNS = (
    "id, project_id, title, status, source, session_id, detection, created_at, updated_at, "
    "completed_at"
)


@dataclass
class TodoStore:
    """The ``todos`` table; each change is recorded with its events in one transaction."""

    sessions: TodoSessions
    clock: Callable[[], datetime] = utcnow

    def add(
        self,
        project_id: str,
        title: str,
        *,
        status: str = "pending",
        source: str = "cli",
        session_id: str | None = None,
    ) -> Todo:
        """A new todo (and its ``todo.added`` event)."""
        now = self.clock()
        row = {
            "project_id": project_id,
            "title": check_title(title),
            "status": check_status(status),
            "source": source,
            "session_id": session_id,
        }
        with self.sessions.write(f"add the todo {row['title']!r}") as session:
            todo_id = self._insert(session, row, now)
            session.record_events([_added_event(todo_id, row)])
        return self.get(todo_id)

    def get(self, todo_id: int | str) -> Todo:
        number = parse_ref(todo_id)
        found = self._select("id = :id", {"id": number})
        if not found:
            raise NotFound(f"no todo {ID_PREFIX}{number}")
        return found[0]

    def query(
        self,
        project_id: str | None = None,
        *,
        statuses: Sequence[str] = (),
        session_id: str | None = None,
        limit: int = 200,
    ) -> list[Todo]:
        """Todos, oldest first, of a project (default: every project) and statuses."""
        conditions, params = ["1 = 1"], {}
        if project_id is not None:
            conditions.append("project_id = :project_id")
            params["project_id"] = project_id
        if statuses:
            names = [f"status_{index}" for index in range(len(statuses))]
            conditions.append(f"status IN ({', '.join(':' + name for name in names)})")
            params.update(zip(names, [check_status(s) for s in statuses], strict=True))
        if session_id is not None:
            conditions.append("session_id = :session_id")
            params["session_id"] = session_id
        return self._select(" AND ".join(conditions), params, limit=limit)

    def set_status(
        self,
        todo_id: int | str,
        status: str,
        *,
        expected: str | None = None,
        detection: dict[str, Any] | None = None,
        events: Iterable[dict[str, Any]] = (),
    ) -> tuple[Todo, str] | None:
        """Move a todo to ``status`` with ``events``, in one transaction; the todo as
        changed and its old status. With ``expected``, only from that status: None when
        somebody changed it first."""
        number = parse_ref(todo_id)
        check_status(status)
        now = self.clock()
        with self.sessions.write(f"update {ID_PREFIX}{number}") as session:
            # With ``expected`` the conditional update alone decides; the status is read
            # only to tell a missing todo (NotFound) from one changed meanwhile (None).
            current = expected if expected is not None else _status(session, number)
            changed = self._update(session, number, current, status, now, detection)
            if changed is None:
                _status(session, number)
                return None
            session.record_events(list(events))
        return changed, current

    def move(
        self,
        todo_id: int | str,
        status: str,
        *,
        project_id: str,
        event_type: str,
        expected: str | None = None,
        by: str = "autohub",
    ) -> Todo:
        """A change made by hand (CLI, API): ``todo_id`` of ``project_id`` to ``status``
        (see :meth:`change`); NotFound when it is another project's."""
        current = self.get(todo_id)
        if current.project_id != project_id:
            raise NotFound(f"no todo {current.ref} in project {project_id}")
        return self.change(current, status, event_type=event_type, expected=expected, by=by)

    def change(
        self,
        current: Todo,
        status: str,
        *,
        event_type: str,
        expected: str | None = None,
        by: str = "autohub",
    ) -> Todo:
        """A change made by hand of a todo as just read: to ``status``, only from
        ``expected`` when given, recorded as ``event_type``; Conflict when the todo is not
        in that state (or changed since it was read)."""
        if expected is not None and current.status != expected:
            raise Conflict(f"{current.ref} is {current.status}, not {expected}")
        event = {
            "event_type": event_type,
            "project_id": current.project_id,
            "status": "success",
            "evidence": {"todo_id": current.id, "old_status": current.status, "new_status": status},
            "detected_from": by,
            "correlation_id": current.session_id,
        }
        changed = self.set_status(current.id, status, expected=current.status, events=[event])
        if changed is None:
            raise Conflict(f"{current.ref} changed meanwhile; read it again")
        return changed[0]

    def sync(self, project_id: str, session_id: str, items: Sequence[SyncItem]) -> SyncResult:
        """Bring an agent's todo list into the store, in one transaction: new titles are
        added (``todo.added``), known ones move forward to the agent's status
        (``todo.synced``), never back (a completion, by output or by hand, stands against
        an agent's stale list). Titles the list no longer has are kept."""
        wanted: dict[str, str] = {}
        for index, item in enumerate(items):
            try:
                wanted[check_title(item.title)] = check_status(item.status)
            except InvalidInput as exc:
                raise InvalidInput(f"todos[{index}].{exc.message}") from exc
        now = self.clock()
        added: list[int] = []
        updated: list[int] = []
        unchanged = 0
        with self.sessions.write(f"sync the todos of session {session_id}") as session:
            known = {
                row["title"]: (row["id"], row["status"])
                for row in session.rows(
                    "SELECT id, title, status FROM todos "
                    "WHERE project_id = :project_id AND session_id = :session_id",
                    {"project_id": project_id, "session_id": session_id},
                )
            }
            for title, status in wanted.items():
                if title not in known:
                    row = {
                        "project_id": project_id,
                        "title": title,
                        "status": status,
                        "source": "claude-code",
                        "session_id": session_id,
                    }
                    todo_id = self._insert(session, row, now)
                    added.append(todo_id)
                    session.record_events([_added_event(todo_id, row)])
                elif _rank(status) > _rank(known[title][1]):
                    todo_id, current = known[title]
                    if self._update(session, todo_id, current, status, now, None) is None:
                        unchanged += 1  # changed by another writer since it was read
                        continue
                    updated.append(todo_id)
                    session.record_events(
                        [_synced_event(todo_id, project_id, session_id, current, status)]
                    )
                else:
                    unchanged += 1
        return SyncResult(added, updated, unchanged)

    # -- statements ---------------------------------------------------------------------

    def _insert(self, session: TodoSession, row: dict[str, Any], now: datetime) -> int:
        moment = _time(session, now)
        found = session.rows(
            "INSERT INTO todos (project_id, title, status, source, session_id, created_at, "
            "updated_at, completed_at) VALUES (:project_id, :title, :status, :source, "
            ":session_id, :now, :now, :completed_at) RETURNING id",
            {
                **row,
                "now": moment,
                "completed_at": moment if row["status"] == "completed" else None,
            },
        )
        return int(found[0]["id"])

    def _update(
        self,
        session: TodoSession,
        todo_id: int,
        current: str,
        status: str,
        now: datetime,
        detection: dict[str, Any] | None,
    ) -> Todo | None:
        """Set the status if it still is ``current``: the todo as changed, else None."""
        moment = _time(session, now)
        params = {
            "id": todo_id,
            "current": current,
            "status": status,
            "now": moment,
            "completed_at": moment if status == "completed" else None,
        }
        assignments = "status = :status, updated_at = :now, completed_at = :completed_at"
        if detection is not None:
            cast = "CAST(:detection AS JSONB)" if session.dialect == "postgresql" else ":detection"
            assignments += f", detection = {cast}"
            params["detection"] = json.dumps(detection, ensure_ascii=False)
        changed = session.rows(
            f"UPDATE todos SET {assignments} WHERE id = :id AND status = :current "
            f"RETURNING {_COLUMNS}",
            params,
        )
        return _todo(changed[0]) if changed else None

    def _select(self, where: str, params: dict[str, Any], limit: int | None = None) -> list[Todo]:
        sql = f"SELECT {_COLUMNS} FROM todos WHERE {where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.sessions.read("read todos") as session:
            return [_todo(row) for row in session.rows(sql, params)]


def _status(session: TodoSession, todo_id: int) -> str:
    """The todo's status as this session sees it; NotFound when there is no such todo."""
    found = session.rows("SELECT status FROM todos WHERE id = :id", {"id": todo_id})
    if not found:
        raise NotFound(f"no todo {ID_PREFIX}{todo_id}")
    return str(found[0]["status"])


def _time(session: TodoSession, moment: datetime) -> Any:
    """A time as the dialect stores it (SQLite: naive UTC text, as SQLAlchemy writes it)."""
    return sqlite_time(moment) if session.dialect == "sqlite" else moment


def _todo(row: dict[str, Any]) -> Todo:
    """A row as read by either backend (SQLite gives text times and JSON text)."""
    values = dict(row)
    for name in ("created_at", "updated_at", "completed_at"):
        if isinstance(values[name], str):
            values[name] = from_sqlite_time(values[name])
    if isinstance(values["detection"], str):
        values["detection"] = json.loads(values["detection"])
    return Todo(**values)


def _rank(status: str) -> int:
    """How far along ``status`` is: pending, in_progress, pending_review, completed."""
    return TODO_STATUSES.index(status)


def _synced_event(
    todo_id: int, project_id: str, session_id: str, old_status: str, new_status: str
) -> dict[str, Any]:
    return {
        "event_type": "todo.synced",
        "project_id": project_id,
        "status": "success",
        "evidence": {"todo_id": todo_id, "old_status": old_status, "new_status": new_status},
        "correlation_id": session_id,
        "detected_from": "claude-code",
    }


def _added_event(todo_id: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_type": "todo.added",
        "project_id": row["project_id"],
        "status": "success",
        "evidence": {
            "todo_id": todo_id,
            "title": row["title"],
            "status": row["status"],
            "source": row["source"],
        },
        "correlation_id": row["session_id"],
        "detected_from": row["source"],
    }
