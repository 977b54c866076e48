#!/usr/bin/env python3
"""Event store benchmark: batched ingestion and the "recent events" queries.

For each database (SQLite, PostgreSQL) it creates two fresh, migrated databases:

* ``autohub``: rows go through ``EventStore.add_many`` (validation, redaction, size
  caps, SQLAlchemy);
* ``raw``: the same rows, serialised by hand and inserted with the bare driver
  (``sqlite3`` / ``psycopg`` ``executemany``, ``ON CONFLICT DO NOTHING``, one
  transaction per batch), the peer baseline that shows autohub's overhead.

Batches alternate between the two, so both see the same machine noise. Then, on
the autohub database at the full row count, it times ``EventStore.query`` for the
newest 50 events of a random project (also with an event-type filter, and the next
page through the cursor), each next to the very same SQL replayed on the bare driver.

It prints a table of medians and PASS/FAIL against the targets, and exits 0
whatever the figures: it is a report, not a test.

    python benchmarks/events.py                          # 1,000,000 rows, both databases
    python benchmarks/events.py --rows 20000 --database sqlite
    python benchmarks/events.py --postgres-url postgresql+psycopg://u:p@host/db
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa
from _common import (
    command_line,
    fmt_bytes,
    fmt_int,
    fmt_ms,
    hide_password,
    load_average,
    machine_summary,
    median,
    percentile,
    progress,
    render_table,
    scratch_dir,
    scratch_postgres_database,
)
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from autohub.ids import new_id
from autohub.redact import Redactor
from autohub.store import migrations
from autohub.store.database import Database
from autohub.store.event_rows import sqlite_time
from autohub.store.events import EVENT_COLUMNS, EventFilter, EventStore
from autohub.store.evidence import compact_json

# The targets of the issue (2-core machine).
TARGET_RATE = {"sqlite": 20_000, "postgresql": 5_000}
"""Events per second through ``EventStore.add_many``, median per batch."""
TARGET_QUERY_MS = 5.0
"""Median time of the recent-50-of-one-project query..."""
TARGET_QUERY_ROWS = 1_000_000
"""...at this many rows."""

DATABASES = ("sqlite", "postgresql")
PG_DATABASE = f"autohub_bench_{os.getpid()}"
"""Per process, so that concurrent runs on a shared server do not drop each other's data."""
PG_RAW_DATABASE = f"{PG_DATABASE}_raw"
POSTGRES_URL_ENV = "AUTOHUB_TEST_POSTGRES_URL"

PROJECTS = 100
DAYS = 30
PAGE = 50
WARMUP_QUERIES = 50
REDACTION_CHECK_BATCHES = 3
"""The first batches are checked to come out of redaction unchanged (see EventFactory)."""


def _raw_rows(
    events: Sequence[Event], time_value: Callable[[datetime], Any]
) -> list[tuple[Any, ...]]:
    """The rows of ``events`` for the bare driver, as autohub stores them: its JSON text
    (``evidence.compact_json``), its time-ordered uids (the same index growth), and the
    time in the form ``time_value`` gives."""
    return [
        (
            new_id(),
            e["event_type"],
            e["project_id"],
            e["status"],
            compact_json(e["evidence"]),
            e["detected_from"],
            compact_json(e["metadata"]),
            time_value(e["created_at"]),
            None,
            e["run_id"],
            e["correlation_id"],
            None,
        )
        for e in events
    ]


# -- the events ------------------------------------------------------------------------

Event = dict[str, Any]
Builder = Callable[[random.Random, str], dict[str, Any]]

_REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2")
_ERRORS = (
    "connect ECONNREFUSED 10.0.3.17:5432",
    "Request failed with status code 502",
    "Timeout awaiting 'request' for 30000ms",
    "Unexpected token < in JSON at position 0",
    "getaddrinfo ENOTFOUND api.partner.example",
)


