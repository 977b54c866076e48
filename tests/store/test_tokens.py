"""API tokens: shown once, stored hashed, listed without secrets, revocable, expiring."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from store_helpers import FakeClock, RawQuery

from autohub.errors import InvalidInput, NotFound
from autohub.store.database import Database
from autohub.store.events import EventFilter, EventStore
from autohub.store.tokens import SECRET_PREFIX, TokenStore


@pytest.fixture
def tokens(database: Database, clock: FakeClock) -> TokenStore:
    return TokenStore(database, EventStore(database, clock=clock), clock)


def test_a_created_token_authenticates_with_its_secret(tokens: TokenStore) -> None:
    token, secret = tokens.create("operator", ["web", "api"], name="deploy bot")

    found = tokens.authenticate(secret)

    assert secret.startswith(SECRET_PREFIX)
    assert len(secret) >= 40
    assert found == token
    assert (found.role, found.projects, found.name) == ("operator", ("web", "api"), "deploy bot")


def test_only_a_hash_of_the_secret_is_stored(tokens: TokenStore, raw: RawQuery) -> None:
    _token, secret = tokens.create("admin", ["web"])

    stored = raw("SELECT * FROM api_tokens")
    events = raw("SELECT CAST(evidence AS TEXT) AS evidence FROM automation_events")

    assert len(stored) == 1
    assert stored[0]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored)
    assert secret[len(SECRET_PREFIX) :] not in str(stored)
    assert len(events) == 1
    assert secret not in events[0]["evidence"]


def test_wrong_and_malformed_secrets_do_not_authenticate(tokens: TokenStore) -> None:
    _token, secret = tokens.create("viewer", ["web"])

    assert tokens.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert tokens.authenticate("") is None
    assert tokens.authenticate("Bearer " + secret) is None
    assert tokens.authenticate(secret + "x" * 200) is None


def test_a_revoked_token_no_longer_authenticates(tokens: TokenStore, clock: FakeClock) -> None:
    token, secret = tokens.create("operator", ["web"])

    revoked = tokens.revoke(token.id)
    clock.advance(minutes=1)
    again = tokens.revoke(token.id)

    assert tokens.authenticate(secret) is None
    assert revoked.revoked_at == clock.now - timedelta(minutes=1)
    assert again.revoked_at == revoked.revoked_at, "revoking twice keeps the first revocation"
    assert tokens.list() == []
    assert [(t.id, t.state(clock.now)) for t in tokens.list(include_inactive=True)] == [
        (token.id, "revoked")
    ]


def test_a_token_expires(tokens: TokenStore, clock: FakeClock) -> None:
    token, secret = tokens.create("viewer", ["web"], expires_in=timedelta(days=30))

    clock.advance(days=29, hours=23)
    still = tokens.authenticate(secret)
    clock.advance(hours=1)

    assert still == token
    assert tokens.authenticate(secret) is None
    assert token.state(clock.now) == "expired"
    assert tokens.list() == []


def test_creating_and_revoking_are_audit_events(tokens: TokenStore) -> None:
    token, _secret = tokens.create("admin", ["ops"])
    tokens.revoke(token.id)

    events = tokens.events.query(EventFilter(project_id="ops")).events

    assert [(e.event_type, e.evidence["id"], e.evidence["role"]) for e in events] == [
        ("token.revoked", token.id, "admin"),
        ("token.created", token.id, "admin"),
    ]


@pytest.mark.parametrize(
    ("role", "projects", "expires_in", "name", "message"),
    [
        ("root", ["web"], None, None, "role: 'root' is not one of viewer, operator, admin"),
        ("viewer", [], None, None, "projects: give at least one project"),
        ("viewer", ["no spaces"], None, None, "projects: 'no spaces' is not a project id"),
        ("viewer", ["web"], timedelta(0), None, "expires: must be in the future"),
        ("viewer", ["web"], None, "  ", "name: give 1 to 200 characters"),
    ],
    ids=["role", "no-project", "bad-project", "expiry", "name"],
)
def test_bad_input_is_named(
    tokens: TokenStore,
    raw: RawQuery,
    role: str,
    projects: list[str],
    expires_in: timedelta | None,
    name: str | None,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        tokens.create(role, projects, expires_in=expires_in, name=name)
    assert raw("SELECT id FROM api_tokens") == []


def test_an_unknown_token_id_is_not_found(tokens: TokenStore) -> None:
    with pytest.raises(NotFound, match="no token with id 'nope'"):
        tokens.revoke("nope")
