#!/usr/bin/env python3
"""Hook benchmark: one ``autohub hook claude-code`` call, Python start and the database
write included, next to the floor of any Python hook.

Every row is a fresh process fed a payload from tests/fixtures/claude-hooks on stdin (the wall
time of ``subprocess.run``), ``--warmup`` times first and then ``--runs`` times, in a
scratch project made with ``autohub init`` and ``autohub db upgrade``. Rows:

* ``python -c pass``: the interpreter's start;
* ``peer: minimal hook``: a standard-library script that parses the JSON and inserts one
  row into a SQLite file, the least any Python hook that records something does;
* ``autohub PreToolUse Bash``: the policy check, no write (fast start);
* ``autohub PostToolUse Bash``: detection and its event written (fast start; the first
  call completes an in-progress todo, the next ones record ``no_action_taken``);
* ``autohub PostToolUse Bash, normal route``: the same without the cached settings (the
  cache is deleted before each call, outside the timing): configuration, pydantic and
  SQLAlchemy loaded, as on the first call after autohub.yaml changes;
* ``... PostgreSQL``: the normal route on PostgreSQL (a PostgreSQL store has no fast
  start), when ``--postgres-url`` or ``AUTOHUB_TEST_POSTGRES_URL`` names a server.

The target (issue 5): a median of 80 ms or less per call, on the embedded default store
(SQLite). Every autohub call is checked (exit 0, nothing on stdout) and the events it
wrote are counted at the end, so a broken hook cannot look fast.

    python benchmarks/hook.py                  # 30 runs after 3 warm-ups
    python benchmarks/hook.py --runs 60

It exits 0 whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

TARGET_MS = 80.0
PYTHON = sys.executable
PAYLOADS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "claude-hooks"
AUTOHUB = [PYTHON, "-m", "autohub"]
MINIMAL_HOOK = """
import json, sqlite3, sys
payload = json.loads(sys.stdin.buffer.read())
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute(
    "INSERT INTO calls (tool, body) VALUES (?, ?)",
    (payload.get("tool_name"), json.dumps(payload)),
)
connection.execute("COMMIT")
"""


@dataclass
class Row:
    label: str
    times: list[float]
    note: str = ""
    target: bool = False


def time_calls(
    argv: Sequence[str],
    payload: Path | None,
    *,
    runs: int,
    warmup: int,
    env: dict[str, str],
    cwd: Path,
    before: Callable[[], None] | None = None,
) -> tuple[list[float], str]:
    """Wall times of ``runs`` fresh processes fed ``payload``; the error if one failed."""
    data = payload.read_bytes() if payload else b""
    times: list[float] = []
    for index in range(warmup + runs):
        if before is not None:
            before()
        start = time.perf_counter()
        done = subprocess.run(
            list(argv), input=data, env=env, cwd=cwd, capture_output=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0 or done.stdout:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()
            return times, f"exit {done.returncode}: {detail[-200:]}"
        if index >= warmup:
            times.append(elapsed)
    return times, ""


def scratch_project(root: Path, env: dict[str, str], database_url: str | None) -> Path:
    """``autohub init proj`` in ``root``, migrated, with one todo in progress."""
    run_env = dict(env)
    if database_url:
        run_env["AUTOHUB_DATABASE_URL"] = database_url
    subprocess.run(
        [*AUTOHUB, "init", "proj"], cwd=root, env=run_env, check=True, capture_output=True
    )
    project = root / "proj"
    for command in (["db", "upgrade"], ["todo", "add", "Run the test suite", "--start"]):
        subprocess.run(
            [*AUTOHUB, *command], cwd=project, env=run_env, check=True, capture_output=True
        )
    return project


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get("AUTOHUB_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="autohub-hook-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHUB_")}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")  # bytecode, as an install has it
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    project = scratch_project(work, env, None)
    env["CLAUDE_PROJECT_DIR"] = str(project)
    post = PAYLOADS / "posttooluse-bash.json"
    pre = PAYLOADS / "pretooluse-bash.json"
    hook = [*AUTOHUB, "hook", "claude-code"]
    cache = project / ".autohub" / "hook-settings.json"
    timing = {"runs": args.runs, "warmup": args.warmup, "env": env, "cwd": project}

    peer_db = work / "peer.db"
    with sqlite3.connect(peer_db) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, tool TEXT, body TEXT)")
    (work / "minimal_hook.py").write_text(MINIMAL_HOOK)

    rows: list[Row] = []

    def measure(label: str, command: Sequence[str], payload: Path | None, **extra: object) -> None:
        print(f"  .. {label}", file=sys.stderr, flush=True)
        target = bool(extra.pop("target", False))
        times, error = time_calls(command, payload, **{**timing, **extra})  # type: ignore[arg-type]
        rows.append(Row(label, times, error, target))

    measure("python -c pass", [PYTHON, "-c", "pass"], None)
    measure(
        "peer: minimal hook (json + sqlite3 insert)",
        [PYTHON, str(work / "minimal_hook.py"), str(peer_db)],
        post,
    )
    measure("autohub PreToolUse Bash (fast start)", hook, pre)
    measure("autohub PostToolUse Bash (fast start)", hook, post, target=True)
    measure(
        "autohub PostToolUse Bash, normal route",
        hook,
        post,
        before=lambda: cache.unlink(missing_ok=True),
    )
    if args.postgres_url:
        (work / "pg").mkdir()
        pg_project = scratch_project(work / "pg", env, args.postgres_url)
        measure(
            "autohub PostToolUse Bash, PostgreSQL (normal route)",
            hook,
            post,
            env={
                **env,
                "CLAUDE_PROJECT_DIR": str(pg_project),
                "AUTOHUB_DATABASE_URL": args.postgres_url,
            },
            cwd=pg_project,
        )

    report(rows, project)
    return 0


def report(rows: list[Row], project: Path) -> None:
    floor = statistics.median(rows[0].times) if rows[0].times else float("nan")
    print(f"autohub hook claude-code: {rows[0].times and len(rows[0].times)} runs each")
    header = f"{'call':<52} {'median ms':>10} {'p90 ms':>8} {'x python':>9}  result"
    print(header)
    print("-" * len(header))
    for row in rows:
        if not row.times:
            print(f"{row.label:<52} {'-':>10} {'-':>8} {'-':>9}  FAILED {row.note}")
            continue
        median = statistics.median(row.times)
        p90 = (
            statistics.quantiles(row.times, n=10, method="inclusive")[8]
            if len(row.times) > 1
            else median
        )
        verdict = (
            ("PASS" if median * 1000 <= TARGET_MS else "FAIL") + f" (< {TARGET_MS:g} ms)"
            if row.target
            else ""
        )
        note = f"  {row.note}" if row.note else ""
        figures = f"{median * 1000:>10.1f} {p90 * 1000:>8.1f} {median / floor:>9.1f}"
        print(f"{row.label:<52} {figures}  {verdict}{note}")
    with sqlite3.connect(project / ".autohub" / "autohub.db") as connection:
        counts = dict(
            connection.execute(
                "SELECT event_type, count(*) FROM automation_events GROUP BY event_type"
            ).fetchall()
        )
    print(f"events written in the SQLite project: {counts}")


if __name__ == "__main__":
    raise SystemExit(main())
