"""The six checks, by name. Each is ``async (target, settings) -> CheckResult`` and
judges one thing; the runner times it and turns a crash into a failed result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autohub.gate.checks.commands import integration, performance, tests
from autohub.gate.checks.files import documentation, rollback
from autohub.gate.checks.security import security
from autohub.gate.checks.target import Target
from autohub.gate.report import CheckResult

Check = Callable[[Target, Any], Awaitable[CheckResult]]

CHECKS: dict[str, Check] = {
    "tests": tests,
    "security": security,
    "documentation": documentation,
    "performance": performance,
    "integration": integration,
    "rollback": rollback,
}
"""Every check, by its name in ``gate:`` (the order of ``GATE_CHECKS``)."""
COMMAND_CHECKS = ("tests", "integration", "performance")
"""The checks that run a command in the tree: one at a time, so that they do not compete
for the machine (the benchmark above all)."""

__all__ = ["CHECKS", "COMMAND_CHECKS", "Check", "Target"]
