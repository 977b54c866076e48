"""autohub: one hub for a team's automations.

A single source of truth for automation definitions, safe durable execution,
and one audit trail of events in SQLite or PostgreSQL.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Hub", "__version__", "automation"]


def __getattr__(name: str) -> object:
    # Imported on first use, so `autohub --version` stays fast.
    if name == "automation":
        from autohub.registry.decorators import automation

        return automation
    if name == "Hub":
        from autohub.hub import Hub

        return Hub
    raise AttributeError(f"module 'autohub' has no attribute {name!r}")