def _http_check(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "check": "http",
        "target": {"url": f"https://{project}.example.com/healthz", "method": "GET"},
        "response": {
            "status_code": r.choice((200, 200, 200, 200, 301, 503)),
            "latency_ms": round(r.uniform(15, 900), 1),
            "bytes": r.randint(120, 9000),
        },
        "attempt": r.randint(1, 3),
        "region": r.choice(_REGIONS),
    }


def _deploy(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "service": f"{project}-api",
        "version": f"1.{r.randint(0, 40)}.{r.randint(0, 20)}",
        "commit": f"{r.getrandbits(160):040x}",
        "environment": r.choice(("production", "staging")),
        "steps": {
            "build_s": round(r.uniform(30, 400), 1),
            "migrate_s": round(r.uniform(0, 60), 1),
            "rollout_s": round(r.uniform(10, 200), 1),
        },
        "replicas": r.randint(1, 12),
    }


def _backup(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "database": r.choice(("orders", "users", "billing", "inventory")),
        "bytes": r.randint(10**6, 10**10),
        "duration_s": round(r.uniform(5, 1800), 1),
        "destination": {
            "bucket": "backups-eu-west",
            "object": f"{project}/daily/dump-{r.randint(1, 99999):05d}.sql.gz",
        },
        "sha256": f"{r.getrandbits(256):064x}",
    }


def _n8n_failure(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "workflow": {"id": r.randint(1, 400), "name": f"{project} sync contacts to CRM"},
        "execution_id": r.randint(10**5, 10**7),
        "node": r.choice(("HTTP Request", "Postgres", "Code", "Google Sheets", "Slack")),
        "error": {"message": r.choice(_ERRORS), "http_code": r.choice((None, 500, 502, 504))},
        "retry_of": r.choice((None, r.randint(10**5, 10**7))),
        "mode": r.choice(("trigger", "webhook", "retry")),
    }


def _cron_run(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "job": r.choice(("nightly-report", "cleanup-tmp", "sync-invoices", "rotate-logs")),
        "schedule": r.choice(("*/15 * * * *", "0 2 * * *", "30 * * * *")),
        "host": f"{project}-worker-{r.randint(1, 4)}",
        "exit_code": r.choice((0, 0, 0, 0, 1, 2)),
        "duration_s": round(r.uniform(0.2, 600), 2),
        "output": {"lines": r.randint(0, 4000), "last": "done: 1432 rows processed, 0 errors"},
    }


def _certificate(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "host": f"{project}.example.com",
        "port": 443,
        "issuer": r.choice(("Let's Encrypt R11", "Let's Encrypt E6", "Sectigo RSA DV")),
        "not_after": f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T12:00:00Z",
        "days_left": r.randint(1, 89),
        "chain": {"valid": r.random() > 0.02, "depth": 3, "sans": r.randint(1, 8)},
    }


def _gate(r: random.Random, project: str) -> dict[str, Any]:
    failed = r.choice((0, 0, 0, 1, 2))
    return {
        "gate": r.choice(("pre-deploy", "pre-merge", "release")),
        "decision": "block" if failed else "allow",
        "rules": {"evaluated": r.randint(5, 30), "failed": failed},
        "reasons": ["coverage below 80%", "open sev-2 incident"][:failed],
        "actor": f"dev{r.randint(1, 60)}@{project}.example.com",
        "change": f"PR-{r.randint(100, 9999)}",
    }


def _sync(r: random.Random, project: str) -> dict[str, Any]:
    read = r.randint(0, 50_000)
    return {
        "source": r.choice(("crm", "erp", "shop")),
        "target": "warehouse",
        "records": {"read": read, "written": read - r.randint(0, min(read, 50)), "failed": 0},
        "watermark": f"2026-05-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:00:00Z",
        "duration_s": round(r.uniform(1, 900), 1),
        "project_schema": project.replace("-", "_"),
    }


def _alert(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "alert": r.choice(("HighErrorRate", "DiskAlmostFull", "HighLatencyP99", "PodRestarts")),
        "severity": r.choice(("info", "warning", "critical")),
        "value": round(r.uniform(0, 100), 2),
        "threshold": 80,
        "labels": {"service": f"{project}-api", "instance": f"10.0.{r.randint(0, 255)}.7:9100"},
        "runbook": "https://wiki.example.com/runbooks/high-error-rate",
    }


