"""API tokens: bearer secrets for the HTTP API, each with a role and the projects it sees.

A token's secret is shown once, when it is created, and stored only as its SHA-256 (the
secret is 256 random bits, so a fast hash is as good as a slow one and a lookup by hash
is one index probe). A token can be listed without its secret, revoked, and may expire.
Creating and revoking a token are audit events; the secret never reaches the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from autohub.clock import utcnow
from autohub.errors import InvalidInput, NotFound
from autohub.store.database import Database
from autohub.store.events import EventStore, is_project_id
from autohub.store.schema import api_tokens

ROLES = ("viewer", "operator", "admin")
"""Each role may do what the ones before it may: a viewer reads; an operator also
triggers, cancels, resolves and resets breakers; an admin also manages tokens."""
SECRET_PREFIX = "ahk_"
"""Marks autohub token secrets (``redact`` recognises them in any text)."""
NAME_MAX_CHARS = 200
RECHECK_SECONDS = 1.0
"""A token found in the store is trusted this long before it is read again: a request
costs no read, and a token revoked elsewhere (another server, the CLI) stops working
within this time (at once on the server that revoked it)."""
MAX_KNOWN_TOKENS = 10_000


@dataclass(frozen=True)
class ApiToken:
    """A token as listed: everything but its secret."""

    id: str
    name: str | None
    role: str
    projects: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.active(now) else "expired"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "projects": list(self.projects),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass
class TokenStore:
    """Creates, lists, revokes and checks API tokens."""

    database: Database
    events: EventStore
    clock: Callable[[], datetime] = utcnow
    recheck_seconds: float = RECHECK_SECONDS
    _known: dict[str, tuple[float, ApiToken]] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )

    def create(
        self,
        role: str,
        projects: Sequence[str],
        *,
        expires_in: timedelta | None = None,
        name: str | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token and its secret (the only time the secret is available)."""
        _check(role, projects, expires_in, name)
        now = self.clock()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            id=secrets.token_hex(6),
            name=name,
            role=role,
            projects=tuple(dict.fromkeys(projects)),
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            revoked_at=None,
        )
        event = self._event("token.created", token)
        try:
            with self.database.begin() as connection:
                connection.execute(
                    api_tokens.insert(),
                    {
                        **dataclasses.asdict(token),
                        "projects": list(token.projects),
                        "secret_sha256": _digest(secret),
                    },
                )
                self.events.insert_rows(connection, [event])
        except self.database.errors as exc:
            raise self.database.translate(exc, "create token") from exc
        return token, secret

    def list(self, *, include_inactive: bool = False) -> list[ApiToken]:
        """Tokens, newest first; revoked and expired ones only when asked."""
        statement = sa.select(api_tokens).order_by(api_tokens.c.created_at.desc())
        tokens = [_token(row) for row in self.database.fetch(statement, "list tokens")]
        if include_inactive:
            return tokens
        now = self.clock()
        return [token for token in tokens if token.active(now)]

    def get(self, token_id: str) -> ApiToken:
        statement = sa.select(api_tokens).where(api_tokens.c.id == token_id)
        rows = self.database.fetch(statement, "read token")
        if not rows:
            raise NotFound(f"no token with id {token_id!r}")
        return _token(rows[0])

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke a token at once (idempotent: a revoked token keeps its first revocation)."""
        self._known = {k: v for k, v in self._known.items() if v[1].id != token_id}
        token = self.get(token_id)
        if token.revoked_at is not None:
            return token
        now = self.clock()
        revoked = dataclasses.replace(token, revoked_at=now)
        event = self._event("token.revoked", revoked)
        try:
            with self.database.begin() as connection:
                connection.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                self.events.insert_rows(connection, [event])
        except self.database.errors as exc:
            raise self.database.translate(exc, "revoke token") from exc
        return self.get(token_id)

    def authenticate(self, secret: str) -> ApiToken | None:
        """The active token whose secret this is, or None (unknown, revoked or expired)."""
        if not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
            return None
        digest = _digest(secret)
        known = self._known.get(digest)
        if known is not None and time.monotonic() - known[0] < self.recheck_seconds:
            token = known[1]
        else:
            statement = sa.select(api_tokens).where(api_tokens.c.secret_sha256 == digest)
            rows = self.database.fetch(statement, "check token")
            if not rows:
                return None
            token = _token(rows[0])
            if len(self._known) >= MAX_KNOWN_TOKENS:
                self._known.clear()
            self._known[digest] = (time.monotonic(), token)
        return token if token.active(self.clock()) else None

    def _event(self, event_type: str, token: ApiToken) -> dict[str, Any]:
        return self.events.prepare(
            {
                "event_type": event_type,
                "project_id": token.projects[0],
                "status": "success",
                "detected_from": "tokens",
                "evidence": token.to_dict(),
            }
        )


def _check(
    role: str, projects: Sequence[str], expires_in: timedelta | None, name: str | None
) -> None:
    problems = []
    if role not in ROLES:
        problems.append(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if not projects:
        problems.append("projects: give at least one project")
    for project in projects:
        if not is_project_id(project):
            problems.append(f"projects: {project!r} is not a project id")
    if expires_in is not None and expires_in <= timedelta(0):
        problems.append("expires: must be in the future")
    if name is not None and not (0 < len(name.strip()) <= NAME_MAX_CHARS):
        problems.append(f"name: give 1 to {NAME_MAX_CHARS} characters")
    if problems:
        raise InvalidInput("; ".join(problems))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        projects=tuple(row["projects"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
