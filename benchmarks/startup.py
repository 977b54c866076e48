#!/usr/bin/env python3
"""Startup benchmark: the cold start of ``autohub --version`` next to its peers.

Each command is run as a fresh process (the wall time of ``subprocess.run``, output
discarded), ``--warmup`` times first and then ``--runs`` times; the table gives the
median, min and p90 in milliseconds and the ratio to ``python -c pass`` (the
interpreter's floor). ``autohub --version`` is checked against the 150 ms target;
``autohub --help`` and ``autohub validate`` on the example project (they import
Typer, pydantic and the registry) are informational, as are the peers:
``python -m pip --version`` and ``celery --version`` / ``prefect version`` /
``dbos version`` when those are installed (on PATH or in this venv).

Bytecode: an installed package ships its ``.pyc`` files. This environment may set
PYTHONDONTWRITEBYTECODE with no ``__pycache__`` anywhere, which would make every
process compile its imports again; the measured processes therefore get a private
PYTHONPYCACHEPREFIX (filled by the warm-ups) and bytecode writing on. One extra row
shows ``autohub --version`` with no bytecode at all, for comparison.

Finally it prints the ten slowest imports (cumulative) of
``python -X importtime -c "import autohub.cli; autohub.cli.main(['--version'])"``, so
that an import creeping into the ``--version`` path is visible.

    python benchmarks/startup.py              # 20 runs after 2 warm-ups
    python benchmarks/startup.py --runs 50

It exits 0 whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TARGET_MS = 150.0
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
PEERS = (("celery", ["--version"]), ("prefect", ["version"]), ("dbos", ["version"]))


@dataclass
class Measured:
    label: str
    times: list[float]  # seconds
    note: str = ""
    target: float | None = None  # milliseconds

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def minimum(self) -> float:
        return min(self.times)

    @property
    def p90(self) -> float:
        if len(self.times) < 2:
            return self.times[0]
        return statistics.quantiles(self.times, n=10, method="inclusive")[8]


def find_command(name: str) -> str | None:
    """``name`` on PATH, else in this interpreter's bin directory."""
    return shutil.which(name) or shutil.which(name, path=str(VENV_BIN))


def time_command(
    argv: Sequence[str], *, runs: int, warmup: int, env: dict[str, str], cwd: Path
) -> tuple[list[float], str]:
    """Wall times of ``runs`` fresh processes; the error text if the command failed."""
    times: list[float] = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        completed = subprocess.run(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if completed.returncode != 0:
            error = completed.stderr.decode(errors="replace").strip().splitlines()
            return times, f"exit {completed.returncode}: {error[-1] if error else ''}"
        if index >= warmup:
            times.append(elapsed)
    return times, ""


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if not math.isnan(seconds) else "n/a"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: str) -> str:
    """A plain-text table; columns whose index is in ``right`` align right."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if str(index) in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def importtime_top(env: dict[str, str], cwd: Path, count: int = 10) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of the slowest imports of the --version path."""
    code = "import autohub.cli; autohub.cli.main(['--version'])"
    subprocess.run([PYTHON, "-c", code], env=env, cwd=cwd, capture_output=True, check=False)
    completed = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:count]


Command = tuple[str, "list[str] | None", dict[str, str], Path, "float | None", str]


def build_commands(autohub: str, scratch: Path) -> list[Command]:
    """(label, argv or None if not installed, env, cwd, target ms, note) of every row."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONDONTWRITEBYTECODE" and not key.startswith("AUTOHUB_")
    }
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    no_bytecode_env = {
        **env,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": str(scratch / "empty-pycache"),
    }
    example = scratch / "example"
    example.mkdir()
    from autohub.scaffold import scaffold

    scaffold(example, "example")
    example_env = {**env, "AUTOHUB_DATABASE_URL": f"sqlite:///{scratch / 'unused.db'}"}

    commands: list[Command] = [
        ("python -c pass", [PYTHON, "-c", "pass"], env, scratch, None, "the floor"),
        ("autohub --version", [autohub, "--version"], env, scratch, TARGET_MS, ""),
        ("autohub --version (no .pyc)", [autohub, "--version"], no_bytecode_env, scratch,
         None, "compiles its imports each time"),
        ("autohub --help", [autohub, "--help"], env, scratch, None, "typer + rich"),
        ("autohub validate (example)", [autohub, "validate"], example_env, example, None,
         "config, registry, the project's module"),
        ("python -m pip --version", [PYTHON, "-m", "pip", "--version"], env, scratch, None,
         "peer"),
    ]  # fmt: skip
    for name, peer_args in PEERS:
        found = find_command(name)
        label = f"{name} {' '.join(peer_args)}"
        commands.append((label, [found, *peer_args] if found else None, env, scratch, None, "peer"))
    return commands


def result_rows(results: list[Measured]) -> list[list[str]]:
    floor = results[0].median
    rows = []
    for result in results:
        if result.note.startswith("failed"):
            verdict = "FAIL (did not run)" if result.target is not None else ""
            rows.append([result.label, "", "", "", "", verdict, result.note])
            continue
        verdict = ""
        if result.target is not None:
            ok = result.median * 1000 <= result.target
            verdict = f"{'PASS' if ok else 'FAIL'} (<= {result.target:.0f} ms)"
        rows.append(
            [
                result.label,
                fmt_ms(result.median),
                fmt_ms(result.minimum),
                fmt_ms(result.p90),
                f"{result.median / floor:.1f}x",
                verdict,
                result.note,
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs first")
    args = parser.parse_args(argv)
    runs, warmup = max(1, args.runs), max(0, args.warmup)

    local = VENV_BIN / "autohub"
    autohub = str(local) if local.exists() else find_command("autohub")
    if autohub is None:
        print("autohub is not installed in this environment (pip install -e .)")
        return 0

    with tempfile.TemporaryDirectory(prefix="autohub-startup-") as scratch:
        commands = build_commands(autohub, Path(scratch))
        print(f"autohub startup: {runs} runs after {warmup} warm-ups, fresh processes")
        try:
            load = f", load average {os.getloadavg()[0]:.2f}"
        except OSError:
            load = ""
        print(f"python {platform.python_version()} ({PYTHON}), {os.cpu_count()} CPUs{load}")
        results: list[Measured] = []
        missing: list[str] = []
        for label, command, env, cwd, target, note in commands:
            if command is None:
                missing.append(label)
                continue
            print(f"  .. {label}", file=sys.stderr, flush=True)
            times, error = time_command(command, runs=runs, warmup=warmup, env=env, cwd=cwd)
            if error:
                results.append(Measured(label, [math.nan], f"failed: {error}", target))
            else:
                results.append(Measured(label, times, note, target))

        rows = result_rows(results)
        rows += [[label, "", "", "", "", "", "not installed"] for label in missing]
        headers = ["command", "median ms", "min ms", "p90 ms", "vs python", "target", "note"]
        print()
        print(render_table(headers, rows, right="1234"))

        print()
        print("slowest imports of `import autohub.cli; autohub.cli.main(['--version'])`")
        print("(python -X importtime, cumulative, microseconds):")
        top = importtime_top(commands[1][2], Path(scratch))
        table = [[f"{c:,}", f"{s:,}", name] for c, s, name in top]
        print(render_table(["cumulative us", "self us", "module"], table, right="01"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