def _queue(r: random.Random, project: str) -> dict[str, Any]:
    return {
        "queue": f"{project}.{r.choice(('emails', 'webhooks', 'exports'))}",
        "depth": r.randint(0, 20_000),
        "oldest_age_s": round(r.uniform(0, 3600), 1),
        "consumers": r.randint(0, 8),
        "broker": {"host": "rabbitmq-1.internal", "vhost": "/", "cluster": "main"},
    }


BUILDERS: dict[str, Builder] = {
    "production_check": _http_check,
    "deploy.finished": _deploy,
    "backup.completed": _backup,
    "n8n.failure_detected": _n8n_failure,
    "cron.run": _cron_run,
    "certificate.checked": _certificate,
    "gate.decision": _gate,
    "sync.completed": _sync,
    "alert.raised": _alert,
    "queue.depth": _queue,
}
EVENT_TYPES = tuple(BUILDERS)
STATUSES = ("success", "failed", "warning", "skipped", "pending_review", "running")
STATUS_WEIGHTS = (80, 8, 6, 3, 2, 1)
SOURCES = ("gate", "scheduler", "webhook", "n8n", "cli")


class EventFactory:
    """Deterministic, realistic events with timestamps over the last ``DAYS`` days.

    Event ``k`` of ``rows`` is placed at ``k/rows`` of the way through the window, with a
    few minutes of jitter: events arrive roughly in time order, as in a live system.
    Evidence and metadata are small (a few keys, one nested dict, ~200-400 bytes) and
    contain nothing secret-looking, so redaction leaves them unchanged and the raw
    baseline, which does not redact, stores exactly the same text.
    """

    def __init__(self, seed: int, rows: int) -> None:
        self.random = random.Random(seed)
        self.rows = rows
        self.projects = [f"proj-{index}" for index in range(PROJECTS)]
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=DAYS)
        self._span = (self.now - self.start).total_seconds()
        self._run_id = ""
        self._run_left = 0

    def batch(self, first: int, count: int) -> list[Event]:
        return [self.event(first + offset) for offset in range(count)]

    def event(self, index: int) -> Event:
        r = self.random
        project = r.choice(self.projects)
        event_type = r.choice(EVENT_TYPES)
        if self._run_left == 0:  # runs of 1-8 consecutive events share a run id
            self._run_id, self._run_left = f"{r.getrandbits(128):032x}", r.randint(1, 8)
        self._run_left -= 1
        offset = self._span * (index + r.random()) / self.rows + r.uniform(-300, 300)
        offset = min(max(offset, 0.0), self._span - 0.001)
        status = r.choices(STATUSES, STATUS_WEIGHTS)[0]
        evidence = BUILDERS[event_type](r, project)
        evidence["summary"] = (
            f"{event_type} for {project}: {status} after {r.randint(1, 3)} attempt(s) "
            f"on runner autohub-{r.randint(1, 3)}"
        )
        return {
            "event_type": event_type,
            "project_id": project,
            "status": status,
            "evidence": evidence,
            "metadata": {
                "source": r.choice(SOURCES),
                "host": f"autohub-{r.randint(1, 3)}",
                "autohub_version": "0.1.0",
            },
            "run_id": self._run_id,
            "correlation_id": f"corr-{r.getrandbits(48):012x}" if r.random() < 0.2 else None,
            "detected_from": r.choice(SOURCES),
            "created_at": self.start + timedelta(seconds=offset),
        }

    @staticmethod
    def check_redaction_neutral(events: Sequence[Event], redactor: Redactor) -> None:
        for event in events:
            for name in ("evidence", "metadata"):
                if redactor.value(event[name]) != event[name]:
                    raise AssertionError(f"redaction changes {name} {event[name]!r}")


def evidence_sizes(seed: int, sample: int = 2000) -> list[int]:
    factory = EventFactory(seed, sample)
    return [len(compact_json(e["evidence"]).encode()) for e in factory.batch(0, sample)]


