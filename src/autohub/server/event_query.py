"""The event filters a request may give (the query API and the live stream share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from autohub.server.auth import chosen_project
from autohub.store.events import EventFilter, EventStatus
from autohub.store.tokens import ApiToken

MAX_EVENT_ID = 2**63 - 1
"""Event ids are 64-bit: a larger one is a request error, not a database error."""


class EventQuery:
    """``?project=&type=&status=&run=&correlation=&since=&until=&unresolved=`` (``type``
    and ``status`` may repeat)."""

    def __init__(
        self,
        project: str | None = None,
        event_type: Annotated[list[str] | None, Query(alias="type")] = None,
        status: Annotated[list[EventStatus] | None, Query()] = None,
        run: str | None = None,
        correlation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        unresolved: bool = False,
    ) -> None:
        self.project = project
        self.event_types = event_type or []
        self.statuses = status or []
        self.run = run
        self.correlation = correlation
        self.since = since
        self.until = until
        self.unresolved = unresolved

    def filter(self, token: ApiToken) -> EventFilter:
        """The filter, on the one project of the token's this request is about."""
        return EventFilter(
            event_types=self.event_types,
            statuses=self.statuses,
            project_id=chosen_project(token, self.project),
            run_id=self.run,
            correlation_id=self.correlation,
            since=self.since,
            until=self.until,
            unresolved=self.unresolved,
        )
