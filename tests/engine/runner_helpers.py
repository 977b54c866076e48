"""A project on disk for runner tests: autohub.yaml, a jobs module, a store."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from typing import Any

from autohub.hub import Hub
from autohub.store import migrations
from autohub.store.runs import RunRecord

JOBS = '''
"""Step functions for the runner tests."""
import asyncio
import contextvars
import json
import os
import threading
import time
from pathlib import Path

TRACE = Path(os.environ.get("TRACE_FILE", "trace.log"))


def trace(ctx, label=None):
    with TRACE.open("a") as handle:
        handle.write(f"{label or ctx.step_id}\\n")
    return {"step": ctx.step_id, "attempt": ctx.attempt}


def add(ctx, a, b):
    return {"sum": int(a) + int(b)}


def flaky(ctx, failures=2):
    if ctx.attempt <= int(failures):
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return {"attempt": ctx.attempt}


def boom(ctx):
    raise ValueError("boom")


def slow(ctx, seconds=30):
    trace(ctx)
    time.sleep(float(seconds))
    return {"slept": seconds}


async def async_sleep(ctx, seconds=30):
    await asyncio.sleep(float(seconds))
    return {}


def upstream(ctx):
    return {"seen": dict(ctx.outputs)}


def where(ctx, seconds=0):
    """Which thread ran the step, and when."""
    started = time.monotonic()
    time.sleep(float(seconds))
    return {
        "thread": threading.current_thread().name,
        "started": started,
        "finished": time.monotonic(),
    }


async def cancellable(ctx, seconds=30):
    """Sleeps; says (in the trace) when it started and when it was cancelled."""
    trace(ctx, f"{ctx.step_id}:started")
    try:
        await asyncio.sleep(float(seconds))
    except asyncio.CancelledError:
        trace(ctx, f"{ctx.step_id}:cancelled")
        raise
    return {}


async def swallow_cancel(ctx, seconds=30):
    """Catches its cancellation and returns as if nothing happened."""
    try:
        await asyncio.sleep(float(seconds))
    except asyncio.CancelledError:
        return {"swallowed": True}
    return {"swallowed": False}


MARK = contextvars.ContextVar("MARK")


async def set_mark(ctx):
    """Sets a context variable; says which coroutine its task runs."""
    before = MARK.get(None)
    MARK.set(ctx.step_id)
    return {"before": before, "task_runs": asyncio.current_task().get_coro().__qualname__}


async def read_mark(ctx):
    return {"mark": MARK.get(None)}


def frozen(ctx):
    """Whether the garbage collector leaves older objects alone meanwhile."""
    import gc

    return {"frozen": gc.get_freeze_count() > 0}


def nested_loop(ctx):
    async def answer():
        await asyncio.sleep(0)
        return 42

    return {"answer": asyncio.run(answer()), "thread": threading.current_thread().name}
'''


def make_project(root: Path, database_url: str, automations: str, *, extra: str = "") -> Path:
    """Write autohub.yaml (with ``automations`` indented under it) and jobs.py; migrate."""
    (root / "jobs.py").write_text(JOBS)
    body = textwrap.indent(textwrap.dedent(automations).strip("\n"), "  ")
    config = f"project: test\n{textwrap.dedent(extra).strip()}\nautomations:\n{body}\n"
    (root / "autohub.yaml").write_text(config)
    with Hub.from_config(root / "autohub.yaml") as hub:
        hub.config.settings.database_url = database_url
        migrations.upgrade(hub.database)
    return root / "autohub.yaml"


def project_hub(root: Path, database_url: str, automations: str, extra: str = "") -> Hub:
    """``make_project``, then a hub on it."""
    make_project(root, database_url, automations, extra=extra)
    return open_hub(root, database_url)


def start_and_cancel_after(hub: Hub, name: str, seconds: float) -> tuple[str, RunRecord]:
    """Start a run of ``name`` and execute it here while another thread asks to cancel it
    after ``seconds``; the run's id and the finished run."""
    run, _ = hub.start(name)
    canceller = threading.Timer(seconds, hub.cancel, args=(run.id,))
    canceller.start()
    try:
        return run.id, hub.execute(run.id)
    finally:
        canceller.join()


def step_outputs(hub: Hub, run_id: str) -> dict[str, Any]:
    """Step id -> that step's output, for a run."""
    return {step.step_id: step.output for step in hub.runs.steps(run_id)}


def step_states(hub: Hub, run_id: str) -> dict[str, str]:
    """Step id -> that step's state, for a run."""
    return {step.step_id: step.state for step in hub.runs.steps(run_id)}


def open_hub(root: Path, database_url: str) -> Hub:
    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    return hub


def trace_lines(root: Path) -> list[str]:
    path = root / "trace.log"
    return path.read_text().splitlines() if path.exists() else []