def fake_secrets(seed: int) -> list[str]:
    """Known secret values, as a deployment's secrets file would give the redactor."""
    r = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return ["".join(r.choices(alphabet, k=r.randint(20, 40))) for _ in range(8)]


# -- the raw driver baseline -----------------------------------------------------------


class RawWriter(Protocol):
    def insert(self, events: Sequence[Event]) -> None: ...

    def close(self) -> None: ...


class RawReader(Protocol):
    def run(self, statement: str, parameters: Any) -> int: ...

    def explain(self, statement: str, parameters: Any) -> list[str]: ...

    def prepare(self) -> None: ...

    def table_size(self) -> int: ...

    def close(self) -> None: ...


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_connect(url: str) -> sqlite3.Connection:
    # The connection settings of SQLiteDatabase (store/database.py).
    connection = sqlite3.connect(_sqlite_path(url), isolation_level=None, timeout=30)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=30000",
        "wal_autocheckpoint=10000",
        "cache_size=-65536",
        "foreign_keys=ON",
    ):
        connection.execute(f"PRAGMA {pragma}")
    return connection


class SQLiteRawWriter:
    def __init__(self, url: str) -> None:
        self.connection = _sqlite_connect(url)
        self.sql = (
            f"INSERT INTO automation_events ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
        )

    def insert(self, events: Sequence[Event]) -> None:
        rows = _raw_rows(events, sqlite_time)  # SQLAlchemy's SQLite DATETIME text, in UTC
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(self.sql, rows)
        self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


class SQLiteRawReader:
    def __init__(self, url: str) -> None:
        self.path = _sqlite_path(url)
        self.connection = _sqlite_connect(url)

    def run(self, statement: str, parameters: Any) -> int:
        return len(self.connection.execute(statement, parameters).fetchall())

    def explain(self, statement: str, parameters: Any) -> list[str]:
        rows = self.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [str(row[3]) for row in rows]

    def prepare(self) -> None:
        """Nothing: autohub never runs ANALYZE on SQLite, so neither do we."""

    def table_size(self) -> int:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())

    def close(self) -> None:
        self.connection.close()


def _psycopg_connect(url: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    parsed = make_url(url)
    options = {key: value for key, value in parsed.query.items() if isinstance(value, str)}
    conninfo = make_conninfo(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        **options,
    )
    return psycopg.connect(conninfo, autocommit=autocommit)


class PostgresRawWriter:
    def __init__(self, url: str) -> None:
        self.connection = _psycopg_connect(url, autocommit=False)
        self.sql = (
            f"INSERT INTO automation_events ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('%s' for _ in EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
        )

    def insert(self, events: Sequence[Event]) -> None:
        rows = _raw_rows(events, lambda moment: moment)  # JSON text: the server casts it
        with self.connection.cursor() as cursor:
            cursor.executemany(self.sql, rows)
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


class PostgresRawReader:
    def __init__(self, url: str) -> None:
        self.connection = _psycopg_connect(url, autocommit=True)

    def run(self, statement: str, parameters: Any) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return len(cursor.fetchall())

    def explain(self, statement: str, parameters: Any) -> list[str]:
        with psycopg.ClientCursor(self.connection) as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters)
            return [str(row[0]) for row in cursor.fetchall()]

    def prepare(self) -> None:
        """ANALYZE, as autovacuum would have done on a table that grew to this size."""
        self.connection.execute("ANALYZE automation_events")

    def table_size(self) -> int:
        row = self.connection.execute(
            "SELECT pg_total_relation_size('automation_events')"
        ).fetchone()
        return int(row[0]) if row else 0

    def settings(self) -> str:
        names = ("server_version", "shared_buffers", "fsync", "synchronous_commit")
        values = [self.connection.execute(f"SHOW {name}").fetchone() for name in names]
        return ", ".join(f"{n}={v[0] if v else '?'}" for n, v in zip(names, values, strict=True))

    def close(self) -> None:
        self.connection.close()


