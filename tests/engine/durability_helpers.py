"""Helpers of the durability tests: a project on disk, and runner subprocesses to kill.

A project is an ``autohub.yaml`` plus ``durajobs.py`` (the step functions, which trace
what they do to ``trace.log`` in the project root). A *runner subprocess* is this file
run as a script: it opens the project (the database comes from AUTOHUB_DATABASE_URL),
creates a run, prints ``{"run_id": ...}``, optionally waits for a go-file (so that two
runners start together), executes the run as ``Hub.run`` does, with a lease of the
given length (``Hub.runner()`` holds runs for 30 s; a test that kills a runner must not
wait that long for the lease to expire), and prints ``{"state": ...}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve()

JOBS = '''
"""Step functions of the durability tests; each traces itself to trace.log."""
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _append(line):
    with (ROOT / "trace.log").open("a") as handle:
        handle.write(line + "\\n")


def trace(ctx, label=None):
    _append(label or ctx.step_id)
    return {"step": ctx.step_id, "attempt": ctx.attempt}


def slow_unless_fast(ctx, seconds=30):
    """Traces itself, then sleeps unless fast.flag exists."""
    _append(ctx.step_id)
    if not (ROOT / "fast.flag").exists():
        time.sleep(float(seconds))
    return {"step": ctx.step_id, "attempt": ctx.attempt}


def charge(ctx, order):
    """Charges once per idempotency key (the key says so); sleeps while slow.flag exists."""
    _append(f"charge {order} {ctx.run_id}")
    if (ROOT / "slow.flag").exists():
        time.sleep(30)
    return {"charged": order, "key": ctx.idempotency_key, "run": ctx.run_id}


def fail_first(ctx):
    """Attempt 1 fails with ConnectionError; later attempts succeed."""
    _append(f"attempt {ctx.attempt} {time.time()!r}")
    if ctx.attempt == 1:
        raise ConnectionError("the first attempt fails")
    return {"attempt": ctx.attempt}


def unreliable(ctx, seconds=0.6):
    """The primary of the breaker test: takes a while, then fails."""
    _append("primary")
    time.sleep(float(seconds))
    raise ConnectionError("the service is down")


def critical_section(ctx, label, seconds=0.5):
    _append(f"enter {label}")
    time.sleep(float(seconds))
    _append(f"exit {label}")
    return {"label": label}
'''


def make_project(root: Path, database_url: str, automations: str, *, extra: str = "") -> Path:
    """Write autohub.yaml (``automations`` indented under its key) and durajobs.py; migrate."""
    from autohub.store import migrations

    root.mkdir(parents=True, exist_ok=True)
    (root / "durajobs.py").write_text(JOBS)
    body = textwrap.indent(textwrap.dedent(automations).strip("\n"), "  ")
    config = f"project: durable\n{textwrap.dedent(extra).strip()}\nautomations:\n{body}\n"
    (root / "autohub.yaml").write_text(config)
    with open_hub(root, database_url) as hub:
        migrations.upgrade(hub.database)
    return root / "autohub.yaml"


def open_hub(root: Path, database_url: str) -> Any:
    from autohub.hub import Hub

    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    return hub


def trace_lines(root: Path) -> list[str]:
    path = root / "trace.log"
    return path.read_text().splitlines() if path.exists() else []


T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, within: float = 20.0, every: float = 0.05
) -> T:
    """The first truthy value of ``probe()``, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what}")
        time.sleep(every)


# -- runner subprocesses --------------------------------------------------------------


class RunnerProcess:
    """A runner subprocess: its Popen, the run it executes, its stderr log."""

    def __init__(self, popen: subprocess.Popen[str], log: Path) -> None:
        self.popen = popen
        self.log = log
        line = popen.stdout.readline() if popen.stdout else ""
        if not line:
            popen.wait(10)
            raise AssertionError(f"the runner subprocess did not start:\n{self.log_text()}")
        self.run_id: str = json.loads(line)["run_id"]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def result(self, within: float = 30.0) -> dict[str, Any]:
        """The final line ``{"state": ...}`` once the subprocess has exited."""
        out, _ = self.popen.communicate(timeout=within)
        assert self.popen.returncode == 0, f"runner exited {self.popen.returncode}:\n" + (
            self.log_text()
        )
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


@contextmanager
def runner_processes(
    tmp_path: Path, database_url: str, pycache: Path
) -> Iterator[Callable[..., RunnerProcess]]:
    """``start(root, automation, params=None, lease=2.0, go_file=None)``: a runner
    subprocess; every one still alive at the end is killed.

    The subprocesses keep their bytecode in ``pycache`` (shared by the tests): without
    it (PYTHONDONTWRITEBYTECODE) each would compile SQLAlchemy and pydantic again.
    """
    started: list[RunnerProcess] = []

    def start(
        root: Path,
        automation: str,
        params: Mapping[str, Any] | None = None,
        *,
        lease: float = 2.0,
        go_file: Path | None = None,
    ) -> RunnerProcess:
        log = tmp_path / f"runner-{len(started)}.log"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTOHUB_")},
            "AUTOHUB_DATABASE_URL": database_url,
            "PYTHONPYCACHEPREFIX": str(pycache),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        argv = [sys.executable, str(HERE), str(root), automation, json.dumps(dict(params or {}))]
        argv += ["--lease", str(lease)]
        if go_file is not None:
            argv += ["--go-file", str(go_file)]
        with log.open("w") as stderr:
            popen = subprocess.Popen(
                argv,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        try:
            process = RunnerProcess(popen, log)
        except BaseException:
            if popen.poll() is None:
                popen.kill()
            popen.wait(10)
            raise
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.kill()
            if process.popen.stdout is not None:
                process.popen.stdout.close()


def _main(argv: list[str]) -> int:
    """Runner subprocess: create a run of ``automation`` and execute it (see module doc)."""
    import argparse
    import asyncio

    from autohub.hub import Hub

    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("automation")
    parser.add_argument("params")
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--go-file", type=Path)
    args = parser.parse_args(argv)
    with Hub.from_config(args.root / "autohub.yaml") as hub:
        run, _ = hub.start(args.automation, json.loads(args.params))
        runner = hub.runner()
        runner.lease_seconds = args.lease
        import autohub.engine.actions.python  # noqa: F401  (imported before the go signal)

        print(json.dumps({"run_id": run.id}), flush=True)
        while args.go_file is not None and not args.go_file.exists():
            time.sleep(0.01)
        try:
            finished = asyncio.run(runner.execute(run.id, hub.automation_of(run)))
        finally:
            runner.steps.executor.close()
        print(json.dumps({"state": finished.state}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
