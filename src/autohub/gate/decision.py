"""The decision table and the confidence.

Decision: **GO** when no check failed; **WARNING** when the only problems are the
performance check failing or having no benchmark to run; **NO-GO** otherwise, a single
failed non-performance check included (the seed's table says nothing of that case: a
tree whose tests, secret scan, documentation, integration tests or rollback plan fail is
not ready, whatever the rest says).

Confidence: how much of the evidence a release wants is there and good, 0-100: the sum
of each check's weight times its score (passed 1, missing 0.5, failed or skipped 0). The
weights add up to 100, so a GO from every check is 100, and a GO from fewer checks (some
disabled, or a subset asked for) is less.
"""

from __future__ import annotations

from collections.abc import Iterable

from autohub.gate.report import CheckResult, CheckStatus, Decision

WEIGHTS: dict[str, int] = {
    "tests": 30,
    "security": 25,
    "integration": 15,
    "documentation": 10,
    "rollback": 10,
    "performance": 10,
}
"""How much each check counts towards the confidence (they add up to 100)."""
WARN_ONLY = frozenset({"performance"})
"""Checks whose failure (or absence) is a WARNING, not a NO-GO."""
SCORES: dict[CheckStatus, float] = {"passed": 1.0, "missing": 0.5, "failed": 0.0, "skipped": 0.0}


def decide(checks: Iterable[CheckResult]) -> Decision:
    """GO, WARNING or NO-GO from the checks' statuses (skipped checks do not count)."""
    worst: Decision = "GO"
    for check in checks:
        if check.status in ("failed", "missing"):
            if check.name not in WARN_ONLY:
                return "NO-GO"
            worst = "WARNING"
    return worst


def confidence(checks: Iterable[CheckResult]) -> int:
    """The weighted share of the six checks that passed (a missing one counts half)."""
    score = sum(WEIGHTS[check.name] * SCORES[check.status] for check in checks)
    return max(0, min(100, round(score)))
