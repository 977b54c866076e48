"""What the server's trigger firers share (the cron scheduler, the event triggers): the
hub they start runs on, whom to wake when they start one, their pass, and their records,
each marked with where it was detected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from autohub.hub import Hub
from autohub.server.polling import PolledPart


@dataclass
class TriggerFirer(PolledPart):
    """Starts runs from one kind of trigger on a background pass."""

    detected_from: ClassVar[str]

    hub: Hub
    on_fire: Callable[[], None] = lambda: None
    """Called after a pass started a run (the server's executor wakes up)."""
    poll_seconds: float = 1.0

    def _record(
        self, event_type: str, project_id: str, status: str, evidence: dict[str, Any], **fields: Any
    ) -> None:
        self.hub.events.record(
            event_type,
            project_id,
            status,
            detected_from=self.detected_from,
            evidence=evidence,
            **fields,
        )
