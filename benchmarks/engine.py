#!/usr/bin/env python3
"""Engine benchmark: durable runs of no-op python steps, autohub next to DBOS and Prefect.

Three workloads, each durable on SQLite, each measured in fresh processes:

* ``A``: 1,000 sequential steps in one run (a chain);
* ``B``: a 40-step chain;
* ``C``: a fan-out of 1,000 parallel steps, then one step that gathers them.

autohub runs through its library API: a scratch project (``autohub.yaml`` declaring the
automation ``a`` and a one-step ``warm``, a module ``noop.py`` with ``def step(ctx): return
None``, or ``async def`` with ``--step-kind async``); ``autohub db upgrade`` in a process
of its own; then in a fresh process ``Hub.from_config``, ``require_schema`` and one run of
``warm`` (setup, not timed: a loaded engine, as the peers are timed after their workflows
are declared and DBOS is launched, Prefect after a warm-up flow) and the timed
``hub.run("a")`` (it validates
params, records the definition, creates the run and its step rows and executes it on
``.autohub/autohub.db``).

The peers run the same shapes in a throwaway virtualenv that this script creates itself
(``--peers-venv``, default ``~/.cache/autohub-bench/peers-venv``, reused when its versions
are right): DBOS 3.4.0 (``@DBOS.workflow`` calling a ``@DBOS.step``; the fan-out is an
async workflow that starts async steps in order and ``asyncio.gather``-s them, DBOS's
documented way to run steps in parallel; SQLite system database) and Prefect 3.8.8 (a
``@flow`` calling a ``@task``; the fan-out is ``.submit()`` and a gathering task fed the
futures; the ephemeral SQLite server, timed after a warm-up flow in the same process).
Only the workload call is timed; every process is checked for success (run state and
the number of recorded steps), so a broken run cannot look fast.

Processes run interleaved (for each repetition: A, B, C, each system in turn) after one
unmeasured warm-up process per system (it fills a private bytecode cache and, for
Prefect, creates the server database that every measured process then gets a fresh copy
of). Before each process the previous ones' writes are flushed to disk (``os.sync``)
and the machine is left idle for 2 s (``SETTLE_SECONDS``), so that no process is timed while the
kernel writes back what another one (a Prefect server's database, autohub's WAL) left
behind. The report gives median, min and max seconds, the ratio peer/autohub (above 1:
autohub is faster), PASS/FAIL against autohub's targets, peak RSS for workload A and
autohub's time split (before the first step / executing / after the last).

    python benchmarks/engine.py                         # everything, 3 processes each
    python benchmarks/engine.py --only autohub          # no peers
    python benchmarks/engine.py --only autohub --steps 100 --repeat 1
    python benchmarks/engine.py --only autohub --repeat 1 --profile /tmp/prof   # cProfile

It exits 0 whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This file is also the worker that runs inside the peers' virtualenv: module-level
# imports are the standard library only (the report helpers are imported by the parent).

SYSTEMS = ("autohub", "dbos", "prefect")
PEERS = ("dbos", "prefect")
WORKLOADS = ("A", "B", "C")
DEFAULT_STEPS = 1000
CHAIN_B = 40
PEER_PINS = {"dbos": "3.4.0", "prefect": "3.8.8", "fastapi": "0.154.0"}
"""fastapi is pinned because newer releases break Prefect 3.8.8's local server."""
DEFAULT_PEERS_VENV = Path.home() / ".cache" / "autohub-bench" / "peers-venv"

TARGET_SECONDS = {"A": 0.25, "B": 0.015, "C": 0.5}
"""autohub's targets at the default sizes (1,000 steps; a 40-step chain)."""
TARGET_RSS_MB = 60.0
"""Peak RSS of the workload-A process."""
ISSUE_FIGURES = {
    ("A", "dbos"): "2.5-2.8 s",
    ("A", "prefect"): "6.2-8.1 s",
    ("B", "dbos"): "0.13-0.14 s",
    ("B", "prefect"): "1.1 s",
    ("C", "dbos"): "14-17 s",
    ("C", "prefect"): "10.3 s",
    ("RSS", "dbos"): "69 MB",
    ("RSS", "prefect"): "180 MB",
}
"""The peers' figures quoted by the issue (medians of 3, this machine, another batch)."""


