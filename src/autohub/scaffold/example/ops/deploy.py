"""A toy deployment: the "release" is a file holding the deployed version per environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATE = Path(".autohub/deployments")


def release(ctx: Any, env: str, version: str) -> dict[str, str]:
    STATE.mkdir(parents=True, exist_ok=True)
    current = STATE / f"{env}.txt"
    previous = current.read_text().strip() if current.exists() else ""
    (STATE / f"{env}.previous.txt").write_text(previous)
    current.write_text(version)
    return {"env": env, "version": version, "previous": previous}


def rollback(ctx: Any, env: str) -> dict[str, str]:
    previous = (STATE / f"{env}.previous.txt").read_text().strip()
    (STATE / f"{env}.txt").write_text(previous)
    return {"env": env, "restored": previous}
