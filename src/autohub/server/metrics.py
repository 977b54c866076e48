"""``/metrics``: Prometheus exposition, read from the store at each scrape.

Every figure comes from the database, so several server processes sharing one store
report the same numbers. The seed's names are kept (``automation_uptime_seconds``,
``automation_execution_count``, ``automation_status``, ``automation_stage_success``,
``automation_stage_retries``); the others are autohub's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from autohub.hub import Hub
from autohub.server.probes import Probes, readable, status_of
from autohub.store.breakers import CLOSED, HALF_OPEN, OPEN
from autohub.store.schema import run_steps, runs, step_attempts

BREAKER_STATES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
"""Upper bounds (seconds) of the duration histograms' buckets."""
STATUS_VALUES = {"healthy": 0, "degraded": 1, "failed": 2}


class StoreCollector(Collector):
    """Collects autohub's metrics from the store when scraped."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes

    def collect(self) -> Iterator[Metric]:
        probes, hub = self.probes, self.probes.hub
        yield GaugeMetricFamily(
            "automation_uptime_seconds", "Seconds since this server started.", probes.uptime_seconds
        )
        checks = probes.readiness()
        breaker_states = hub.breakers.all() if readable(checks) else {}
        yield GaugeMetricFamily(
            "automation_status",
            "0 healthy, 1 degraded, 2 failed.",
            STATUS_VALUES[status_of(checks, breaker_states)],
        )
        if not readable(checks):
            return  # the store cannot be read: nothing more to report
        executions = CounterMetricFamily(
            "automation_execution_count",
            "Runs recorded, by automation and state.",
            labels=["automation", "state"],
        )
        statement = sa.select(runs.c.automation, runs.c.state, sa.func.count().label("n")).group_by(
            runs.c.automation, runs.c.state
        )
        for row in hub.database.fetch(statement, "count runs"):
            executions.add_metric([row["automation"], row["state"]], int(row["n"]))
        yield executions
        yield from _step_metrics(hub)
        yield _run_durations(hub)
        breakers = GaugeMetricFamily(
            "autohub_breaker_state",
            "Circuit breakers: 0 closed, 1 half-open, 2 open.",
            labels=["breaker"],
        )
        for name, state in breaker_states.items():
            breakers.add_metric([name], BREAKER_STATES.get(state.state, 0))
        yield breakers
        pending = (
            sa.select(sa.func.count().label("n"))
            .select_from(run_steps)
            .where(run_steps.c.state == "pending")
        )
        yield GaugeMetricFamily(
            "autohub_queue_depth",
            "Steps waiting to run (pending), over every run.",
            int(hub.database.fetch(pending, "count pending steps")[0]["n"]),
        )
        spool = hub.events.spool
        yield GaugeMetricFamily(
            "autohub_spool_events",
            "Events waiting in the spool for the database to return.",
            spool.pending() if spool is not None else 0,
        )


def _buckets_sql(value: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """One count per bucket (``value <= bound``), then the sum and the count."""
    counts = [
        sa.func.sum(sa.case((value <= bound, 1), else_=0)).label(f"le{index}")
        for index, bound in enumerate(DURATION_BUCKETS)
    ]
    return [*counts, sa.func.sum(value).label("total"), sa.func.count().label("n")]


def _histogram_buckets(row: dict[str, Any]) -> list[tuple[str, float]]:
    buckets = [
        (f"{bound:g}", float(row[f"le{i}"] or 0)) for i, bound in enumerate(DURATION_BUCKETS)
    ]
    return [*buckets, ("+Inf", float(row["n"]))]


def _step_metrics(hub: Hub) -> Iterator[Metric]:
    """Every per-step figure from one read of the attempts: the seed's successes and
    retries, attempts by outcome, and durations, by automation and step."""
    labels = ["automation", "stage"]
    success = CounterMetricFamily(
        "automation_stage_success",
        "Step attempts that succeeded, by automation and step.",
        labels=labels,
    )
    retries = CounterMetricFamily(
        "automation_stage_retries",
        "Step attempts after the first, by automation and step.",
        labels=labels,
    )
    attempts = CounterMetricFamily(
        "autohub_step_attempts",
        "Step attempts, by automation, step and outcome.",
        labels=[*labels, "outcome"],
    )
    durations = HistogramMetricFamily(
        "autohub_step_duration_seconds",
        "Durations of step attempts, by automation and step.",
        labels=labels,
    )
    statement = (
        sa.select(
            runs.c.automation, step_attempts.c.step_id, step_attempts.c.outcome,
            sa.func.sum(sa.case((step_attempts.c.number > 1, 1), else_=0)).label("retries"),
            *_buckets_sql(step_attempts.c.duration_seconds),
        )
        .select_from(step_attempts.join(runs, runs.c.id == step_attempts.c.run_id))
        .group_by(runs.c.automation, step_attempts.c.step_id, step_attempts.c.outcome)
    )  # fmt: skip
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in hub.database.fetch(statement, "read step attempts"):
        key = (row["automation"], row["step_id"])
        attempts.add_metric([*key, row["outcome"]], int(row["n"]))
        into = merged.setdefault(key, dict.fromkeys(row, 0) | {"succeeded": 0})
        if row["outcome"] == "succeeded":
            into["succeeded"] = int(row["n"])
        for name, value in row.items():
            if name not in ("automation", "step_id", "outcome"):
                into[name] += value or 0
    for key, row in merged.items():
        success.add_metric(list(key), row["succeeded"])
        retries.add_metric(list(key), int(row["retries"]))
        durations.add_metric(list(key), _histogram_buckets(row), float(row["total"] or 0))
    yield from (success, retries, attempts, durations)


def _run_durations(hub: Hub) -> Metric:
    """Durations of finished runs, by automation and final state."""
    started, finished = runs.c.started_at, runs.c.finished_at
    if hub.database.dialect == "sqlite":
        seconds = (sa.func.julianday(finished) - sa.func.julianday(started)) * 86400.0
    else:
        seconds = sa.extract("epoch", finished - started)
    histogram = HistogramMetricFamily(
        "autohub_run_duration_seconds",
        "Durations of finished runs (start to end), by automation and state.",
        labels=["automation", "state"],
    )
    statement = (
        sa.select(runs.c.automation, runs.c.state, *_buckets_sql(seconds))
        .where(finished.is_not(None), started.is_not(None))
        .group_by(runs.c.automation, runs.c.state)
    )
    for row in hub.database.fetch(statement, "read run durations"):
        histogram.add_metric(
            [row["automation"], row["state"]], _histogram_buckets(row), float(row["total"] or 0)
        )
    return histogram


def exposition(probes: Probes) -> bytes:
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(probes))
    return generate_latest(registry)
