"""The event store on both databases: writing, validation, queries, pagination,
timelines, correlation, resolution, and evidence as it is stored."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID

import pytest
from store_helpers import START, FakeClock, RawQuery, event_fields

from autohub.errors import InvalidInput, NotFound
from autohub.redact import Redactor
from autohub.store.database import Database
from autohub.store.events import (
    EVENT_STATUSES,
    MAX_PAGE_SIZE,
    Event,
    EventFilter,
    EventLimits,
    EventStore,
    NewEvent,
)
from autohub.store.evidence import TRUNCATED_KEY


def add(store: EventStore, **fields: Any) -> Event:
    """Add an event with defaults for the required fields."""
    return store.add(event_fields(**fields))


def walk(store: EventStore, where: EventFilter | None = None, limit: int = 5) -> list[Event]:
    """Every event matching ``where``, following the cursors page by page."""
    seen: list[Event] = []
    cursor = None
    for _ in range(1000):
        page = store.query(where, limit=limit, cursor=cursor)
        assert len(page.events) <= limit
        seen += page.events
        if page.next_cursor is None:
            return seen
        assert page.events, "a page with a next cursor must not be empty"
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def ids(events: list[Event]) -> list[int | None]:
    return [event.id for event in events]


# -- writing -------------------------------------------------------------------------------


def test_add_stores_one_event_and_returns_it_with_its_id(store: EventStore) -> None:
    event = add(
        store,
        evidence={"checks": 6},
        metadata={"host": "ci-1"},
        detected_from="gate",
        run_id="run-1",
        correlation_id="corr-1",
    )

    assert isinstance(event.id, int)
    assert not event.spooled
    assert store.get(event.id) == event
    assert (event.event_type, event.project_id, event.status) == (
        "production_check",
        "web",
        "success",
    )
    assert event.evidence == {"checks": 6}
    assert event.metadata == {"host": "ci-1"}
    assert (event.detected_from, event.run_id, event.correlation_id) == ("gate", "run-1", "corr-1")
    assert event.resolved_at is None
    assert len(event.uid) == 32


def test_record_takes_the_fields_as_keyword_arguments(store: EventStore) -> None:
    event = store.record("no_action_taken", "web", "skipped", evidence={"why": "idle"})

    assert store.get(event.id or 0).evidence == {"why": "idle"}
    assert (event.event_type, event.status) == ("no_action_taken", "skipped")


def test_add_accepts_a_new_event_model(store: EventStore) -> None:
    event = store.add(NewEvent(event_type="webhook_error", project_id="api", status="failed"))

    assert store.get(event.id or 0).event_type == "webhook_error"


def test_ids_increase_in_write_order(store: EventStore) -> None:
    events = [add(store, evidence={"n": n}) for n in range(5)]

    assert ids(events) == sorted(ids(events))  # type: ignore[type-var]
    assert len(set(ids(events))) == 5
    assert store.last_id() == events[-1].id


def test_add_many_stores_a_batch_in_write_order(store: EventStore, raw: RawQuery) -> None:
    batch = [
        {
            "event_type": "production_check",
            "project_id": "web",
            "status": "success",
            "evidence": {"n": n},
        }
        for n in range(7)
    ]

    result = store.add_many(batch)

    assert (result.count, result.spooled) == (7, False)
    rows = raw("SELECT id, evidence FROM automation_events ORDER BY id")
    assert [_json(row["evidence"])["n"] for row in rows] == list(range(7))


def test_add_many_of_nothing_stores_nothing(store: EventStore) -> None:
    assert store.add_many([]).count == 0
    assert store.last_id() == 0


def test_adding_the_same_uid_twice_stores_the_event_once(store: EventStore, raw: RawQuery) -> None:
    uid = "0123456789abcdef0123456789abcdef"

    first = add(store, uid=uid, evidence={"try": 1})
    second = add(store, uid=uid, evidence={"try": 2})

    assert second == first
    assert raw("SELECT COUNT(*) AS n FROM automation_events")[0]["n"] == 1


def test_get_of_a_missing_id_raises_not_found(store: EventStore) -> None:
    with pytest.raises(NotFound, match="no event with id 999"):
        store.get(999)


def test_since_id_returns_later_events_oldest_first(store: EventStore) -> None:
    events = [add(store, status=status) for status in ("success", "failed", "success", "failed")]

    later = store.since_id(EventFilter(), events[0].id or 0)
    failed = store.since_id(EventFilter(statuses=["failed"]), 0)

    assert ids(later) == ids(events[1:])
    assert ids(failed) == [events[1].id, events[3].id]
    assert store.since_id(EventFilter(), events[-1].id or 0) == []


def test_last_id_is_zero_for_an_empty_store(store: EventStore) -> None:
    assert store.last_id() == 0


def test_to_dict_gives_iso_times(store: EventStore) -> None:
    data = add(store).to_dict()

    assert data["created_at"] == START.isoformat()
    assert data["resolved_at"] is None
    json.dumps(data)


# -- times ---------------------------------------------------------------------------------


def test_created_at_defaults_to_the_store_clock(store: EventStore, clock: FakeClock) -> None:
    clock.advance(minutes=5)

    event = add(store)

    assert event.created_at == START + timedelta(minutes=5)
    assert event.created_at.tzinfo is not None


def test_created_at_defaults_to_now_with_the_real_clock(database: Database) -> None:
    store = EventStore(database)
    before = datetime.now(UTC)

    event = add(store)

    assert before - timedelta(seconds=1) <= event.created_at <= datetime.now(UTC)


def test_explicit_aware_times_keep_their_instant(store: EventStore) -> None:
    paris = timezone(timedelta(hours=2))
    created = datetime(2024, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    resolved = datetime(2024, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))

    event = add(store, created_at=created, resolved_at=resolved)

    stored = store.get(event.id or 0)
    assert stored.created_at == created
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at == datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert stored.resolved_at == resolved


@pytest.mark.parametrize("name", ["created_at", "resolved_at"])
def test_a_naive_time_is_rejected_with_a_clear_message(store: EventStore, name: str) -> None:
    with pytest.raises(InvalidInput, match=rf"event\.{name}: give a timezone-aware time"):
        add(store, **{name: datetime(2024, 6, 1, 12, 0)})
    assert store.last_id() == 0


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["Production_Check", "has space", "1st", "a..b", "a-b", "_x", "x.", ""]
)
def test_an_event_type_must_be_a_dotted_identifier(store: EventStore, event_type: str) -> None:
    expected = r"event\.event_type: .* is not a dotted or underscored identifier"
    with pytest.raises(InvalidInput, match=expected):
        add(store, event_type=event_type)
    assert store.last_id() == 0


@pytest.mark.parametrize(
    "event_type", ["production_check", "n8n_failure_detected", "n8n.recovery_attempted", "a1.b2"]
)
def test_dotted_and_underscored_event_types_are_accepted(
    store: EventStore, event_type: str
) -> None:
    assert add(store, event_type=event_type).event_type == event_type


def test_a_bad_event_type_message_says_what_is_expected(store: EventStore) -> None:
    with pytest.raises(InvalidInput) as caught:
        add(store, event_type="Bad Type")
    assert "event.event_type: 'Bad Type' is not a dotted or underscored identifier" in str(
        caught.value
    )


def test_the_status_must_be_one_of_the_closed_set(store: EventStore) -> None:
    with pytest.raises(InvalidInput) as caught:
        add(store, status="done")

    message = str(caught.value)
    assert "event.status: 'done' is not one of" in message
    for status in EVENT_STATUSES:
        assert status in message
    assert store.last_id() == 0


@pytest.mark.parametrize("status", EVENT_STATUSES)
def test_every_allowed_status_is_stored(store: EventStore, status: str) -> None:
    assert add(store, status=status).status == status


def test_unknown_fields_are_rejected(store: EventStore) -> None:
    with pytest.raises(InvalidInput, match=r"event\.colour: unknown field"):
        add(store, colour="red")
    assert store.last_id() == 0


def test_a_missing_required_field_is_rejected(store: EventStore) -> None:
    with pytest.raises(InvalidInput, match=r"event\.project_id"):
        store.add({"event_type": "production_check", "status": "success"})


def test_an_invalid_event_in_a_batch_stores_nothing(store: EventStore) -> None:
    batch: list[dict[str, Any]] = [
        {"event_type": "production_check", "project_id": "web", "status": "success"},
        {"event_type": "production_check", "project_id": "web", "status": "success"},
        {"event_type": "production_check", "project_id": "web", "status": "exploded"},
        {"event_type": "production_check", "project_id": "web", "status": "success"},
    ]

    with pytest.raises(InvalidInput, match=r"events\[2\]\.status: 'exploded' is not one of"):
        store.add_many(batch)

    assert store.last_id() == 0


def test_an_unserialisable_event_in_a_batch_stores_nothing(store: EventStore) -> None:
    batch: list[dict[str, Any]] = [
        {"event_type": "production_check", "project_id": "web", "status": "success"},
        {
            "event_type": "production_check",
            "project_id": "web",
            "status": "success",
            "evidence": {"bad": object()},
        },
    ]

    with pytest.raises(InvalidInput, match=r"events\[1\]\.evidence\.bad"):
        store.add_many(batch)

    assert store.last_id() == 0


# -- queries -------------------------------------------------------------------------------


@pytest.fixture
def mixed(store: EventStore, clock: FakeClock) -> dict[str, Event]:
    """Six events, one minute apart, varied in every filterable field."""
    specs = {
        "check_ok": {
            "event_type": "production_check",
            "project_id": "web",
            "status": "success",
            "run_id": "run-1",
            "correlation_id": "c-1",
        },
        "check_bad": {
            "event_type": "production_check",
            "project_id": "api",
            "status": "failed",
            "run_id": "run-2",
        },
        "n8n_fail": {
            "event_type": "n8n_failure_detected",
            "project_id": "web",
            "status": "failed",
            "correlation_id": "c-1",
        },
        "n8n_fix": {
            "event_type": "n8n_recovery_attempted",
            "project_id": "web",
            "status": "success",
            "run_id": "run-1",
        },
        "todo": {"event_type": "action_item_completed", "project_id": "api", "status": "warning"},
        "idle": {"event_type": "no_action_taken", "project_id": "web", "status": "skipped"},
    }
    events = {}
    for name, spec in specs.items():
        clock.advance(minutes=1)
        events[name] = store.add(spec)
    return events


def names(events: list[Event], mixed: dict[str, Event]) -> list[str]:
    by_id = {event.id: name for name, event in mixed.items()}
    return [by_id[event.id] for event in events]


def test_query_returns_newest_first(store: EventStore, mixed: dict[str, Event]) -> None:
    page = store.query()

    assert names(page.events, mixed) == list(reversed(mixed))
    assert page.next_cursor is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (EventFilter(event_types=["production_check"]), ["check_bad", "check_ok"]),
        (
            EventFilter(event_types=["n8n_failure_detected", "n8n_recovery_attempted"]),
            ["n8n_fix", "n8n_fail"],
        ),
        (EventFilter(statuses=["failed"]), ["n8n_fail", "check_bad"]),
        (EventFilter(statuses=["warning", "skipped"]), ["idle", "todo"]),
        (EventFilter(project_id="api"), ["todo", "check_bad"]),
        (EventFilter(run_id="run-1"), ["n8n_fix", "check_ok"]),
        (EventFilter(correlation_id="c-1"), ["n8n_fail", "check_ok"]),
        (
            EventFilter(event_types=["production_check"], statuses=["success"], project_id="web"),
            ["check_ok"],
        ),
        (EventFilter(project_id="nobody"), []),
    ],
    ids=[
        "type",
        "several-types",
        "status",
        "several-statuses",
        "project",
        "run",
        "correlation",
        "combined",
        "no-match",
    ],
)
def test_query_filters(
    store: EventStore, mixed: dict[str, Event], where: EventFilter, expected: list[str]
) -> None:
    assert names(store.query(where).events, mixed) == expected


def test_query_since_is_inclusive_and_until_exclusive(
    store: EventStore, mixed: dict[str, Event]
) -> None:
    since = mixed["check_bad"].created_at
    until = mixed["todo"].created_at

    page = store.query(EventFilter(since=since, until=until))

    assert names(page.events, mixed) == ["n8n_fix", "n8n_fail", "check_bad"]


def test_query_since_and_until_compare_instants_across_timezones(
    store: EventStore, mixed: dict[str, Event]
) -> None:
    tokyo = timezone(timedelta(hours=9))
    since = mixed["n8n_fix"].created_at.astimezone(tokyo)

    page = store.query(EventFilter(since=since))

    assert names(page.events, mixed) == ["idle", "todo", "n8n_fix"]


@pytest.mark.parametrize("name", ["since", "until"])
def test_query_rejects_a_naive_since_or_until(store: EventStore, name: str) -> None:
    with pytest.raises(InvalidInput, match=rf"{name}: give a timezone-aware time"):
        store.query(EventFilter(**{name: datetime(2025, 1, 1)}))  # type: ignore[arg-type]


def test_query_rejects_an_unknown_status(store: EventStore) -> None:
    with pytest.raises(InvalidInput, match="status: 'done' is not one of pending, running"):
        store.query(EventFilter(statuses=["done"]))


def test_query_unresolved_leaves_out_resolved_events(
    store: EventStore, mixed: dict[str, Event]
) -> None:
    store.resolve(mixed["n8n_fail"].id or 0)
    store.resolve(mixed["check_bad"].id or 0)

    page = store.query(EventFilter(unresolved=True, statuses=["failed", "success"]))

    assert names(page.events, mixed) == ["n8n_fix", "check_ok"]


def test_query_after_id(store: EventStore, mixed: dict[str, Event]) -> None:
    page = store.query(EventFilter(after_id=mixed["n8n_fix"].id))

    assert names(page.events, mixed) == ["idle", "todo"]


# -- pagination ----------------------------------------------------------------------------


def test_cursor_pagination_walks_every_page_without_duplicates_or_gaps(
    store: EventStore, clock: FakeClock
) -> None:
    events = []
    for n in range(23):
        clock.advance(seconds=1)
        events.append(add(store, evidence={"n": n}))

    pages = []
    page = store.query(limit=5)
    pages.append(page.events)
    while page.next_cursor:
        page = store.query(limit=5, cursor=page.next_cursor)
        pages.append(page.events)

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [e.id for p in pages for e in p] == [e.id for e in reversed(events)]


def test_pagination_with_equal_timestamps_uses_the_id_as_tie_breaker(
    store: EventStore, clock: FakeClock
) -> None:
    same = datetime(2025, 2, 1, 8, 0, 0, 500000, tzinfo=UTC)
    older = [add(store, created_at=same - timedelta(seconds=1)) for _ in range(3)]
    tied = [add(store, created_at=same) for _ in range(11)]
    newer = [add(store, created_at=same + timedelta(microseconds=1)) for _ in range(2)]

    for limit in (1, 2, 3, 4, 5, 11, 16, 17):
        seen = walk(store, limit=limit)
        expected = sorted(newer, key=lambda e: -(e.id or 0))
        expected += sorted(tied, key=lambda e: -(e.id or 0))
        expected += sorted(older, key=lambda e: -(e.id or 0))
        assert ids(seen) == ids(expected), f"limit={limit}"


def test_pagination_with_a_filter(store: EventStore, clock: FakeClock) -> None:
    wanted = []
    for n in range(20):
        clock.advance(seconds=1)
        event = add(store, status="failed" if n % 3 == 0 else "success")
        if n % 3 == 0:
            wanted.append(event)

    seen = walk(store, EventFilter(statuses=["failed"]), limit=2)

    assert ids(seen) == ids(list(reversed(wanted)))


def test_events_added_while_paging_do_not_shift_the_pages(
    store: EventStore, clock: FakeClock
) -> None:
    events = []
    for _ in range(10):
        clock.advance(seconds=1)
        events.append(add(store))

    first = store.query(limit=4)
    clock.advance(seconds=1)
    add(store)  # newer than everything: belongs before page one, not in later pages
    rest = walk_from(store, first.next_cursor, limit=4)

    assert ids(first.events + rest) == ids(list(reversed(events)))


def walk_from(store: EventStore, cursor: str | None, limit: int) -> list[Event]:
    seen: list[Event] = []
    while cursor is not None:
        page = store.query(limit=limit, cursor=cursor)
        seen += page.events
        cursor = page.next_cursor
    return seen


def test_the_last_full_page_has_no_next_cursor(store: EventStore) -> None:
    for _ in range(4):
        add(store)

    page = store.query(limit=4)

    assert len(page.events) == 4
    assert page.next_cursor is None


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "",
        "!!!!",
        _b64({"created_at": "2025-01-01T00:00:00+00:00", "id": 1}),
        _b64(["2025-01-01T00:00:00", 1]),  # naive
        _b64(["2025-01-01T00:00:00+00:00", "1"]),
        _b64(["yesterday", 1]),
        _b64([1, 2, 3]),
        _b64([None, 1]),
    ],
    ids=[
        "text",
        "empty",
        "punctuation",
        "dict",
        "naive",
        "string-id",
        "bad-date",
        "triple",
        "null-date",
    ],
)
def test_a_bad_cursor_is_invalid_input(store: EventStore, cursor: str) -> None:
    add(store)
    with pytest.raises(InvalidInput, match=r"cursor: .* is not a cursor this store returned"):
        store.query(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1])
def test_the_page_size_is_bounded(store: EventStore, limit: int) -> None:
    with pytest.raises(InvalidInput, match=f"limit: must be between 1 and {MAX_PAGE_SIZE}"):
        store.query(limit=limit)


@pytest.mark.parametrize("limit", [1, MAX_PAGE_SIZE])
def test_the_page_size_bounds_are_allowed(store: EventStore, limit: int) -> None:
    add(store)
    assert len(store.query(limit=limit).events) == 1


# -- timeline, correlation, resolution -----------------------------------------------------


def test_timeline_covers_the_last_n_hours_oldest_first(store: EventStore, clock: FakeClock) -> None:
    now = clock.now
    at = {hours: now - timedelta(hours=hours) for hours in (30, 23.5, 5, 1, 0)}
    events = {hours: add(store, created_at=moment) for hours, moment in at.items()}
    add(store, project_id="other", created_at=now - timedelta(hours=1))

    assert ids(store.timeline("web", hours=24)) == [events[h].id for h in (23.5, 5, 1, 0)]
    assert ids(store.timeline("web", hours=2)) == [events[h].id for h in (1, 0)]
    assert store.timeline("nobody", hours=24) == []

    clock.advance(hours=10)
    assert ids(store.timeline("web", hours=24)) == [events[h].id for h in (5, 1, 0)]


@pytest.mark.parametrize("hours", [0, -1])
def test_timeline_needs_positive_hours(store: EventStore, hours: float) -> None:
    with pytest.raises(InvalidInput, match="hours: must be positive"):
        store.timeline("web", hours=hours)


@pytest.fixture
def story(store: EventStore, clock: FakeClock) -> dict[str, Event]:
    """A run with a child event, a correlated event in another run, and noise."""
    events: dict[str, Event] = {}

    def step(name: str, **fields: Any) -> None:
        clock.advance(seconds=1)
        events[name] = add(store, **fields)

    step("start", run_id="run-1")
    step("noise", run_id="run-9", correlation_id="c-9")
    step("probe", run_id="run-1", correlation_id="c-1")
    step("child", parent_id=events["start"].id)
    step("other_run", run_id="run-2", correlation_id="c-1")
    step("end", run_id="run-1")
    return events


def test_correlate_by_run_id_in_order(store: EventStore, story: dict[str, Event]) -> None:
    assert names(store.correlate(run_id="run-1"), story) == ["start", "probe", "end"]


def test_correlate_by_correlation_id_in_order(store: EventStore, story: dict[str, Event]) -> None:
    assert names(store.correlate(correlation_id="c-1"), story) == ["probe", "other_run"]


def test_correlate_by_event_id_follows_its_run_correlation_and_children(
    store: EventStore, story: dict[str, Event]
) -> None:
    by_start = store.correlate(event_id=story["start"].id)
    by_probe = store.correlate(event_id=story["probe"].id)

    assert names(by_start, story) == ["start", "probe", "child", "end"]
    assert names(by_probe, story) == ["start", "probe", "other_run", "end"]


def test_correlate_orders_by_time_not_by_id(store: EventStore, clock: FakeClock) -> None:
    late = add(store, run_id="r", created_at=clock.now)
    early = add(store, run_id="r", created_at=clock.now - timedelta(minutes=1))

    assert ids(store.correlate(run_id="r")) == [early.id, late.id]


def test_correlate_needs_something_to_correlate(store: EventStore) -> None:
    with pytest.raises(InvalidInput, match="give an event id, a run id or a correlation id"):
        store.correlate()


def test_correlate_with_a_missing_event_id_raises_not_found(store: EventStore) -> None:
    with pytest.raises(NotFound):
        store.correlate(event_id=12345)


def test_resolve_sets_resolved_at_from_the_clock(store: EventStore, clock: FakeClock) -> None:
    event = add(store)
    clock.advance(minutes=3)

    resolved = store.resolve(event.id or 0)

    assert resolved.resolved_at == START + timedelta(minutes=3)
    assert store.get(event.id or 0).resolved_at == resolved.resolved_at


def test_resolve_is_idempotent_and_keeps_the_first_resolution(store: EventStore) -> None:
    event = add(store)
    first = datetime(2025, 3, 2, 8, 0, tzinfo=UTC)

    store.resolve(event.id or 0, at=first)
    again = store.resolve(event.id or 0, at=first + timedelta(hours=1))

    assert again.resolved_at == first
    assert store.get(event.id or 0).resolved_at == first


def test_resolve_only_touches_the_given_event(store: EventStore) -> None:
    event, other = add(store), add(store)

    store.resolve(event.id or 0)

    assert store.get(other.id or 0).resolved_at is None


def test_resolve_of_a_missing_event_raises_not_found(store: EventStore) -> None:
    with pytest.raises(NotFound, match="no event with id 404"):
        store.resolve(404)


# -- evidence ------------------------------------------------------------------------------


def test_unserialisable_evidence_is_rejected_naming_its_path(store: EventStore) -> None:
    with pytest.raises(InvalidInput) as caught:
        add(store, evidence={"checks": [{"ok": True}, {"probe": object()}]})

    assert "event.evidence.checks[1].probe: a object is not JSON-serialisable" in str(caught.value)
    assert store.last_id() == 0


def test_unserialisable_metadata_is_rejected_naming_its_path(store: EventStore) -> None:
    with pytest.raises(InvalidInput, match=r"event\.metadata\.tags\[0\]: a set"):
        add(store, metadata={"tags": [{"a"}]})


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(store: EventStore, number: float) -> None:
    with pytest.raises(InvalidInput, match=r"event\.evidence\.latency: .* is not valid JSON"):
        add(store, evidence={"latency": number})
    assert store.last_id() == 0


def test_rich_python_values_become_json(store: EventStore) -> None:
    class Colour(Enum):
        RED = "red"

    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = add(
        store,
        evidence={
            "when": when,
            "day": when.date(),
            "id": UUID(int=1),
            "path": PurePosixPath("/srv/app"),
            "colour": Colour.RED,
            "pair": (1, 2),
            "keys": {3: "int key", True: "bool key"},
        },
    )

    assert store.get(event.id or 0).evidence == {
        "when": "2025-01-02T03:04:05+00:00",
        "day": "2025-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "path": "/srv/app",
        "colour": "red",
        "pair": [1, 2],
        "keys": {"3": "int key", "true": "bool key"},
    }


def test_oversized_strings_are_cut_with_a_marker(database: Database) -> None:
    store = EventStore(database, limits=EventLimits(string_max_chars=100))

    event = add(store, evidence={"log": "x" * 250, "short": "ok"}, metadata={"m": ["y" * 101]})

    stored = store.get(event.id or 0)
    assert stored.evidence == {"log": "x" * 100 + "…[truncated 150 chars]", "short": "ok"}
    assert stored.metadata == {"m": ["y" * 100 + "…[truncated 1 chars]"]}


def test_an_oversized_document_is_replaced_not_rejected(database: Database) -> None:
    store = EventStore(database, limits=EventLimits(evidence_max_bytes=2048))
    big = {f"key{n}": "value" * 10 for n in range(200)}

    event = add(store, evidence=big)

    stored = store.get(event.id or 0).evidence
    assert stored[TRUNCATED_KEY] is True
    assert stored["original_bytes"] > 2048
    assert stored["snippet"].startswith('{"key0":"valuevalue')
    assert len(json.dumps(stored).encode()) <= 2048


def test_a_replaced_document_stays_under_the_cap_even_when_quote_heavy(
    database: Database,
) -> None:
    # Every character of the snippet needs escaping when it is stored as a JSON string.
    store = EventStore(database, limits=EventLimits(evidence_max_bytes=1024))
    big = {"quotes": ['"\\' * 5] * 400}

    event = add(store, evidence=big)

    stored = store.get(event.id or 0).evidence
    assert stored[TRUNCATED_KEY] is True
    assert stored["snippet"]
    assert len(json.dumps(stored, separators=(",", ":")).encode()) <= 1024


def test_nul_characters_are_replaced_not_an_error(store: EventStore) -> None:
    # PostgreSQL refuses NUL in text and JSONB columns; tool output can contain it.
    event = add(
        store,
        evidence={"out": "a\x00b", "a\x00b": 1, "nested": ["\x00", {"k\x00": "v"}]},
        detected_from="probe\x00",
    )

    stored = store.get(event.id or 0)
    assert stored.evidence == {
        "out": "a\ufffdb",
        "a\ufffdb": 1,
        "nested": ["\ufffd", {"k\ufffd": "v"}],
    }
    assert stored.detected_from == "probe\ufffd"


def test_lone_surrogates_inside_evidence_are_replaced_not_an_error(store: EventStore) -> None:
    # What surrogateescape-decoded tool output and file names contain; not UTF-8.
    event = add(
        store,
        evidence={"out": {"stderr": "bad \udcff byte", "b\udcffad": [PurePosixPath("/x/\udce9")]}},
        metadata={"m": ["\ud800"]},
    )

    stored = store.get(event.id or 0)
    assert stored.evidence == {"out": {"stderr": "bad \ufffd byte", "b\ufffdad": ["/x/\ufffd"]}}
    assert stored.metadata == {"m": ["\ufffd"]}


def test_lone_surrogates_at_the_top_level_are_replaced_like_nested_ones(
    store: EventStore,
) -> None:
    event = add(store, evidence={"k\udcff": 1}, detected_from="x\udcff")

    stored = store.get(event.id or 0)
    assert stored.evidence == {"k\ufffd": 1}
    assert stored.detected_from == "x\ufffd"


def test_json_columns_round_trip_nested_data(store: EventStore) -> None:
    nested = {
        "checks": [
            {"name": "tests", "ok": True, "score": 0.97, "count": 1200, "none": None},
            {"name": "lint", "ok": False, "details": {"errors": [1, 2, [3, {"deep": "é✓"}]]}},
        ],
        "empty": {},
        "list": [],
        "big": 2**53 + 1,
        "negative": -17,
        "unicode": "naïve 日本 🚀",
    }

    event = add(store, evidence=nested, metadata={"outer": {"inner": nested}})

    stored = store.get(event.id or 0)
    assert stored.evidence == nested
    assert stored.metadata == {"outer": {"inner": nested}}


def test_json_columns_are_jsonb_on_postgresql_and_valid_json_on_sqlite(
    store: EventStore, database: Database, raw: RawQuery
) -> None:
    add(store, evidence={"a": [1, {"b": "c"}]}, metadata={"k": "v"})

    if database.dialect == "postgresql":
        rows = raw(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'automation_events' AND column_name IN ('evidence', 'metadata')"
        )
        assert {row["data_type"] for row in rows} == {"jsonb"}
        assert len(rows) == 2
        nested = raw("SELECT evidence -> 'a' -> 1 ->> 'b' AS b FROM automation_events")
    else:
        assert database.dialect == "sqlite"
        valid = raw(
            "SELECT json_valid(evidence) AS e, json_valid(metadata) AS m FROM automation_events"
        )
        assert valid == [{"e": 1, "m": 1}]
        nested = raw("SELECT json_extract(evidence, '$.a[1].b') AS b FROM automation_events")
    assert nested == [{"b": "c"}]


def test_detected_from_that_grows_when_redacted_still_fits_its_column(
    database: Database, raw: RawQuery
) -> None:
    # Redaction lengthens text ("password=x" -> "password=[REDACTED]"); the column holds 256.
    store = EventStore(database)
    detected_from = ("password=x " * 24)[:256]

    event = add(store, detected_from=detected_from)

    stored = raw("SELECT detected_from FROM automation_events WHERE id = :id", id=event.id)
    text = stored[0]["detected_from"]
    assert len(text) <= 256
    assert text.startswith("password=[REDACTED] password=[REDACTED]")
    assert "password=x" not in text


def test_the_redactor_in_use_is_the_stores(database: Database) -> None:
    store = EventStore(database, Redactor(["k3yvalue"]))
    event = add(store, evidence={"note": "uses k3yvalue"})
    assert store.get(event.id or 0).evidence == {"note": "uses [REDACTED]"}


def _json(value: Any) -> Any:
    """A JSON column as read by a raw select (text on SQLite, decoded on PostgreSQL)."""
    return json.loads(value) if isinstance(value, str) else value


def test_the_light_row_module_knows_the_event_columns_and_fields() -> None:
    """event_rows hard-codes what the table and NewEvent define (it must not import them)."""
    from autohub.store.event_rows import EVENT_COLUMNS, EVENT_FIELDS
    from autohub.store.events import NewEvent
    from autohub.store.schema import automation_events

    assert tuple(c.name for c in automation_events.c if c.name != "id") == EVENT_COLUMNS
    assert set(NewEvent.model_fields) == set(EVENT_FIELDS)
