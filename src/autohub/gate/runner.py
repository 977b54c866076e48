"""Running the gate: every check in its own failure domain, then the decision.

The command checks (tests, integration, performance) run one after the other; the
secret scan, documentation and rollback checks run beside them. A check that raises is
a failed check saying why; a check's command that outlives its timeout is stopped with
its whole process group and fails the check. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path

from autohub.clock import Clock, utcnow
from autohub.config import GateConfig
from autohub.errors import InvalidInput
from autohub.gate.checks import CHECKS, COMMAND_CHECKS, Target
from autohub.gate.decision import confidence, decide
from autohub.gate.report import CheckResult, GateReport
from autohub.registry.actions import GATE_CHECKS

logger = logging.getLogger("autohub.gate")


def chosen_checks(only: Collection[str] | None, label: str = "checks") -> frozenset[str]:
    """The checks to run: ``only`` (validated; ``label`` names it in errors), or all six."""
    if not only:
        return frozenset(GATE_CHECKS)
    unknown = sorted(set(only) - set(GATE_CHECKS))
    if unknown:
        raise InvalidInput(f"{label}: {', '.join(unknown)} not among {', '.join(GATE_CHECKS)}")
    return frozenset(only)


async def run_gate(
    tree: Path,
    config: GateConfig,
    *,
    only: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock = utcnow,
) -> GateReport:
    """Check ``tree`` (an existing directory) under ``config``; ``only`` limits the checks
    (the others are ``skipped``), ``environ`` is the commands' environment (default:
    this process's)."""
    chosen = chosen_checks(only)
    target = Target(tree.resolve(), dict(os.environ if environ is None else environ))
    checked_at, started = clock(), time.monotonic()

    async def one(name: str) -> CheckResult:
        if name not in chosen:
            return CheckResult(name, "skipped", "not asked for")
        settings = getattr(config, name)
        if not settings.enabled:
            return CheckResult(name, "skipped", f"disabled (gate.{name}.enabled: false)")
        began = time.monotonic()
        try:
            result = await CHECKS[name](target, settings)
        except Exception as exc:  # a crashed check fails, with its reason
            # At INFO: the traceback goes to logs that ask for it, never to a CLI's screen.
            logger.info("the %s check crashed", name, exc_info=True)
            result = CheckResult(name, "failed", f"the check crashed: {_describe(exc)}")
        return dataclasses.replace(result, duration_seconds=time.monotonic() - began)

    async def in_turn() -> list[CheckResult]:
        return [await one(name) for name in COMMAND_CHECKS]

    others = [name for name in GATE_CHECKS if name not in COMMAND_CHECKS]
    commands, rest = await asyncio.gather(in_turn(), asyncio.gather(*map(one, others)))
    by_name = {result.name: result for result in (*commands, *rest)}
    checks = tuple(by_name[name] for name in GATE_CHECKS)
    return GateReport(
        path=str(target.tree),
        decision=decide(checks),
        confidence=confidence(checks),
        checks=checks,
        checked_at=checked_at,
        duration_seconds=time.monotonic() - started,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
