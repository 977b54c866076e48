"""Runs created together are written in one transaction, on SQLite and PostgreSQL; one
bad run fails alone; the intake hands each waiting request its own run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autohub.errors import AutohubError, InvalidInput
from autohub.hub import Hub
from autohub.server.intake import RunIntake
from autohub.store import migrations
from autohub.store.runs import NewRun


@pytest.fixture
def hub(tmp_path: Path, database_url: str):
    (tmp_path / "autohub.yaml").write_text(
        "project: intake\nautomations:\n  job:\n    params: {n: {type: integer, default: 0}}\n"
        "    steps:\n      - {id: a, shell: [echo, a]}\n"
        "      - {id: b, needs: [a], shell: [echo]}\n"
    )
    opened = Hub.from_config(tmp_path / "autohub.yaml")
    opened.config.settings.database_url = database_url
    migrations.upgrade(opened.database)
    yield opened
    opened.close()


def test_a_batch_of_runs_is_stored_whole_and_a_bad_one_fails_alone(hub):
    news = [hub.new_run("job", {"n": n}, trigger="api") for n in range(5)]
    bad = NewRun(**{**news[0].__dict__, "params": {"x": float("nan")}})  # not storable JSON

    results = hub.runs.create_many([*news[:2], bad, *news[2:]])

    assert [type(r).__name__ for r in results] == ["tuple"] * 2 + ["InvalidInput"] + ["tuple"] * 3
    stored = {run.id: run for run in hub.runs.list_runs(limit=100)}
    made = [result[0] for result in results if not isinstance(result, AutohubError)]
    assert sorted(stored) == sorted(run.id for run in made)
    assert sorted(run.params["n"] for run in stored.values()) == [0, 1, 2, 3, 4]
    assert all(len(hub.runs.steps(run.id)) == 2 for run in made)
    created = hub.events.query(limit=100).events
    assert sorted(e.run_id for e in created if e.event_type == "run.created") == sorted(stored)


def test_the_intake_gives_each_waiting_request_its_own_run(hub):
    intake = RunIntake(hub.runs)
    intake.start()
    got: dict[int, str] = {}

    def request(n: int) -> None:
        run, created = intake.create(hub.new_run("job", {"n": n}, trigger="api"))
        assert created
        got[n] = run.id

    try:
        threads = [threading.Thread(target=request, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        keyed = hub.new_run("job", {"n": 99}, trigger="api", idempotency_key="k")
        first, again = intake.create(keyed), intake.create(keyed)
        with pytest.raises(InvalidInput):
            intake.create(NewRun(**{**keyed.__dict__, "idempotency_key": None,
                                    "params": {"x": float("nan")}}))  # fmt: skip
    finally:
        intake.stop()

    assert len(got) == 40
    stored = {run.id: run.params["n"] for run in hub.runs.list_runs(limit=1000)}
    assert {n: stored[run_id] for n, run_id in got.items()} == {n: n for n in range(40)}
    assert (first[1], again[1], again[0].id) == (True, False, first[0].id)
