"""The Celery app of the broker tests: the worker subprocess runs ``celery -A celery_tasks``.

Its broker is AUTOHUB_TEST_CELERY_BROKER (set by the fixture that starts the worker).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from celery import Celery

BROKER_ENV = "AUTOHUB_TEST_CELERY_BROKER"

app = Celery("autohub_tests", set_as_current=False)
app.conf.update(
    broker_url=os.environ.get(BROKER_ENV, "redis://127.0.0.1:56379/5"),
    result_backend=os.environ.get(BROKER_ENV, "redis://127.0.0.1:56379/5"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="tasks.ping")
def ping() -> str:
    return "pong"


@app.task(name="tasks.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="tasks.process_video")
def process_video(name: str) -> dict[str, Any]:
    return {"name": name, "frames": len(name) * 10, "status": "encoded"}


@app.task(name="tasks.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="tasks.fail")
def fail(message: str) -> None:
    raise ValueError(message)


def start_worker(
    broker_url: str, output: IO[bytes] | int, concurrency: int = 4
) -> subprocess.Popen[bytes]:
    """A ``celery -A celery_tasks worker`` subprocess (thread pool) on ``broker_url``,
    consuming the queues ``celery`` and ``video``."""
    celery = Path(sys.executable).parent / "celery"
    return subprocess.Popen(
        [
            str(celery), "-A", "celery_tasks", "worker", "--pool=threads",
            f"--concurrency={concurrency}", "--loglevel=warning", "-Q", "celery,video",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ],
        cwd=Path(__file__).parent,
        env={**os.environ, BROKER_ENV: broker_url},
        stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
