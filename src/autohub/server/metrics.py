"""``/metrics``: Prometheus exposition, read from the store at each scrape.

Every figure comes from the database, so several server processes sharing one store
report the same numbers. The seed's names are kept (``automation_uptime_seconds``,
``automation_execution_count``, ``automation_status``, ``automation_stage_success``,
``automation_stage_retries``); the others are autohub's.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autohub.server.probes import Probes, readable, status_of
from autohub.store.breakers import CLOSED, HALF_OPEN, OPEN
from autohub.store.schema import run_steps, runs

BREAKER_STATES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
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
        success = CounterMetricFamily(
            "automation_stage_success",
            "Step attempts that succeeded, by automation and step.",
            labels=["automation", "stage"],
        )
        retries = CounterMetricFamily(
            "automation_stage_retries",
            "Step attempts after the first, by automation and step.",
            labels=["automation", "stage"],
        )
        for stage in probes.stages():
            success.add_metric([stage["automation"], stage["stage"]], stage["succeeded"])
            retries.add_metric([stage["automation"], stage["stage"]], stage["retries"])
        yield success
        yield retries
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


def exposition(probes: Probes) -> bytes:
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(probes))
    return generate_latest(registry)
