"""Event rows as the store writes them: validated, redacted, capped; and their spool form.

Standard library only (no SQLAlchemy, no pydantic on the common path), so that a
process which only records an event, such as the Claude Code hook, starts fast. An
event that is not plainly valid is judged by the ``NewEvent`` model, imported then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args

from autohub.clock import utcnow
from autohub.errors import InvalidInput
from autohub.ids import new_id
from autohub.redact import Redactor
from autohub.store import evidence

if TYPE_CHECKING:
    from autohub.store.events import NewEvent
    from autohub.store.spool import EventSpool

EventStatus = Literal[
    "pending", "running", "success", "failed", "warning", "pending_review", "skipped", "cancelled"
]
EVENT_STATUSES: tuple[str, ...] = get_args(EventStatus)
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$"
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DETECTED_FROM_MAX_CHARS = 256

EVENT_FIELDS = (
    "event_type",
    "project_id",
    "status",
    "evidence",
    "metadata",
    "detected_from",
    "run_id",
    "correlation_id",
    "parent_id",
    "created_at",
    "resolved_at",
    "uid",
)
"""The fields of a new event (``NewEvent``'s)."""
EVENT_COLUMNS = (
    "uid",
    "event_type",
    "project_id",
    "status",
    "evidence",
    "detected_from",
    "metadata",
    "created_at",
    "resolved_at",
    "run_id",
    "correlation_id",
    "parent_id",
)
"""The columns an event row is written with, in the table's order (the id is the
database's)."""


@dataclass
class EventLimits:
    evidence_max_bytes: int = 64 * 1024
    string_max_chars: int = 8 * 1024


_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN.removesuffix("$") + r"\Z")  # "$" allows "\n"
_PROJECT = re.compile(PROJECT_PATTERN.removesuffix("$") + r"\Z")
_UID = re.compile(r"^[0-9a-f]{32}\Z")
_FIELDS = frozenset(EVENT_FIELDS)
_STATUSES = frozenset(EVENT_STATUSES)
_DEFAULTS: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
_OPTIONAL_TEXT = (("detected_from", 256), ("run_id", 64), ("correlation_id", 64))


@lru_cache(maxsize=1024)
def is_project_id(value: str) -> bool:
    """Whether ``value`` is a valid project id (letters, digits, ``_.-``; 128 at most).
    The answers are kept: a process writes the events of a few projects."""
    return len(value) <= 128 and _PROJECT.match(value) is not None


@lru_cache(maxsize=1024)
def _is_event_type(value: str) -> bool:
    """Whether ``value`` is a valid event type (the answers are kept: a process writes
    a few dozen types)."""
    return len(value) <= 128 and _EVENT_TYPE.match(value) is not None


def build_row(
    event: NewEvent | dict[str, Any],
    where: str,
    redactor: Redactor,
    limits: EventLimits,
    clock: Callable[[], datetime] = utcnow,
    source: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The stored row of ``event``: validated, redacted and capped, evidence and metadata
    as ``evidence.StoredJson`` text; InvalidInput naming ``where``. ``source`` cleans
    ``detected_from`` (default: clean, redact and cut it here)."""
    fields = _plain_event(event) if isinstance(event, dict) else None
    if fields is None:  # pydantic judges (and explains) everything but the common case
        from autohub.store.events import validated_event

        fields = validated_event(event, where)
    for name in ("created_at", "resolved_at"):
        value = fields[name]
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{where}.{name}: give a timezone-aware time")
    encoded = evidence.encode_all(
        {f"{where}.evidence": fields["evidence"], f"{where}.metadata": fields["metadata"]},
        redactor,
        max_bytes=limits.evidence_max_bytes,
        max_string_chars=limits.string_max_chars,
    )
    fields["evidence"], fields["metadata"] = encoded.values()
    detected_from = fields["detected_from"]
    if detected_from:
        fields["detected_from"] = (
            source(detected_from) if source is not None else clean_source(detected_from, redactor)
        )
    else:
        fields["detected_from"] = None
    if fields["created_at"] is None:
        fields["created_at"] = clock()
    return fields


def clean_source(detected_from: str, redactor: Redactor) -> str:
    """``detected_from`` as stored: cleaned, redacted and cut to its column."""
    text = evidence.clean_text(detected_from)
    if redactor.matches(text):
        text = redactor.text(text)
    # Redaction can lengthen the text; the column holds DETECTED_FROM_MAX_CHARS.
    return text[:DETECTED_FROM_MAX_CHARS]


def spool_event(spool: EventSpool, event: dict[str, Any], redactor: Redactor) -> None:
    """Put an event straight into ``spool`` (for a caller with no store to write to: the
    next store that opens the spool records it)."""
    spool.append([row_to_spool(build_row(event, "event", redactor, EventLimits()))])


def _plain_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The fields of an event that is plainly valid, or None to let pydantic judge (and
    explain) it: the same rules as NewEvent, checked in a few microseconds."""
    if not _FIELDS.issuperset(event):
        return None
    event_type, project_id = event.get("event_type"), event.get("project_id")
    if not (type(event_type) is str and _is_event_type(event_type)):
        return None
    if not (type(project_id) is str and is_project_id(project_id)):
        return None
    status = event.get("status")
    if status not in _STATUSES:
        return None
    fields = {**_DEFAULTS, **event}
    for name, limit in _OPTIONAL_TEXT:
        value = fields[name]
        if value is not None and not (
            type(value) is str and len(value) <= limit and value == value.strip()
        ):
            return None
    for name in ("evidence", "metadata"):
        value = fields[name]
        if value is None:
            fields[name] = {}
        elif type(value) is not dict:
            return None
    for name in ("created_at", "resolved_at"):
        value = fields[name]
        if value is not None and not isinstance(value, datetime):
            return None
    parent_id, uid = fields["parent_id"], fields["uid"]
    if parent_id is not None and type(parent_id) is not int:
        return None
    if uid is None:
        fields["uid"] = new_id()
    elif not (type(uid) is str and _UID.match(uid)):
        return None
    return fields


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its evidence and metadata as data, as a read would return them."""
    return {**row, "evidence": json.loads(row["evidence"]), "metadata": json.loads(row["metadata"])}


def row_to_spool(row: dict[str, Any]) -> dict[str, Any]:
    spooled = decoded(row)
    for name in ("created_at", "resolved_at"):
        if spooled[name] is not None:
            spooled[name] = spooled[name].isoformat()
    return spooled


def row_from_spool(row: dict[str, Any]) -> dict[str, Any]:
    restored = dict(row)
    for name in ("evidence", "metadata"):  # spooled after encode: stored as they are
        restored[name] = evidence.StoredJson(evidence.compact_json(restored[name]))
    for name in ("created_at", "resolved_at"):
        if restored.get(name) is not None:
            restored[name] = datetime.fromisoformat(restored[name])
    return restored


def sqlite_time(moment: datetime | None) -> str | None:
    """A time as SQLAlchemy's SQLite DateTime stores it (naive UTC text)."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:  # the engine's clock: the offset is known to be zero
        return moment.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware datetime")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def from_sqlite_time(text: str | None) -> datetime | None:
    """A time read from SQLite text (naive UTC) as an aware UTC datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sqlite_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """A built row's values for a SQLite ``INSERT`` of :data:`EVENT_COLUMNS`."""
    return tuple(
        sqlite_time(row[name])
        if name in ("created_at", "resolved_at")
        else evidence.compact_json(row[name])
        if name in ("evidence", "metadata")
        else row[name]
        for name in EVENT_COLUMNS
    )
