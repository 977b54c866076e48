"""``autohub n8n call``: a configured workflow called outside any run, with its fallback
chain; with the database down, detection and recovery still work and every event waits
in the spool, recorded once the database is back (the seed's isolation rule)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parents[1] / "n8n"))

from n8n_helpers import closed_port, n8n_url

N8N_CONFIG = """
n8n:
  base_url: {n8n}
  workflows:
    failing:
      path: autohub-error
      fallback:
        - shell: [echo, recovered by command]
    healthy:
      path: autohub-ok
"""


@pytest.fixture
def n8n_project(project: Any) -> Any:
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + N8N_CONFIG.format(n8n=n8n_url()))
    return project


@pytest.fixture
def unreachable(n8n_project: Any) -> Iterator[str]:
    """The project's PostgreSQL URL on a port bound but not listening: refused."""
    with closed_port() as port:
        yield (
            make_url(n8n_project.database_url).set(port=port).render_as_string(hide_password=False)
        )


def assert_story(event_types: list[str]) -> None:
    """Two attempts (the example project's default retry), then the chain's recovery."""
    assert event_types.count("n8n_failure_detected") == 2, event_types
    assert event_types[0] == "n8n_failure_detected"
    assert "step.retry_scheduled" in event_types
    assert event_types[-2:] == ["fallback.used", "n8n_recovery_attempted"]


def test_a_call_returns_n8ns_json_and_a_failure_recovers_by_its_chain(
    cli: Any, n8n_project: Any, read_db: Any
) -> None:
    ok = cli("n8n", "call", "healthy", "--payload", '{"job": "c1"}', "--json", check=0).json()
    failed = cli("n8n", "call", "failing", "--json", check=0).json()
    unknown = cli("n8n", "call", "nope", check=2)

    assert (ok["state"], ok["method"]) == ("succeeded", "n8n")
    assert ok["output"]["echo"] == {"job": "c1"}
    assert (failed["state"], failed["method"]) == ("succeeded", "shell")
    assert "unknown n8n workflow 'nope'" in unknown.stderr
    story = read_db(
        n8n_project.database_url,
        "SELECT event_type FROM automation_events WHERE correlation_id = :c ORDER BY id",
        c=failed["correlation_id"],
    )
    assert_story([row["event_type"] for row in story])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_down_the_call_recovers_and_its_events_are_spooled(
    cli: Any, n8n_project: Any, read_db: Any, unreachable: str
) -> None:
    down = cli("n8n", "call", "failing", "--json", env={"AUTOHUB_DATABASE_URL": unreachable})

    assert down.code == 0, down.output
    result = down.json()
    assert (result["state"], result["method"]) == ("succeeded", "shell")
    assert "recovered by command" in result["output"]["stdout"]
    spool = n8n_project.path(".autohub/spool/events.jsonl")
    spooled = [json.loads(line) for line in spool.read_text().splitlines()]
    assert_story([e["event_type"] for e in spooled])
    assert {e["correlation_id"] for e in spooled} == {result["correlation_id"]}

    # the database is back: the next write flushes the spool first
    cli("events", "record", "--type", "probe", "--status", "success", check=0)
    stored = read_db(
        n8n_project.database_url,
        "SELECT event_type, status FROM automation_events WHERE correlation_id = :c ORDER BY id",
        c=result["correlation_id"],
    )
    assert_story([row["event_type"] for row in stored])
    assert stored[-1]["status"] == "success"
