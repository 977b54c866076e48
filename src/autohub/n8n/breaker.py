"""The breaker of an n8n instance, shared by every worker through the store: named
``n8n:<host>:<port>``, set by ``n8n.breaker``. Only signs that the instance itself is
down count as failures (no answer, or 502/503/504); any other answer shows it is up.

With the store unreachable the call goes ahead unguarded: detection and fallbacks
must keep working while the database is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from autohub.engine.breaker import breaker_settings as settings_of
from autohub.errors import AutohubError
from autohub.registry.policies import BreakerPolicy
from autohub.store.breakers import BreakerSettings, BreakerStore, Permit

logger = logging.getLogger("autohub.n8n")
INSTANCE_DOWN_STATUSES = frozenset({502, 503, 504})


def breaker_name(base_url: str) -> str:
    """``n8n:<host>:<port>`` of an instance's base URL."""
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"n8n:{url.host}:{port}"


def breaker_settings(policy: Mapping[str, Any]) -> BreakerSettings:
    """The settings of ``n8n.breaker`` (validated by the registry loader; the defaults of
    a breaker policy if it is not valid)."""
    try:
        parsed = BreakerPolicy.model_validate(dict(policy))
    except ValidationError:
        parsed = BreakerPolicy()
    return settings_of(parsed)


def instance_down(status_code: int | None) -> bool:
    """Whether a call's outcome says the instance (not one workflow) is failing."""
    return status_code is None or status_code in INSTANCE_DOWN_STATUSES


class InstanceBreaker:
    """Acquire and record around one call; a store outage lets the call through."""

    def __init__(
        self,
        store: BreakerStore,
        name: str,
        settings: BreakerSettings,
        *,
        project_id: str,
        run_id: str | None,
    ) -> None:
        self.store = store
        self.name = name
        self.settings = settings
        self.project_id = project_id
        self.run_id = run_id

    async def acquire(self) -> Permit | None:
        """The store's permit, or None (go ahead, unguarded) when the store fails."""
        try:
            return await asyncio.to_thread(
                self.store.acquire,
                self.name,
                self.settings,
                project_id=self.project_id,
                run_id=self.run_id,
            )
        except AutohubError as exc:
            logger.warning("breaker %s unavailable, calling unguarded: %s", self.name, exc)
            return None

    async def record(self, permit: Permit | None, *, success: bool) -> None:
        if permit is None:
            return
        try:
            await asyncio.to_thread(
                self.store.record,
                self.name,
                self.settings,
                success=success,
                probe=permit.probe,
                project_id=self.project_id,
                run_id=self.run_id,
            )
        except AutohubError as exc:
            logger.warning("breaker %s: the outcome was not recorded: %s", self.name, exc)
