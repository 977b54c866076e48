"""What a step's code is told about the attempt it runs in.

A ``python`` step function receives a :class:`StepContext` as its first argument::

    def verify(ctx: StepContext, path: str) -> dict[str, Any]: ...
    async def notify(ctx: StepContext, channel: str) -> None: ...
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class StepContext:
    """One step attempt: its run, its params, the outputs of the steps it needs, a logger."""

    run_id: str
    step_id: str
    automation: str
    attempt: int
    params: Mapping[str, Any]
    outputs: Mapping[str, Any]
    """Upstream step id -> that step's output."""
    idempotency_key: str | None
    logger_name: str = "autohub.step"
    project_id: str = ""
    """The project the run belongs to (its events go there)."""

    @cached_property
    def logger(self) -> logging.Logger:
        """The step's logger, ``logger_name`` (looked up when first used: most steps
        never log, and a logger made for each step of a large run costs time and memory
        for good)."""
        return logging.getLogger(self.logger_name)
