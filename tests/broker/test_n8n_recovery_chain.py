"""The issue's recovery chain, end to end: n8n down, then ``celery`` (a real worker,
1 s), ``http`` (a local task service, 5 s), ``shell`` (a command, 30 s), with the seed's
default tier timeouts. Each tier in turn is the one that recovers, on both databases."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "n8n"))

from n8n_helpers import TaskServer, closed_port, open_project

from autohub.hub import Hub
from autohub.store.database import Database
from project_helpers import events_of

CONFIG = """
n8n:
  base_url: {n8n}
  workflows:
    video-assembly:
      path: video-assembly
      fallback:
        - celery: {{task: tasks.process_video, args: ["{{{{ params.name }}}}"]}}
        - http: {{method: POST, url: "{tasks}/tasks/process_video", json: {{name: x}}}}
        - shell: [sh, -c, "echo rendered by command"]
celery:
  broker_url: {broker}
automations:
  make-video:
    params:
      name: {{type: string}}
    steps:
      - id: assemble
        n8n: video-assembly
"""


@pytest.fixture
def unreachable() -> Iterator[str]:
    """A URL on a port nothing listens on."""
    with closed_port() as port:
        yield f"127.0.0.1:{port}"


def chain_project(tmp_path: Path, database_url: str, *, n8n: str, tasks: str, broker: str) -> Hub:
    """A project on the migrated ``database_url`` whose workflow has the issue's chain."""
    return open_project(tmp_path, database_url, CONFIG.format(n8n=n8n, tasks=tasks, broker=broker))


@pytest.mark.parametrize(
    ("down", "method", "tried"),
    [
        ((), "celery", ["celery"]),
        (("celery",), "http", ["celery", "http"]),
        (("celery", "http"), "shell", ["celery", "http", "shell"]),
    ],
    ids=["celery-recovers", "http-recovers", "command-recovers"],
)
def test_each_tier_of_the_chain_recovers_when_those_before_it_are_down(
    tmp_path: Path,
    database: Database,
    database_url: str,
    celery_worker: str,
    unreachable: str,
    down: tuple[str, ...],
    method: str,
    tried: list[str],
) -> None:
    with TaskServer() as tasks:
        broker = f"redis://{unreachable}/0" if "celery" in down else celery_worker
        task_url = f"http://{unreachable}" if "http" in down else tasks.url
        hub = chain_project(
            tmp_path, database_url, n8n=f"http://{unreachable}", tasks=task_url, broker=broker
        )
        with hub:
            run = hub.run("make-video", {"name": "intro"})

            assert run.state == "succeeded"
            (failure,) = events_of(hub.events, "n8n_failure_detected")
            (recovery,) = events_of(hub.events, "n8n_recovery_attempted")
            assert failure.run_id == recovery.run_id == run.id
            assert recovery.correlation_id == run.id
            assert recovery.status == "success"
            assert recovery.evidence["original_failure"] == failure.evidence["failure_type"]
            assert recovery.evidence["recovery_method"] == method
            attempts = recovery.evidence["attempts"]
            assert [a["method"] for a in attempts] == tried
            assert [a["success"] for a in attempts] == [False] * (len(tried) - 1) + [True]
            # each tier that was down failed fast, well inside its default timeout
            assert all(a["duration"] < 1.0 for a in attempts[:-1])
            step = next(s for s in hub.runs.steps(run.id) if s.step_id == "assemble")
            if method == "celery":
                assert step.output == {"name": "intro", "frames": 50, "status": "encoded"}
            elif method == "http":
                assert tasks.received == [{"name": "x"}]
            else:
                assert "rendered by command" in step.output["stdout"]
