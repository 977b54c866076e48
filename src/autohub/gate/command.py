"""A configured command run in the checked tree, as a shell step runs its argv: in a
process group of its own that is stopped whole on timeout or cancellation, stdin from
/dev/null, output captured (and capped).

``{python}`` in an argument is this interpreter; ``{junit}`` a JUnit XML path in a
scratch directory of the gate's, read back for exact test counts.
"""

from __future__ import annotations

import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from autohub.engine.actions import shell
from autohub.engine.actions.base import ActionRequest, Limits
from autohub.engine.context import StepContext

PYTHON = "{python}"
JUNIT = "{junit}"
OUTPUT_BYTES = 256 * 1024
"""What is kept of each of stdout and stderr (the tail shown in the evidence is cut
from it)."""
TAIL_LINES = 15
TAIL_CHARS = 2000


@dataclass(frozen=True)
class JunitCounts:
    """Counts from a JUnit XML report."""

    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def passed(self) -> int:
        return max(0, self.tests - self.failures - self.errors - self.skipped)

    @property
    def failed(self) -> int:
        return self.failures + self.errors


@dataclass(frozen=True)
class CommandOutcome:
    """How a command ended: an exit code, or ``error`` saying why there is none."""

    exit_code: int | None
    error: str | None
    """One line; None when the command exited 0."""
    timed_out: bool
    counts: JunitCounts | None
    """From ``{junit}``, when the command has it and wrote the file."""
    output: str
    """stdout then stderr."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def tail(self) -> str:
        """The last lines of the output, for the evidence of a failed check."""
        lines = self.output.rstrip().splitlines()[-TAIL_LINES:]
        text = "\n".join(lines)
        return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


def expand(template: Sequence[str], junit: Path) -> list[str]:
    """The argv of a configured command, placeholders replaced."""
    return [
        argument.replace(PYTHON, sys.executable).replace(JUNIT, str(junit)) for argument in template
    ]


async def run_command(
    template: Sequence[str],
    tree: Path,
    *,
    timeout_seconds: float,
    environ: Mapping[str, str],
    label: str,
) -> CommandOutcome:
    """Run ``template`` (placeholders expanded) in ``tree``; never raises for a command
    that fails, is missing or times out (a cancellation stops its process group)."""
    with tempfile.TemporaryDirectory(prefix="autohub-gate-") as scratch:
        junit = Path(scratch) / "junit.xml"
        request = ActionRequest(
            kind="shell",
            spec={"argv": expand(template, junit)},
            context=StepContext(
                run_id="",
                step_id=label,
                automation="gate",
                attempt=1,
                params={},
                outputs={},
                idempotency_key=None,
                logger_name=f"autohub.gate.{label}",
            ),
            timeout_seconds=timeout_seconds,
            limits=Limits(output_bytes=OUTPUT_BYTES),
            cwd=tree,
            environ=environ,
        )
        result = await shell.run(request)
        counts = read_junit(junit) if any(JUNIT in part for part in template) else None
    streams = result.output if isinstance(result.output, dict) else {}
    output = str(streams.get("stdout") or "") + str(streams.get("stderr") or "")
    return CommandOutcome(
        exit_code=result.exit_code,
        error=result.error,
        timed_out=result.timed_out,
        counts=counts,
        output=output,
    )


def read_junit(path: Path) -> JunitCounts | None:
    """The totals of a JUnit XML file (``<testsuites>`` of ``<testsuite>``, or one
    ``<testsuite>``); None when it is missing or unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    if root.tag not in ("testsuite", "testsuites"):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for name in totals:
            try:
                totals[name] += int(suite.get(name) or 0)
            except ValueError:
                return None
    return JunitCounts(**totals)
