"""Action kinds the engine runs (python, shell, http), behind :func:`run_action`."""

from __future__ import annotations

from autohub.engine.actions.base import (
    KINDS,
    ActionRequest,
    ActionResult,
    Limits,
    json_safe,
    run_action,
)

__all__ = ["KINDS", "ActionRequest", "ActionResult", "Limits", "json_safe", "run_action"]