DURABILITY_NOTE = (
    "Durability: autohub commits each finished step (state, attempt, events) before the steps",
    "that need it start, on SQLite in WAL mode with synchronous=NORMAL (a commit survives kill -9",
    "of the process, not a power cut); DBOS commits each step before the next with SQLite's",
    "defaults (rollback journal, synchronous=FULL: fsyncs on every commit); Prefect in its",
    "defaults does not survive kill -9 of the flow process (per the issue).",
)


SETTLE_SECONDS = 2.0
"""Idle time before each process. Half a second was not enough after a 1,000-step run:
the 40-step chain measured 16.9-18.2 ms (median of 7) right after A processes, 13.3 ms
alone, and 13.4 ms after A processes with 2 s."""


def settle() -> None:
    """Flush what earlier processes wrote and wait a moment: each process starts on a
    quiet machine, whichever system ran before it."""
    os.sync()
    time.sleep(SETTLE_SECONDS)


def workload_size(workload: str, steps: int) -> int:
    """The number of steps the workload runs (C: ``steps`` parallel ones plus the gather)."""
    if workload == "B":
        return min(CHAIN_B, steps)
    if workload == "C":
        return steps + 1
    return steps


def describe(workload: str, steps: int) -> str:
    size = workload_size(workload, steps)
    if workload == "C":
        return f"fan-out of {steps:,} parallel steps, then one gathering step"
    return f"{size:,} sequential steps in one run" if workload == "A" else f"a {size}-step chain"


# -- workers: run in a fresh process, write one JSON result --------------------------------


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_peak_rss_mb() -> float:
    """Peak RSS (VmHWM) of this process's live children: Prefect's ephemeral server."""
    total_kb = 0
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[1] != me:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total_kb / 1024


STEP_KIND_ENV = "ENGINE_BENCH_STEP_KIND"
"""Not AUTOHUB_*: the workers get no AUTOHUB_ variables."""
NOOP_STEPS = {
    "sync": "def step(ctx):\n    return None\n",
    "async": "async def step(ctx):\n    return None\n",
}
"""autohub's no-op step: ``def`` runs on the runner's own thread in the chains A and B
(``Hub.run`` executes one run, the steps have no timeout and nothing else of the run can
run meanwhile) and in the executor's thread pool in the fan-out C; ``async def`` is
awaited on the event loop."""


def write_autohub_project(root: Path, workload: str, steps: int) -> int:
    """autohub.yaml with the automation ``a`` (and the one-step ``warm``) and noop.py;
    returns the number of steps of ``a``."""
    lines = [
        "project: bench",
        "automations:",
        "  warm:",
        '    steps: [{id: s0, python: "noop:step"}]',
        "  a:",
    ]
    if workload == "C":
        lines += [f"    max_parallel: {min(steps, 1000)}", "    steps:"]
        ids = [f"p{index}" for index in range(steps)]
        lines += [f'      - {{id: {step_id}, python: "noop:step"}}' for step_id in ids]
        lines.append(f'      - {{id: gather, needs: [{", ".join(ids)}], python: "noop:step"}}')
    else:
        lines.append("    steps:")
        for index in range(workload_size(workload, steps)):
            needs = f"[s{index - 1}]" if index else "[]"
            lines.append(f'      - {{id: s{index}, needs: {needs}, python: "noop:step"}}')
    (root / "autohub.yaml").write_text("\n".join(lines) + "\n")
    (root / "noop.py").write_text(NOOP_STEPS[os.environ.get(STEP_KIND_ENV, "sync")])
    return workload_size(workload, steps)


