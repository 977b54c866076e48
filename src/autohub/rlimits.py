"""Resource limits for child processes: RLIMIT_AS (memory) and RLIMIT_CPU.

A child gets its limits before it runs anything else: a python step's child interpreter
calls :func:`set_resource_limits` first; a shell step's program is started through
:func:`exec_limited` (``python -S -c``, see :func:`limited_argv`), which sets the limits
and then replaces itself with the program. Not ``preexec_fn``: Python code between fork
and exec can deadlock when other threads exist (the engine has a thread pool and a
checkpointer), and this module imports nothing but the standard library so that the
trampoline starts in milliseconds.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

NOT_FOUND_EXIT = 127
_PARENT = str(Path(__file__).resolve().parent.parent)
_TRAMPOLINE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from autohub.rlimits import exec_limited; exec_limited(sys.argv[2:])"
)


def set_resource_limits(memory_bytes: int | None, cpu_seconds: float | None) -> None:
    """Apply RLIMIT_AS and RLIMIT_CPU to the calling process (meant for a fresh child).

    CPU: the soft limit (SIGXCPU) at ``ceil(cpu_seconds)``, the hard limit (SIGKILL) one
    second later. Neither is raised above an existing hard limit.
    """
    if memory_bytes is not None:
        _set_limit(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    if cpu_seconds is not None:
        soft = max(1, math.ceil(cpu_seconds))
        _set_limit(resource.RLIMIT_CPU, soft, soft + 1)


def limited_argv(
    argv: Sequence[str], memory_bytes: int | None, cpu_seconds: float | None
) -> list[str]:
    """The argv that runs ``argv`` under the limits (through :func:`exec_limited`)."""
    memory = "" if memory_bytes is None else str(memory_bytes)
    cpu = "" if cpu_seconds is None else repr(float(cpu_seconds))
    return [sys.executable, "-S", "-c", _TRAMPOLINE, _PARENT, memory, cpu, *argv]


def exec_limited(args: Sequence[str]) -> None:
    """``[memory, cpu, program, *arguments]``: set the limits, then exec the program."""
    memory, cpu, *argv = args
    set_resource_limits(int(memory) if memory else None, float(cpu) if cpu else None)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"cannot start {argv[0]!r}: {exc.strerror}\n")
        sys.exit(NOT_FOUND_EXIT)


def _set_limit(which: int, soft: int, hard: int) -> None:
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
