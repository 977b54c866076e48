"""Todos: the action items that tool output (hooks, automations) and people complete.

A todo moves ``pending -> in_progress -> pending_review -> completed`` (people may also
move it back). Every change is written with its audit event in one transaction, and a
change is conditional on the status it was read with, so two writers never both
"complete" the same todo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa

from autohub.clock import utcnow
from autohub.errors import Conflict, InvalidInput, NotFound
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.schema import todos

TodoStatus = Literal["pending", "in_progress", "pending_review", "completed"]
TODO_STATUSES: tuple[str, ...] = get_args(TodoStatus)
OPEN_STATUSES = ("pending", "in_progress", "pending_review")
TITLE_MAX_CHARS = 500
ID_PREFIX = "todo-"


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
    if not digits.isdigit():
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


@dataclass
class TodoStore:
    """The ``todos`` table; each change is recorded with its events in one transaction."""

    database: Database
    events: EventStore
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
            "detection": None,
            "created_at": now,
            "updated_at": now,
            "completed_at": now if status == "completed" else None,
        }
        with self._transaction(f"add the todo {row['title']!r}") as connection:
            todo_id = connection.execute(todos.insert().returning(todos.c.id), row).scalar_one()
            self._record(connection, _added_event(todo_id, row))
        return self.get(todo_id)

    def get(self, todo_id: int | str) -> Todo:
        number = parse_ref(todo_id)
        found = self._select(todos.c.id == number)
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
        conditions = []
        if project_id is not None:
            conditions.append(todos.c.project_id == project_id)
        if statuses:
            conditions.append(todos.c.status.in_([check_status(s) for s in statuses]))
        if session_id is not None:
            conditions.append(todos.c.session_id == session_id)
        return self._select(*conditions, limit=limit)

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
        with self._transaction(f"update {ID_PREFIX}{number}") as connection:
            current = connection.execute(
                sa.select(todos.c.status).where(todos.c.id == number)
            ).scalar_one_or_none()
            if current is None:
                raise NotFound(f"no todo {ID_PREFIX}{number}")
            if expected is not None and current != expected:
                return None
            values: dict[str, Any] = {
                "status": status,
                "updated_at": now,
                "completed_at": now if status == "completed" else None,
            }
            if detection is not None:
                values["detection"] = detection
            changed = connection.execute(
                todos.update()
                .where(todos.c.id == number, todos.c.status == current)
                .values(**values)
            ).rowcount
            if not changed:
                return None
            for event in events:
                self._record(connection, event)
        return self.get(number), current

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
        """A change made by hand (CLI, API): ``todo_id`` of ``project_id`` to ``status``,
        only from ``expected`` when given, recorded as ``event_type``; InvalidInput when
        the todo is not in that state (or changed meanwhile), NotFound when it is
        another project's."""
        current = self.get(todo_id)
        if current.project_id != project_id:
            raise NotFound(f"no todo {current.ref} in project {project_id}")
        if expected is not None and current.status != expected:
            raise Conflict(f"{current.ref} is {current.status}, not {expected}")
        event = {
            "event_type": event_type,
            "project_id": project_id,
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
        """Bring an agent's todo list into the store: new titles are added, known ones take
        the agent's status (in one transaction). Titles the list no longer has are kept."""
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
        with self._transaction(f"sync the todos of session {session_id}") as connection:
            known = {
                row.title: (row.id, row.status)
                for row in connection.execute(
                    sa.select(todos.c.id, todos.c.title, todos.c.status).where(
                        todos.c.project_id == project_id,
                        todos.c.session_id == session_id,
                        todos.c.title.in_(list(wanted)),
                    )
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
                        "detection": None,
                        "created_at": now,
                        "updated_at": now,
                        "completed_at": now if status == "completed" else None,
                    }
                    todo_id = connection.execute(
                        todos.insert().returning(todos.c.id), row
                    ).scalar_one()
                    added.append(todo_id)
                    self._record(connection, _added_event(todo_id, row))
                elif known[title][1] != status:
                    todo_id = known[title][0]
                    connection.execute(
                        todos.update()
                        .where(todos.c.id == todo_id)
                        .values(
                            status=status,
                            updated_at=now,
                            completed_at=now if status == "completed" else None,
                        )
                    )
                    updated.append(todo_id)
                else:
                    unchanged += 1
        return SyncResult(added, updated, unchanged)

    # -- internals ----------------------------------------------------------------------

    def _record(self, connection: sa.Connection, event: dict[str, Any]) -> None:
        self.events.insert_rows(connection, [self.events.prepare(event)])

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sa.Connection]:
        """A write transaction whose driver errors name ``action``."""
        try:
            with self.database.begin() as connection:
                yield connection
        except self.database.errors as exc:
            raise self.database.translate(exc, action) from exc

    def _select(self, *conditions: Any, limit: int | None = None) -> list[Todo]:
        statement = sa.select(todos).where(*conditions).order_by(todos.c.id)
        if limit is not None:
            statement = statement.limit(limit)
        return [Todo(**row) for row in self.database.fetch(statement, "read todos")]


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