def raw_writer(kind: str, url: str) -> RawWriter:
    return SQLiteRawWriter(url) if kind == "sqlite" else PostgresRawWriter(url)


def raw_reader(kind: str, url: str) -> RawReader:
    return SQLiteRawReader(url) if kind == "sqlite" else PostgresRawReader(url)


# -- measuring -------------------------------------------------------------------------


@dataclass
class Options:
    rows: int
    batch: int
    databases: tuple[str, ...]
    postgres_url: str | None
    repeat: int
    queries: int
    seed: int
    profile: Path | None


@dataclass
class Ingest:
    """Seconds per batch (and batch sizes) for both paths."""

    sizes: list[int] = field(default_factory=list)
    autohub: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    @staticmethod
    def _rates(sizes: Sequence[int], seconds: Sequence[float]) -> list[float]:
        return [n / s for n, s in zip(sizes, seconds, strict=True)]

    def seconds(self, path: str) -> list[float]:
        return self.autohub if path == "autohub" else self.raw

    def median_rate(self, path: str, part: slice = slice(None)) -> float:
        return median(self._rates(self.sizes[part], self.seconds(path)[part]))

    def overall_rate(self, path: str) -> float:
        return sum(self.sizes) / sum(self.seconds(path))

    def tenth_rate(self, path: str, *, last: bool) -> float:
        """Median per-batch rate over the first (or last) tenth of the batches."""
        tenth = max(1, len(self.sizes) // 10)
        return self.median_rate(path, slice(-tenth, None) if last else slice(0, tenth))


@dataclass
class Queries:
    """Seconds per query for both paths."""

    autohub: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)


@dataclass
class Run:
    ingest: Ingest
    queries: dict[str, Queries]
    size: int
    check: str
    settings: str = ""


@contextmanager
def databases(kind: str, options: Options) -> Iterator[tuple[str, str]]:
    """URLs of two fresh, empty databases (autohub, raw), removed on exit."""
    if kind == "sqlite":
        with scratch_dir("autohub-bench-") as directory:
            yield f"sqlite:///{directory}/autohub.db", f"sqlite:///{directory}/raw.db"
        return
    assert options.postgres_url is not None
    with (
        scratch_postgres_database(options.postgres_url, PG_DATABASE) as autohub_url,
        scratch_postgres_database(options.postgres_url, PG_RAW_DATABASE) as raw_url,
    ):
        yield autohub_url, raw_url


