"""With the database down, detection and fallbacks still work and the failure event is
spooled (then flushed once the database is back)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from n8n_helpers import EVIDENCE_KEYS, closed_port, open_project
from sqlalchemy.engine import make_url

from autohub.n8n.direct import first_attempt, step_runner
from autohub.store.database import Database
from project_helpers import events_of


@pytest.fixture
def unreachable(database_url: str) -> Iterator[str]:
    """The test PostgreSQL URL on a closed port."""
    with closed_port() as port:
        yield make_url(database_url).set(port=port).render_as_string(hide_password=False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_down_the_failure_is_detected_spooled_and_recovered(
    tmp_path: Path, database: Database, database_url: str, unreachable: str, n8n: str
) -> None:
    config = f"""
    n8n:
      base_url: {n8n}
      workflows:
        failing:
          path: autohub-error
          fallback: [{{shell: [echo, recovered]}}]
    automations:
      render:
        steps:
          - {{id: call, n8n: failing}}
    """
    with open_project(tmp_path, unreachable, config) as hub:
        steps = step_runner(hub)
        plan = first_attempt(hub, hub.registry.get("render").automation, "r" * 32)
        assert (plan.automation, plan.attempt) == ("render", 1)
        try:
            outcome = asyncio.run(steps.run(plan))
        finally:
            steps.executor.close()
        assert (outcome.state, outcome.method) == ("succeeded", "shell")
        assert outcome.output["stdout"].strip() == "recovered"
        recovery = next(e for e in outcome.events if e["event_type"] == "n8n_recovery_attempted")
        assert recovery["evidence"]["original_failure"] == "unknown_error"
        assert recovery["correlation_id"] == "r" * 32

    spool = tmp_path / ".autohub/spool/events.jsonl"
    (spooled,) = [json.loads(line) for line in spool.read_text().splitlines()]
    assert spooled["event_type"] == "n8n_failure_detected"
    assert spooled["run_id"] == spooled["correlation_id"] == "r" * 32
    evidence = spooled["evidence"]
    evidence = json.loads(evidence) if isinstance(evidence, str) else evidence
    assert set(evidence) == EVIDENCE_KEYS
    assert (evidence["failure_type"], evidence["status_code"]) == ("unknown_error", 500)

    with open_project(tmp_path, database_url, config) as back:
        assert back.events.flush_spool() == 1
        (stored,) = events_of(back.events, "n8n_failure_detected")
        assert stored.evidence["response_snippet"] == '{"message":"Error in workflow"}'