def worker_autohub(
    workdir: Path, workload: str, steps: int, profile: Path | None
) -> dict[str, Any]:
    expected = write_autohub_project(workdir, workload, steps)
    from autohub.hub import Hub

    # The schema, as a user creates it: `autohub db upgrade` in its own process (a run
    # process only checks the revision; Alembic is not loaded into it).
    subprocess.run(
        [sys.executable, "-m", "autohub", "db", "upgrade"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    hub = Hub.from_config(workdir / "autohub.yaml", cwd=workdir)
    hub.require_schema()
    # A loaded engine, as in a running worker and as the peers are timed (workflows
    # declared, DBOS launched, Prefect after a warm-up flow): the registry is loaded and
    # one run of the one-step automation "warm" has imported the engine, its actions and
    # noop.py. Not timed.
    warm = hub.run("warm")
    if warm.state != "succeeded":
        raise RuntimeError(f"the warm-up run {warm.state}: {warm.error}")
    marks: dict[str, float] = {}

    def on_progress(kind: str, _data: dict[str, Any]) -> None:
        if kind in ("run_started", "run_finished"):
            marks[kind] = time.perf_counter()

    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    run = hub.run("a", on_progress=on_progress)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    rss = peak_rss_mb()
    step_rows = hub.runs.steps(run.id)
    attempts = hub.runs.attempts(run.id)
    succeeded = sum(1 for row in step_rows if row.state == "succeeded")
    hub.close()
    ok = run.state == "succeeded" and succeeded == expected and len(attempts) == expected
    phases = {}
    if "run_started" in marks and "run_finished" in marks:
        phases = {
            "before": marks["run_started"] - started,
            "executing": marks["run_finished"] - marks["run_started"],
            "after": started + seconds - marks["run_finished"],
        }
    import autohub

    return {
        "seconds": seconds,
        "ok": ok,
        "check": f"run {run.state}, {succeeded}/{len(step_rows)} step rows succeeded, "
        f"{len(attempts)} attempts",
        "rss_mb": rss,
        "phases": phases,
        "version": getattr(autohub, "__version__", ""),
    }


def worker_dbos(workdir: Path, workload: str, steps: int) -> dict[str, Any]:
    import asyncio
    from importlib.metadata import version

    from dbos import DBOS, SetWorkflowID

    expected = workload_size(workload, steps)
    database = workdir / "dbos.sqlite"
    DBOS(config={"name": "autohub-bench", "system_database_url": f"sqlite:///{database}"})

    @DBOS.step()
    def step() -> None:
        return None

    @DBOS.step()
    async def async_step() -> None:
        return None

    @DBOS.step()
    async def gather_step(results: list[None]) -> int:
        return len(results)

    @DBOS.workflow()
    def chain(count: int) -> int:
        for _ in range(count):
            step()
        return count

    @DBOS.workflow()
    async def fan_out(count: int) -> int:
        tasks = [asyncio.create_task(async_step()) for _ in range(count)]
        results = await asyncio.gather(*tasks)
        gathered: int = await gather_step(list(results))
        return gathered + 1

    DBOS.launch()
    workflow_id = uuid.uuid4().hex
    started = time.perf_counter()
    with SetWorkflowID(workflow_id):
        result = asyncio.run(fan_out(steps)) if workload == "C" else chain(expected)
    seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    status = DBOS.retrieve_workflow(workflow_id).get_status().status
    recorded = len(DBOS.list_workflow_steps(workflow_id))
    DBOS.destroy()
    return {
        "seconds": seconds,
        "ok": status == "SUCCESS" and recorded == expected and result == expected,
        "check": f"workflow {status}, {recorded} steps recorded",
        "rss_mb": rss,
        "version": version("dbos"),
    }


def worker_prefect(workload: str, steps: int) -> dict[str, Any]:
    from importlib.metadata import version

    from prefect import flow, task
    from prefect.futures import wait

    expected = workload_size(workload, steps)

    @task
    def step() -> None:
        return None

    @task
    def gather(results: list[None]) -> int:
        return len(results)

    @flow
    def chain(count: int) -> int:
        states = [step(return_state=True) for _ in range(count)]
        return sum(1 for state in states if state.is_completed())

    @flow
    def fan_out(count: int) -> int:
        futures = [step.submit() for _ in range(count)]
        gathered = gather.submit(futures)
        wait([*futures, gathered])
        completed = sum(1 for future in futures if future.state.is_completed())
        return completed + (1 if gathered.result() == count else 0)

    @flow
    def warm_up() -> None:
        step()

    warm_up()  # starts the ephemeral server; not timed
    started = time.perf_counter()
    state = (
        fan_out(steps, return_state=True) if workload == "C" else chain(expected, return_state=True)
    )
    seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    completed = state.result() if state.is_completed() else 0
    return {
        "seconds": seconds,
        "ok": state.is_completed() and completed == expected,
        "check": f"flow {state.type.value}, {completed} tasks completed",
        "rss_mb": rss,
        "server_rss_mb": children_peak_rss_mb(),
        "version": version("prefect"),
    }


def worker_main(args: argparse.Namespace) -> int:
    """``--worker SYSTEM WORKLOAD``: run one workload, write its result to ``--result``."""
    system, workload = args.worker
    workdir = Path(args.dir)
    result: dict[str, Any]
    try:
        if system == "autohub":
            profile = Path(args.profile_file) if args.profile_file else None
            result = worker_autohub(workdir, workload, args.steps, profile)
        elif system == "dbos":
            result = worker_dbos(workdir, workload, args.steps)
        else:
            result = worker_prefect(workload, args.steps)
    except BaseException as exc:
        result = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            "traceback": traceback.format_exc()[-3000:],
        }
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the parent: peers' virtualenv, processes, report --------------------------------------


@dataclass
class Sample:
    """One process: its workload's wall time (None when it failed) and what it reported."""

    seconds: float | None
    ok: bool
    check: str
    process_seconds: float
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class Peers:
    python: Path | None
    note: str
    versions: dict[str, str] = field(default_factory=dict)


def _run_quiet(argv: Sequence[str], timeout: float = 900) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    output = (done.stdout + done.stderr).strip()
    return done.returncode == 0, output


def _peer_versions(python: Path) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {sorted(PEER_PINS)!r}:\n"
        "    try:\n"
        "        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[name] = ''\n"
        "print(json.dumps(out))\n"
    )
    ok, output = _run_quiet([str(python), "-c", code], timeout=120)
    if not ok:
        return {}
    try:
        versions: dict[str, str] = json.loads(output.splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return versions


def ensure_peers(venv: Path, progress: Callable[[str], None]) -> Peers:
    """The peers' virtualenv with the pinned versions: reused, completed or created."""
    python = venv / "bin" / "python"
    if python.exists() and _peer_versions(python) == PEER_PINS:
        return Peers(python, f"reused {venv}", PEER_PINS)
    pins = [f"{name}=={pin}" for name, pin in PEER_PINS.items()]
    steps: list[tuple[str, list[str]]] = []
    if not python.exists():
        steps.append(("create the virtualenv", [sys.executable, "-m", "venv", str(venv)]))
    uv = venv / "bin" / "uv"
    if not uv.exists():
        steps.append(("install uv", [str(python), "-m", "pip", "install", "--quiet", "uv"]))
    steps.append(
        ("install " + " ".join(pins), [str(uv), "pip", "install", "--python", str(python), *pins])
    )
    for label, argv in steps:
        progress(f"peers: {label}")
        ok, output = _run_quiet(argv)
        if not ok:
            tail = " | ".join(output.splitlines()[-3:])
            return Peers(None, f"could not {label} in {venv}: {tail}")
    versions = _peer_versions(python)
    if versions != PEER_PINS:
        return Peers(None, f"{venv} has {versions}, wanted {PEER_PINS}", versions)
    return Peers(python, f"installed into {venv}", versions)


class Bench:
    """Starts the worker processes and keeps their samples."""

    def __init__(
        self, scratch: Path, steps: int, timeout: float, peers_python: Path | None
    ) -> None:
        self.scratch = scratch
        self.steps = steps
        self.timeout = timeout
        self.peers_python = peers_python
        self.prefect_template = scratch / "prefect-home-template"
        self.counter = 0
        env = {
            key: value
            for key, value in os.environ.items()
            if key != "PYTHONDONTWRITEBYTECODE"
            and not key.startswith(("AUTOHUB_", "PREFECT_", "DBOS_"))
        }
        # The environment may forbid bytecode with no __pycache__ anywhere: every process
        # would compile its imports (autohub imports lazily, inside the timed call).
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        self.env = env

    def run(
        self, system: str, workload: str, *, steps: int | None = None, profile: Path | None = None
    ) -> Sample:
        self.counter += 1
        workdir = self.scratch / f"{self.counter:03d}-{system}-{workload}"
        workdir.mkdir()
        env = dict(self.env)
        python = sys.executable
        if system != "autohub":
            assert self.peers_python is not None
            python = str(self.peers_python)
        if system == "prefect":
            home = workdir / "prefect-home"
            if self.prefect_template.exists():
                shutil.copytree(self.prefect_template, home)
            env.update(
                PREFECT_HOME=str(home),
                PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true",
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600",
            )
        result_file = workdir / "result.json"
        argv = [
            python,
            str(Path(__file__).resolve()),
            "--worker",
            system,
            workload,
            "--dir",
            str(workdir),
            "--steps",
            str(steps or self.steps),
            "--result",
            str(result_file),
        ]
        if profile is not None:
            argv += ["--profile-file", str(profile)]
        log = workdir / "output.log"
        settle()
        started = time.perf_counter()
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                process.wait(timeout=self.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # The worker's own process group (Prefect's server lives there too).
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        elapsed = time.perf_counter() - started
        if system == "prefect" and not self.prefect_template.exists() and result_file.exists():
            shutil.copytree(workdir / "prefect-home", self.prefect_template)
        if timed_out:
            return Sample(None, False, "", elapsed, error=f"killed after {self.timeout:.0f} s")
        try:
            data: dict[str, Any] = json.loads(result_file.read_text())
        except (OSError, ValueError):
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            return Sample(
                None, False, "", elapsed, error=f"exit code {process.returncode}: {tail[-300:]}"
            )
        if "error" in data:
            return Sample(None, False, "", elapsed, data, error=str(data["error"]))
        sample = Sample(float(data["seconds"]), bool(data["ok"]), str(data["check"]), elapsed, data)
        if not sample.ok:
            sample.error = f"check failed: {sample.check}"
        return sample


def _fmt_s(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if seconds < 0.1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.2f} s"


def _fmt_target(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def target_for(workload: str, steps: int) -> tuple[float, bool]:
    """autohub's target for this size, and whether it was scaled from the issue's size."""
    base = TARGET_SECONDS[workload]
    default = workload_size(workload, DEFAULT_STEPS)
    size = workload_size(workload, steps)
    if size == default:
        return base, False
    return base * size / default, True


Samples = dict[tuple[str, str], list[Sample]]


def _good_times(samples: Samples, system: str, workload: str) -> list[float]:
    return [
        s.seconds for s in samples.get((system, workload), []) if s.ok and s.seconds is not None
    ]


def report_workload(
    samples: Samples, systems: Sequence[str], workload: str, steps: int, unavailable: dict[str, str]
) -> None:
    from _common import median, render_table

    target, scaled = target_for(workload, steps)
    print()
    print(f"Workload {workload}: {describe(workload, steps)}")
    reference = _good_times(samples, "autohub", workload)
    base = median(reference) if reference else math.nan
    rows: list[list[str]] = []
    for system in systems:
        runs = samples.get((system, workload), [])
        if system in unavailable:
            rows.append([system, "", "", "", "", "", "", f"not run: {unavailable[system]}"])
            continue
        times = _good_times(samples, system, workload)
        middle = median(times) if times else math.nan
        if system == "autohub":
            ratio = "1.00x" if times else ""
            verdict = (
                ("PASS" if middle <= target else "FAIL")
                + f" (<= {_fmt_target(target)}{', scaled' if scaled else ''})"
                if times
                else "FAIL (no successful run)"
            )
        else:
            ratio = f"{middle / base:.2f}x" if times and not math.isnan(base) else ""
            verdict = f"issue: {ISSUE_FIGURES.get((workload, system), '')}"
        errors = sorted({s.error for s in runs if s.error})
        note = "; ".join(errors) if errors else (runs[-1].check if runs else "")
        rows.append(
            [
                system,
                _fmt_s(middle),
                _fmt_s(min(times)) if times else "n/a",
                _fmt_s(max(times)) if times else "n/a",
                ratio,
                f"{len(times)}/{len(runs)}",
                verdict,
                note,
            ]
        )
    headers = ["system", "median", "min", "max", "peer/autohub", "ok", "target", "check"]
    print(render_table(headers, rows, right="12345"))


def report_rss(samples: Samples, systems: Sequence[str], unavailable: dict[str, str]) -> None:
    from _common import median, render_table

    print()
    print("Peak RSS of the workload-A process (ru_maxrss at the end; Prefect's ephemeral")
    print("server is a child process, shown apart)")
    rows = []
    for system in systems:
        if system in unavailable:
            continue
        runs = [s for s in samples.get((system, "A"), []) if s.ok]
        rss = [float(s.data["rss_mb"]) for s in runs]
        server = [float(s.data["server_rss_mb"]) for s in runs if "server_rss_mb" in s.data]
        if system == "autohub":
            verdict = (
                ("PASS" if median(rss) <= TARGET_RSS_MB else "FAIL")
                + f" (<= {TARGET_RSS_MB:.0f} MB)"
                if rss
                else ""
            )
        else:
            verdict = f"issue: {ISSUE_FIGURES.get(('RSS', system), '')}"
        rows.append(
            [
                system,
                f"{median(rss):.1f}" if rss else "n/a",
                f"{min(rss):.1f}" if rss else "n/a",
                f"{max(rss):.1f}" if rss else "n/a",
                f"+ {median(server):.1f} MB server" if server else "",
                verdict,
            ]
        )
    headers = ["system", "median MB", "min MB", "max MB", "children", "target"]
    print(render_table(headers, rows, right="123"))


def report_phases(samples: Samples, workloads: Sequence[str], steps: int) -> None:
    from _common import median, render_table

    rows = []
    for workload in workloads:
        runs = [s for s in samples.get(("autohub", workload), []) if s.ok and s.data.get("phases")]
        if not runs:
            continue
        phases = {
            name: median([float(s.data["phases"][name]) for s in runs])
            for name in ("before", "executing", "after")
        }
        size = workload_size(workload, steps)
        rows.append(
            [
                workload,
                _fmt_s(phases["before"]),
                _fmt_s(phases["executing"]),
                _fmt_s(phases["after"]),
                f"{phases['executing'] / size * 1e6:,.0f} us",
                _fmt_s(median([s.process_seconds for s in runs])),
            ]
        )
    if rows:
        print()
        print("autohub's time inside hub.run (medians): before the run starts executing (params,")
        print("definition, run and step rows, claim), executing the steps, and after;")
        print("and the whole worker process (interpreter, imports, setup, run, checks)")
        headers = ["workload", "before", "executing", "after", "per step", "whole process"]
        print(render_table(headers, rows, right="12345"))


def profile_autohub(bench: Bench, workloads: Sequence[str], directory: Path, top: int) -> None:
    """One cProfile'd autohub process per workload: .prof files and the top functions."""
    import io
    import pstats

    directory.mkdir(parents=True, exist_ok=True)
    for workload in workloads:
        path = directory / f"autohub-{workload}.prof"
        sample = bench.run("autohub", workload, profile=path)
        print()
        if not path.exists():
            print(f"profile of workload {workload}: failed ({sample.error})")
            continue
        print(
            f"cProfile of autohub, workload {workload} ({_fmt_s(sample.seconds or math.nan)} "
            f"under the profiler; main thread only): {path}"
        )
        for key in ("tottime", "cumulative"):
            stream = io.StringIO()
            stats = pstats.Stats(str(path), stream=stream)
            stats.strip_dirs().sort_stats(key).print_stats(top)
            text = stream.getvalue()
            body = text[text.index("ncalls") :] if "ncalls" in text else text
            print(f"-- top {top} by {key}")
            print(body.rstrip())


def parse_systems(values: Sequence[str] | None) -> list[str]:
    if not values:
        return list(SYSTEMS)
    chosen: list[str] = []
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if name not in SYSTEMS:
                raise SystemExit(
                    f"--only: unknown system {name!r} (choose from {', '.join(SYSTEMS)})"
                )
            if name not in chosen:
                chosen.append(name)
    return [name for name in SYSTEMS if name in chosen]


def parse_workloads(value: str) -> list[str]:
    chosen = [name.strip().upper() for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"--workloads: unknown {unknown} (choose from {', '.join(WORKLOADS)})")
    return [name for name in WORKLOADS if name in chosen]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SYSTEM",
        help="systems to run (autohub, dbos, prefect; repeat or comma-separate); default all",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="fresh processes per workload and system"
    )
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help="steps of A and C (B: min(40, N))"
    )
    parser.add_argument("--workloads", default="A,B,C", help="comma-separated subset of A,B,C")
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="afterwards, one cProfile'd autohub process per workload: .prof files in DIR",
    )
    parser.add_argument("--profile-top", type=int, default=25, help="functions shown per profile")
    parser.add_argument(
        "--step-kind",
        choices=sorted(NOOP_STEPS),
        default="sync",
        help="autohub's no-op step: def (the default: the runner's thread in a chain, the "
        "thread pool in the fan-out) or async def (event loop)",
    )
    # The worker side (internal).
    parser.add_argument("--worker", nargs=2, metavar=("SYSTEM", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--profile-file", help=argparse.SUPPRESS)
    return parser


REPO = Path(__file__).resolve().parent.parent


def setup_peers(systems: Sequence[str], venv: Path, unavailable: dict[str, str]) -> Path | None:
    """The peers' python, or None (and why, in ``unavailable``) when they cannot run."""
    from _common import progress

    wanted = [name for name in systems if name in PEERS]
    if not wanted:
        return None
    peers = ensure_peers(venv, progress)
    if peers.python is None:
        for name in wanted:
            unavailable[name] = peers.note
        print(f"peers: NOT AVAILABLE: {peers.note}")
        return None
    listed = ", ".join(f"{name} {version}" for name, version in sorted(peers.versions.items()))
    print(f"peers: {listed} ({peers.note})")
    return peers.python


def measure(
    bench: Bench,
    active: list[str],
    workloads: Sequence[str],
    repeat: int,
    unavailable: dict[str, str],
) -> Samples:
    """Warm-ups, then ``repeat`` rounds of every workload with the systems in turn."""
    from _common import progress

    for system in list(active):
        progress(f"warm-up: {system}")
        sample = bench.run(system, "A", steps=min(bench.steps, 10))
        if not sample.ok:
            reason = f"the warm-up failed: {sample.error or sample.check}"
            unavailable[system] = reason
            active.remove(system)
            print(f"{system}: NOT RUN: {reason}")
    samples: Samples = {}
    for round_number in range(1, repeat + 1):
        for workload in workloads:
            for system in active:
                progress(f"round {round_number}/{repeat}: {system} {workload}")
                sample = bench.run(system, workload)
                samples.setdefault((system, workload), []).append(sample)
                shown = _fmt_s(sample.seconds) if sample.seconds is not None else "failed"
                progress(f"   {shown}{'' if sample.ok else ' ' + sample.error}")
    return samples


def source_fingerprint() -> tuple[tuple[str, int, int], ...]:
    """Path, mtime and size of autohub's source files: a change during the run shows."""
    import autohub

    root = Path(autohub.__file__).resolve().parent
    return tuple(
        (str(path), path.stat().st_mtime_ns, path.stat().st_size)
        for path in sorted(root.rglob("*.py"))
    )


def source_version() -> str:
    """The repository's commit, and whether src/ has uncommitted changes."""
    ok, commit = _run_quiet(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], 30)
    if not ok:
        return "unknown commit"
    ok, dirty = _run_quiet(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], 30)
    return commit + (" + uncommitted changes in src/" if ok and dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(args)

    from _common import command_line, load_average

    systems = parse_systems(args.only)
    workloads = parse_workloads(args.workloads)
    steps = max(1, args.steps)
    repeat = max(1, args.repeat)

    os.environ[STEP_KIND_ENV] = args.step_kind  # the workers inherit it
    print(f"autohub engine benchmark: {command_line()}")
    print(
        f"autohub: {source_version()}; its no-op step: {NOOP_STEPS[args.step_kind].splitlines()[0]}"
    )
    fingerprint = source_fingerprint()
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average at start: "
        f"{load_average()}"
    )
    print(
        f"{repeat} fresh process(es) per workload and system, interleaved, after one warm-up "
        "process per system; SQLite everywhere"
    )

    unavailable: dict[str, str] = {}
    peers_python = setup_peers(systems, args.peers_venv, unavailable)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autohub-engine-bench-") as scratch_name:
        bench = Bench(Path(scratch_name), steps, args.timeout, peers_python)
        active = [name for name in systems if name not in unavailable]
        samples = measure(bench, active, workloads, repeat, unavailable)

        for workload in workloads:
            report_workload(samples, systems, workload, steps, unavailable)
        if "A" in workloads:
            report_rss(samples, systems, unavailable)
        report_phases(samples, workloads, steps)
        print()
        print(
            f"load average at the end: {load_average()}; "
            f"{(time.monotonic() - started) / 60:.1f} minutes"
        )
        if source_fingerprint() != fingerprint:
            print(
                "WARNING: autohub's source changed during the run: "
                "the figures mix versions; run again"
            )
        for line in DURABILITY_NOTE:
            print(line)
        if args.profile is not None and "autohub" in active:
            profile_autohub(bench, workloads, args.profile, args.profile_top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
