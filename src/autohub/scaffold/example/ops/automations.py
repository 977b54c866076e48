"""Automations declared in Python: the function is the automation's single step."""

from __future__ import annotations

import shutil
from typing import Any

from autohub import automation


@automation(
    name="disk-report",
    description="Report free disk space of a path; warn under a threshold.",
    params={
        "path": {"type": "string", "default": "."},
        "min_free_percent": {"type": "number", "default": 10},
    },
    triggers=[{"type": "manual"}, {"type": "cron", "schedule": "*/30 * * * *"}],
    timeout="30s",
)
def disk_report(ctx: Any) -> dict[str, Any]:
    usage = shutil.disk_usage(ctx.params["path"])
    free_percent = round(100 * usage.free / usage.total, 1)
    return {
        "path": ctx.params["path"],
        "free_percent": free_percent,
        "ok": free_percent >= ctx.params["min_free_percent"],
    }
