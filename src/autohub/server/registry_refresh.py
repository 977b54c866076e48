"""The server's definitions stay current: every few seconds a thread checks the sources
(autohub.yaml, ``automations/``, the named modules) and reloads the registry when one
changed, appeared or went away.

A reload that succeeds is recorded as ``registry.reloaded`` (the automations added,
removed and changed); one that fails keeps the last good registry, logs the problems and
records ``registry.reload_failed`` once per failing state of the sources. The database,
the environment, the secrets and the server's own settings are read at start only.
"""

from __future__ import annotations

import logging
from typing import Any

from autohub.hub import Hub
from autohub.registry.loader import Registry
from autohub.server.polling import PolledPart

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
"""How often the sources are checked (a few ``stat`` calls)."""


class RegistryRefresher(PolledPart):
    """Reloads ``hub``'s registry when its sources change, on a thread of its own."""

    thread_name = "registry"

    def __init__(self, hub: Hub, interval: float = REFRESH_SECONDS) -> None:
        self.hub = hub
        self.poll_seconds = interval
        self._reported: object | None = None

    def start(self) -> None:
        self.hub.registry  # noqa: B018 - loaded before the first check compares with it
        super().start()

    def _pass(self) -> None:
        self.check()

    def check(self) -> bool:
        """One check; True when the registry was reloaded."""
        before = self.hub.registry
        watcher = self.hub.refresh_registry()
        if watcher.registry is not before:
            self._record("registry.reloaded", "success", _changes(before, watcher.registry))
            logger.info("definitions reloaded: %d automations", len(watcher.registry))
            return True
        error = watcher.last_error
        if error is not None and error is not self._reported:
            self._reported = error
            logger.warning("definitions not reloaded, the last good ones stay: %s", error.message)
            self._record(
                "registry.reload_failed",
                "failed",
                {
                    "error": error.message,
                    "problems": [str(problem) for problem in error.problems],
                    "kept": sorted(d.name for d in watcher.registry),
                },
            )
        return False

    def _record(self, event_type: str, status: str, evidence: dict[str, Any]) -> None:
        self.hub.events.record(event_type, self.hub.project, status, evidence=evidence)


def _changes(before: Registry, after: Registry) -> dict[str, list[str]]:
    """The automations added, removed and changed (a new version) between two registries."""
    old, new = before.definitions, after.definitions
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(
            name for name in set(old) & set(new) if old[name].version != new[name].version
        ),
    }
