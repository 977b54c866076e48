"""The gate end to end on sample repositories, one per decision; and what the runner does
with a crashing, a disabled or an unasked-for check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gate_samples import go_repo, no_go_repo, warning_repo

from autohub.config import GateConfig
from autohub.errors import InvalidInput
from autohub.gate import checks
from autohub.gate.checks import Target
from autohub.gate.report import CheckResult, GateReport
from autohub.gate.runner import run_gate

SAMPLES: list[tuple[Callable[[Path], Path], str, int, str]] = [
    (go_repo, "GO", 100, "GO (confidence 100)"),
    (
        warning_repo,
        "WARNING",
        95,
        "WARNING (confidence 95): performance missing: no benchmark: set "
        "gate.performance.command or add benchmarks.py",
    ),
    (no_go_repo, "NO-GO", 70, "NO-GO (confidence 70): tests failed: 1 of 2 tests failed"),
]


def gate(
    tree: Path,
    environ: dict[str, str],
    *,
    config: dict[str, Any] | None = None,
    only: list[str] | None = None,
) -> GateReport:
    settings = GateConfig.model_validate(config or {})
    return asyncio.run(run_gate(tree, settings, environ=environ, only=only))


@pytest.mark.parametrize(("build", "decision", "confidence", "summary"), SAMPLES)
def test_each_sample_repository_gets_its_decision(
    tmp_path: Path,
    environ: dict[str, str],
    build: Callable[[Path], Path],
    decision: str,
    confidence: int,
    summary: str,
) -> None:
    report = gate(build(tmp_path), environ)

    assert (report.decision, report.confidence, report.summary()) == (
        decision,
        confidence,
        summary,
    )
    data = report.to_dict()
    assert list(data["checks"]) == [
        "tests", "security", "documentation", "performance", "integration", "rollback",
    ]  # fmt: skip
    assert data["path"] == str(tmp_path)
    assert data["checks"]["integration"]["status"] == "passed"
    assert (
        data["checks"]["tests"]["evidence"]["passed"]
        + data["checks"]["tests"]["evidence"]["failed"]
        == 2
    )
    assert report.duration_seconds >= max(c.duration_seconds for c in report.checks)


def test_a_crashing_check_fails_with_its_reason_and_the_others_still_run(
    tmp_path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(target: Target, settings: object) -> CheckResult:
        raise RuntimeError("disk vanished\nsecond line")

    monkeypatch.setitem(checks.CHECKS, "documentation", crash)

    report = gate(go_repo(tmp_path), environ, only=["documentation", "rollback"])

    by_name = {check.name: check for check in report.checks}
    assert (by_name["documentation"].status, by_name["documentation"].reason) == (
        "failed",
        "the check crashed: RuntimeError: disk vanished",
    )
    assert by_name["rollback"].status == "passed"
    assert report.decision == "NO-GO"


def test_disabled_and_unasked_checks_are_skipped_and_unknown_ones_refused(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    config = {"tests": {"enabled": False}, "integration": {"enabled": False}}

    report = gate(warning_repo(tmp_path), environ, config=config, only=["tests", "rollback"])

    assert [(c.name, c.status, c.reason) for c in report.checks] == [
        ("tests", "skipped", "disabled (gate.tests.enabled: false)"),
        ("security", "skipped", "not asked for"),
        ("documentation", "skipped", "not asked for"),
        ("performance", "skipped", "not asked for"),
        ("integration", "skipped", "not asked for"),
        ("rollback", "passed", "ROLLBACK.md present"),
    ]
    assert (report.decision, report.confidence) == ("GO", 10)
    with pytest.raises(InvalidInput, match="checks: speed not among tests, security"):
        gate(tmp_path, environ, only=["speed"])
