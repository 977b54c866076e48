"""The checks that run a command in the tree: tests, integration and performance.

Tests and integration tests are judged by their JUnit XML counts when the command
writes ``{junit}`` (else by the exit code): a failed or erroring test fails the check,
and so does a run that collected no test at all (pytest's exit code 5: a suite that
tests nothing proves nothing). The benchmark is judged by its exit code; without one the
performance check is ``missing`` (a warning).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autohub.config import GateIntegrationCheck, GatePerformanceCheck, GateTestsCheck
from autohub.gate.checks.target import Target
from autohub.gate.command import JUNIT, PYTHON, CommandOutcome, run_command
from autohub.gate.report import CheckResult

BENCHMARK_FILE = "benchmarks.py"
PYTEST = (PYTHON, "-m", "pytest", "-q", f"--junitxml={JUNIT}")
"""The command the integration tests run with when ``gate.integration.command`` is unset
(the files the glob finds are appended)."""


async def tests(target: Target, settings: GateTestsCheck) -> CheckResult:
    """The test suite passes, and it tested something."""
    command = settings.command or list(PYTEST)
    outcome, evidence = await _run("tests", command, target, settings.timeout_seconds)
    return _judge_tests("tests", outcome, evidence)


async def integration(target: Target, settings: GateIntegrationCheck) -> CheckResult:
    """The integration tests (``glob``, or the configured command) pass."""
    command, found_by = settings.command, {}
    if command is None:
        found_by = {"glob": settings.glob}
        files = _integration_files(target.tree, settings.glob)
        if not files:
            return CheckResult(
                "integration",
                "failed",
                f"no integration tests: nothing matches {settings.glob}",
                {**found_by, "files": []},
            )
        command = [*PYTEST, *files]
    outcome, evidence = await _run("integration", command, target, settings.timeout_seconds)
    return _judge_tests("integration", outcome, {**found_by, **evidence})


async def performance(target: Target, settings: GatePerformanceCheck) -> CheckResult:
    """The benchmark (the configured command, else ``benchmarks.py``) runs to exit 0."""
    command = settings.command
    if command is None and (target.tree / BENCHMARK_FILE).is_file():
        command = [PYTHON, BENCHMARK_FILE]
    if command is None:
        return CheckResult(
            "performance",
            "missing",
            f"no benchmark: set gate.performance.command or add {BENCHMARK_FILE}",
            {"command": None},
        )
    outcome, evidence = await _run("performance", command, target, settings.timeout_seconds)
    evidence["output_tail"] = outcome.tail()  # the benchmark's figures, pass or fail
    if not outcome.ok:
        return CheckResult("performance", "failed", _failure(outcome), evidence)
    return CheckResult("performance", "passed", "the benchmark ran to exit code 0", evidence)


async def _run(
    label: str, command: Sequence[str], target: Target, timeout_seconds: float
) -> tuple[CommandOutcome, dict[str, Any]]:
    """Run a check's command; its outcome and the evidence every command check gives."""
    started = time.monotonic()
    outcome = await run_command(
        command,
        target.tree,
        timeout_seconds=timeout_seconds,
        environ=target.environ,
        label=label,
    )
    evidence: dict[str, Any] = {
        "command": list(command),
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    return outcome, evidence


def _judge_tests(name: str, outcome: CommandOutcome, evidence: dict[str, Any]) -> CheckResult:
    counts = outcome.counts
    evidence.update(
        passed=counts.passed if counts else None,
        failed=counts.failures if counts else None,
        errors=counts.errors if counts else None,
        skipped=counts.skipped if counts else None,
    )
    if outcome.timed_out or outcome.exit_code is None:
        reason = _failure(outcome)
    elif counts is not None and counts.failed:
        reason = f"{counts.failed} of {counts.tests} tests failed"
        if counts.errors:
            reason += f" ({counts.errors} with errors)"
    elif counts is not None and counts.tests == 0:
        reason = "no tests collected"
    elif not outcome.ok:
        reason = _failure(outcome)
    else:
        done = f"{counts.passed} passed" if counts else "exited with code 0 (no JUnit counts)"
        if counts and counts.skipped:
            done += f", {counts.skipped} skipped"
        return CheckResult(name, "passed", done, evidence)
    evidence["output_tail"] = outcome.tail()
    return CheckResult(name, "failed", reason, evidence)


def _failure(outcome: CommandOutcome) -> str:
    return outcome.error or f"exited with code {outcome.exit_code}"


def _integration_files(tree: Path, pattern: str) -> list[str]:
    """The files ``pattern`` matches in the tree, relative to it (none outside it)."""
    try:
        matches = sorted(tree.glob(pattern))
    except (NotImplementedError, ValueError):  # an absolute or empty pattern
        return []
    return [
        match.relative_to(tree).as_posix()
        for match in matches
        if match.is_file() and match.resolve().is_relative_to(tree)
    ]
