"""The cost of a ``celery`` step over a bare Celery client, on a real worker and Redis.

Starts a Celery worker (``tests/broker/celery_tasks.py``, thread pool) on Redis database
8 of ``--redis-url`` (default: AUTOHUB_TEST_REDIS_URL), then times, interleaved, ``--calls``
round trips of the trivial task ``tasks.add`` three ways:

* ``bare``: ``app.send_task("tasks.add", args=[1, 2]).get()`` on a plain Celery app (JSON);
* ``step``: the ``celery`` step handler (``autohub.broker.step.celery_step``) on one event
  loop, as the engine's executor calls it (parse the spec, send, wait in a thread);
* ``run``: ``Hub.run`` of a one-step automation on SQLite (the engine and its store
  writes included), for scale.

Prints median and p95 in ms. A report, not a test: it exits 0 whatever the figures.

    . /tmp/env.sh && .venv/bin/python benchmarks/celery_step.py --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from _common import (
    command_line,
    comparison_table,
    load_average,
    progress,
    scratch_dir,
    time_interleaved,
)
from celery import Celery

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "broker"))
from celery_tasks import start_worker, stop_worker  # the tests' worker

DB_NUMBER = 8


def wait_ready(app: Celery, deadline_seconds: float = 30) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            app.send_task("tasks.ping").get(timeout=1)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--redis-url", default=os.environ.get("AUTOHUB_TEST_REDIS_URL"))
    args = parser.parse_args()
    if not args.redis_url:
        parser.error("give --redis-url or set AUTOHUB_TEST_REDIS_URL")
    logging.basicConfig(level=logging.WARNING)
    url = f"{args.redis_url.rsplit('/', 1)[0]}/{DB_NUMBER}"
    redis.Redis.from_url(url).flushdb()

    from autohub.engine.actions.base import ActionRequest, run_action
    from autohub.engine.context import StepContext
    from autohub.hub import Hub
    from autohub.store import migrations

    bare = Celery("bench", set_as_current=False)
    bare.conf.update(
        broker_url=url,
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    worker = start_worker(url, subprocess.DEVNULL, concurrency=2)
    try:
        progress("waiting for the worker")
        wait_ready(bare)
        with scratch_dir("autohub-bench-celery-") as root:
            (root / "autohub.yaml").write_text(
                f"project: bench\nmodules: []\ncelery: {{broker_url: '{url}'}}\n"
                "automations:\n  add:\n    steps:\n"
                "      - {id: add, celery: {task: tasks.add, args: [1, 2]}, timeout: 10s}\n"
            )
            hub = Hub.from_config(root / "autohub.yaml", cwd=root)
            migrations.upgrade(hub.database)
            handler = hub.action_plugins()["celery"]
            request = ActionRequest(
                kind="celery",
                spec={"task": "tasks.add", "args": [1, 2], "kwargs": {}, "queue": None},
                context=StepContext(
                    run_id="bench",
                    step_id="add",
                    automation="add",
                    attempt=1,
                    params={},
                    outputs={},
                    idempotency_key=None,
                    logger=logging.getLogger("bench"),
                ),
                timeout_seconds=10,
            )
            loop = asyncio.new_event_loop()

            def step() -> None:
                result = loop.run_until_complete(run_action(request, handler=handler))
                assert result.ok, result
                assert result.output == 3, result

            def plain() -> None:
                assert bare.send_task("tasks.add", args=[1, 2]).get(timeout=10) == 3

            def full_run() -> None:
                assert hub.run("add").state == "succeeded"

            ways: dict[str, Callable[[], None]] = {"bare": plain, "step": step, "run": full_run}
            times = time_interleaved(ways, args.calls)
            loop.close()
            hub.close()
    finally:
        stop_worker(worker)
    print(f"# celery step round trip\n\n{command_line(('--redis-url',))}")
    print(f"load average: {load_average()}\n")
    print(comparison_table(times, "bare"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