@contextmanager
def profiled(profiler: cProfile.Profile | None) -> Iterator[None]:
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def ingest(
    label: str,
    store: EventStore,
    writer: RawWriter,
    options: Options,
    profiler: cProfile.Profile | None,
) -> Ingest:
    factory = EventFactory(options.seed, options.rows)
    result = Ingest()
    batches = (options.rows + options.batch - 1) // options.batch
    report_every = max(1, batches // 10)
    clock = time.perf_counter
    for index, first in enumerate(range(0, options.rows, options.batch)):
        events = factory.batch(first, min(options.batch, options.rows - first))
        if index < REDACTION_CHECK_BATCHES:
            factory.check_redaction_neutral(events, store.redactor)
        for path in ("autohub", "raw") if index % 2 == 0 else ("raw", "autohub"):
            if path == "autohub":
                with profiled(profiler):
                    started = clock()
                    stored = store.add_many(events)
                    result.autohub.append(clock() - started)
                if stored.count != len(events) or stored.spooled:
                    raise AssertionError(f"add_many stored {stored}, expected {len(events)}")
            else:
                started = clock()
                writer.insert(events)
                result.raw.append(clock() - started)
        result.sizes.append(len(events))
        if (index + 1) % report_every == 0 or index + 1 == batches:
            window = slice(-report_every, None)
            progress(
                f"{label}: {fmt_int(sum(result.sizes))} rows; last {report_every} batches: "
                f"autohub {fmt_int(result.median_rate('autohub', window))}/s, "
                f"raw {fmt_int(result.median_rate('raw', window))}/s"
            )
    return result


@dataclass(frozen=True)
class QueryCase:
    name: str
    by_type: bool = False
    next_page: bool = False


QUERY_CASES = (
    QueryCase("recent 50 of a project"),
    QueryCase("recent 50 of a project + type", by_type=True),
    QueryCase("next 50 (cursor)", next_page=True),
)


@contextmanager
def capturing(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The (SQL, parameters) of each SELECT on events the engine sends to its driver."""
    captured: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "automation_events" in statement:
            captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield captured
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def measure_queries(
    store: EventStore, reader: RawReader, options: Options, profiler: cProfile.Profile | None
) -> dict[str, Queries]:
    r = random.Random(options.seed + 1)
    projects = [f"proj-{index}" for index in range(PROJECTS)]
    for _ in range(WARMUP_QUERIES):
        store.query(EventFilter(project_id=r.choice(projects)), limit=PAGE)
    results: dict[str, Queries] = {}
    for case in QUERY_CASES:
        calls: list[tuple[EventFilter, str | None]] = []
        for _ in range(options.queries):
            types = (r.choice(EVENT_TYPES),) if case.by_type else ()
            where = EventFilter(project_id=r.choice(projects), event_types=types)
            cursor = store.query(where, limit=PAGE).next_cursor if case.next_page else None
            calls.append((where, cursor))
        # One untimed pass records the exact SQL autohub sends, to replay it on the driver.
        with capturing(store.database.engine) as captured:
            for where, cursor in calls:
                store.query(where, limit=PAGE, cursor=cursor)
        if len(captured) != len(calls):
            raise AssertionError(f"captured {len(captured)} statements for {len(calls)} queries")
        result = results[case.name] = Queries(plan=reader.explain(*captured[0]))
        clock = time.perf_counter
        for (where, cursor), (statement, parameters) in zip(calls, captured, strict=True):
            with profiled(profiler):
                started = clock()
                page = store.query(where, limit=PAGE, cursor=cursor)
                result.autohub.append(clock() - started)
            started = clock()
            rows = reader.run(statement, parameters)
            result.raw.append(clock() - started)
            if rows != len(page.events) + (1 if page.next_cursor else 0):
                raise AssertionError(f"raw replay returned {rows} rows, autohub {page}")
        progress(
            f"{case.name}: autohub {fmt_ms(median(result.autohub))} ms, "
            f"raw {fmt_ms(median(result.raw))} ms (median of {options.queries})"
        )
    return results


def compare_databases(autohub_url: str, raw_url: str) -> str:
    """Check the raw baseline stored the same events: same page through EventStore."""

    def page(url: str) -> list[tuple[Any, ...]]:
        database = Database.create(url)
        try:
            events = EventStore(database).query(EventFilter(project_id="proj-7"), limit=PAGE)
        finally:
            database.dispose()
        return [
            (e.created_at, e.event_type, e.status, e.evidence, e.metadata, e.run_id)
            for e in events.events
        ]

    same = page(autohub_url) == page(raw_url)
    return "same events in both databases" if same else "MISMATCH between autohub and raw rows"


def run_once(kind: str, options: Options, repeat: int) -> Run:
    label = f"{kind}" + (f" #{repeat + 1}" if options.repeat > 1 else "")
    profilers = {"ingest": cProfile.Profile(), "query": cProfile.Profile()}
    with databases(kind, options) as (autohub_url, raw_url):
        progress(f"{label}: creating {hide_password(autohub_url)} and {hide_password(raw_url)}")
        database = Database.create(autohub_url)
        store = EventStore(database, Redactor(fake_secrets(options.seed)))
        peer = Database.create(raw_url)
        try:
            migrations.upgrade(database)
            migrations.upgrade(peer)
            peer.dispose()
            writer = raw_writer(kind, raw_url)
            try:
                result = ingest(
                    label, store, writer, options, profilers["ingest"] if options.profile else None
                )
            finally:
                writer.close()
            reader = raw_reader(kind, autohub_url)
            try:
                reader.prepare()
                queries = measure_queries(
                    store, reader, options, profilers["query"] if options.profile else None
                )
                size = reader.table_size()
                settings = reader.settings() if isinstance(reader, PostgresRawReader) else ""
            finally:
                reader.close()
        finally:
            database.dispose()
            peer.dispose()
        check = compare_databases(autohub_url, raw_url)
    if options.profile is not None:
        for name, profiler in profilers.items():
            path = options.profile / f"events-{kind}-{name}-{repeat + 1}.prof"
            dump_profile(profiler, path)
    return Run(result, queries, size, check, settings)


def dump_profile(profiler: cProfile.Profile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(path)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    print(text.getvalue(), file=sys.stderr)
    progress(f"profile of autohub's calls written to {path} (top 25 by own time above)")


# -- the report ------------------------------------------------------------------------


def _mid(values: Sequence[float]) -> float:
    """The median over repeats."""
    return median([v for v in values if not math.isnan(v)])


def report(options: Options, runs: dict[str, list[Run]], skipped: dict[str, str]) -> str:
    out: list[str] = []
    ingest_rows: list[list[str]] = []
    query_rows: list[list[str]] = []
    verdicts: list[list[str]] = []
    indicative = options.rows < TARGET_QUERY_ROWS
    for kind in options.databases:
        if kind in skipped:
            ingest_rows.append([kind, "skipped", "", "", "", "", "", "", ""])
            verdicts.append([f"{kind}: skipped", "", skipped[kind]])
            continue
        kind_runs = runs[kind]
        ingests = [run.ingest for run in kind_runs]
        a_med = _mid([i.median_rate("autohub") for i in ingests])
        r_med = _mid([i.median_rate("raw") for i in ingests])
        ingest_rows.append(
            [
                kind,
                fmt_int(a_med),
                fmt_int(_mid([i.overall_rate("autohub") for i in ingests])),
                fmt_int(_mid([i.tenth_rate("autohub", last=False) for i in ingests])),
                fmt_int(_mid([i.tenth_rate("autohub", last=True) for i in ingests])),
                fmt_int(r_med),
                fmt_int(_mid([i.overall_rate("raw") for i in ingests])),
                f"{a_med / r_med:.2f}",
                fmt_bytes(_mid([run.size for run in kind_runs])),
            ]
        )
        target = TARGET_RATE[kind]
        verdicts.append(
            [
                f"{kind}: add_many >= {target:,} events/s (median per batch)",
                f"{fmt_int(a_med)}/s",
                "PASS" if a_med >= target else "FAIL",
            ]
        )
        for case in QUERY_CASES:
            qs = [run.queries[case.name] for run in kind_runs]
            a_ms = _mid([median(q.autohub) for q in qs])
            r_ms = _mid([median(q.raw) for q in qs])
            query_rows.append(
                [
                    kind,
                    case.name,
                    fmt_ms(a_ms),
                    fmt_ms(_mid([percentile(q.autohub, 95) for q in qs])),
                    fmt_ms(r_ms),
                    fmt_ms(_mid([percentile(q.raw, 95) for q in qs])),
                    f"{a_ms / r_ms:.1f}",
                ]
            )
            if case is QUERY_CASES[0]:
                verdict = "PASS" if a_ms * 1000 < TARGET_QUERY_MS else "FAIL"
                verdicts.append(
                    [
                        f"{kind}: {case.name} < {TARGET_QUERY_MS:g} ms (median) "
                        f"at {TARGET_QUERY_ROWS:,} rows",
                        f"{fmt_ms(a_ms)} ms",
                        verdict + (f" (at {options.rows:,} rows only)" if indicative else ""),
                    ]
                )

    out.append(
        f"Ingestion, events/s ({options.rows:,} rows per database, "
        f"batches of {options.batch:,}; median over {options.repeat} run(s))"
    )
    out.append(
        render_table(
            [
                "database",
                "autohub median/batch",
                "autohub overall",
                "autohub first 10%",
                "autohub last 10%",
                "raw median/batch",
                "raw overall",
                "autohub/raw",
                "autohub db size",
            ],
            ingest_rows,
            right="12345678",
        )
    )
    if query_rows:
        out += [
            "",
            f"Queries at {options.rows:,} rows, ms ({options.queries} queries each over "
            f"random projects, after {WARMUP_QUERIES} warm-up queries; "
            "raw = the same SQL on the bare driver)",
            render_table(
                [
                    "database",
                    "query",
                    "autohub median",
                    "autohub p95",
                    "raw median",
                    "raw p95",
                    "autohub/raw",
                ],
                query_rows,
                right="23456",
            ),
        ]
    for kind, kind_runs in runs.items():
        first = kind_runs[0]
        out += [
            "",
            f"{kind}: {first.check}" + (f"; server {first.settings}" if first.settings else ""),
        ]
        for case in QUERY_CASES:
            plan = " | ".join(line.strip() for line in first.queries[case.name].plan)
            out.append(f"  plan, {case.name}: {plan}")
    out += ["", "Targets", render_table(["target", "measured", "result"], verdicts, right="1")]
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Benchmark EventStore ingestion and queries against the raw driver.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="events per database")
    parser.add_argument("--batch", type=int, default=1000, help="events per add_many call")
    parser.add_argument("--database", choices=(*DATABASES, "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_ENV),
        help=f"a PostgreSQL server (SQLAlchemy URL; default ${POSTGRES_URL_ENV}); the "
        "the benchmark creates and drops databases autohub_bench_PID and autohub_bench_PID_raw "
        "on it",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per database (medians)")
    parser.add_argument("--queries", type=int, default=300, help="timed queries per kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile autohub's add_many and query calls into DIR (distorts the timings)",
    )
    args = parser.parse_args(argv)
    for name in ("rows", "batch", "repeat", "queries"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.rows < args.batch:
        parser.error("--rows must be at least --batch")
    if args.queries < 200:
        print("note: fewer than 200 queries per kind: percentiles are rough", file=sys.stderr)
    chosen = DATABASES if args.database == "both" else (args.database,)
    return Options(
        rows=args.rows,
        batch=args.batch,
        databases=chosen,
        postgres_url=args.postgres_url or None,
        repeat=args.repeat,
        queries=args.queries,
        seed=args.seed,
        profile=args.profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    sizes = evidence_sizes(options.seed)
    header = [
        "autohub event store benchmark (benchmarks/events.py)",
        f"command: {command_line()}",
        f"machine: {machine_summary()}",
        f"data:    {options.rows:,} events per database in batches of {options.batch:,}; "
        f"{PROJECTS} projects, {len(EVENT_TYPES)} event types, created_at over the last "
        f"{DAYS} days; evidence JSON median {median(sizes):.0f} B "
        f"(p5 {percentile(sizes, 5):.0f}, p95 {percentile(sizes, 95):.0f})",
    ]
    header.append(f"load:    {load_average()} (1, 5, 15 min) at the start; the machine is shared")
    if options.profile:
        header.append("PROFILING: autohub timings include cProfile overhead")
    print("\n".join(header), flush=True)
    runs: dict[str, list[Run]] = {}
    skipped: dict[str, str] = {}
    for kind in options.databases:
        if kind == "postgresql" and not options.postgres_url:
            skipped[kind] = f"no server: give --postgres-url or set {POSTGRES_URL_ENV}"
            print(f"PostgreSQL skipped: {skipped[kind]}", file=sys.stderr, flush=True)
            continue
        try:
            runs[kind] = [run_once(kind, options, repeat) for repeat in range(options.repeat)]
        except (OperationalError, psycopg.OperationalError) as exc:
            if kind != "postgresql" or kind in runs:
                raise
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            skipped[kind] = f"cannot use {hide_password(options.postgres_url or '')}: {reason}"
            print(f"PostgreSQL skipped: {skipped[kind]}", file=sys.stderr, flush=True)
    print()
    print(report(options, runs, skipped))
    print(f"\nload average at the end: {load_average()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
