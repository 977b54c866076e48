"""Redaction as the database sees it: every check reads the RAW row with SQL, not
through EventStore, and asserts the secret is not there."""

from __future__ import annotations

import string
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import RawText, event_fields

from autohub.redact import MARKER, Redactor, is_secret_key, looks_secret
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.spool import EventSpool

KNOWN = "Kn0wnS3cretValue"

# (name, text containing the secret, the secret itself)
PATTERNS = [
    ("password=", "login failed: password=hunter2hunter2 for bob", "hunter2hunter2"),
    ("env-password", "export DB_PASSWORD='Sup3r-s3cret!'", "Sup3r-s3cret!"),
    ("api_key:", 'config {"api_key": "AbC123xyz789QRS"}', "AbC123xyz789QRS"),
    ("token=", "GET /callback?code=1&token=tok3nV4lue99&x=1", "tok3nV4lue99"),
    ("bearer", "curl -H 'Authorization: Bearer abcdefghij0123456789'", "abcdefghij0123456789"),
    ("bare-bearer", "sent bearer Zm9vYmFyYmF6cXV4MTIz upstream", "Zm9vYmFyYmF6cXV4MTIz"),
    (
        "private-key",
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1y2z3\nQ29udGVudA==\n"
        "-----END RSA PRIVATE KEY-----\ndone",
        "MIIEowIBAAKCAQEAx1y2z3",
    ),
    ("aws-key", "using AKIAIOSFODNN7EXAMPLE in us-east-1", "AKIAIOSFODNN7EXAMPLE"),
    (
        "url-credentials",
        "connect postgresql://bob:s3cr3tPassw0rd@db.internal:5432/app",
        "s3cr3tPassw0rd",
    ),
    ("github-token", "push with ghp_" + "A1b2C3d4E5" * 4, "A1b2C3d4E5" * 4),
    ("escaped-json", r'body="{\"password\": \"hunter2escaped\"}"', "hunter2escaped"),
    (
        "autohub-token",
        "client configured with ahk_Q2hhbmdlTWVQbGVhc2VUaGlzSXNBVGVzdA now",
        "Q2hhbmdlTWVQbGVhc2VUaGlzSXNBVGVzdA",
    ),
]


def _store(database: Database, *known: str) -> EventStore:
    return EventStore(database, Redactor(known))


@pytest.mark.parametrize(
    ("text", "secret"), [p[1:] for p in PATTERNS], ids=[p[0] for p in PATTERNS]
)
def test_secret_patterns_never_reach_the_database(
    database: Database, raw_text: RawText, text: str, secret: str
) -> None:
    store = _store(database)
    event = store.add(
        event_fields(
            evidence={"output": text, "steps": [["run", [text]]], text: "as a key"},
            metadata={"request": {"headers": [text]}},
            detected_from=text[:256],
        )
    )

    stored = raw_text(event.uid)

    assert secret not in stored
    assert MARKER in stored


@pytest.mark.parametrize(
    ("text", "secret"), [p[1:] for p in PATTERNS], ids=[p[0] for p in PATTERNS]
)
def test_secret_patterns_never_reach_the_database_through_a_batch(
    database: Database, raw_text: RawText, text: str, secret: str
) -> None:
    store = _store(database)
    uids = [uuid.uuid4().hex for _ in range(3)]
    harmless = {"check": "http", "target": {"url": "https://example.com/healthz"}}

    store.add_many(
        [
            event_fields(uid=uids[0], evidence={"output": text, **harmless}),
            event_fields(uid=uids[1], evidence=harmless, metadata={"headers": [text]}),
            event_fields(uid=uids[2], evidence={text: harmless}, detected_from=text[:256]),
        ]
    )

    for uid in uids:
        stored = raw_text(uid)
        assert secret not in stored
        assert MARKER in stored


@pytest.mark.parametrize(
    ("where", "fields"),
    [
        ("evidence-value", {"evidence": {"log": f"connecting with {KNOWN} now"}}),
        ("evidence-nested-list", {"evidence": {"runs": [[1, [f"x{KNOWN}y"]]]}}),
        ("evidence-key", {"evidence": {"args": {f"--pass={KNOWN}": True}}}),
        ("metadata", {"metadata": {"env": {"HOME": "/root", "X": KNOWN}}}),
        ("detected_from", {"detected_from": f"cli run --with {KNOWN}"}),
        ("top-level-key", {"evidence": {KNOWN: 1}}),
    ],
)
def test_known_secrets_never_reach_the_database(
    database: Database, raw_text: RawText, where: str, fields: dict[str, Any]
) -> None:
    store = _store(database, KNOWN)

    event = store.add(event_fields(**fields))

    stored = raw_text(event.uid)
    assert KNOWN not in stored, where
    assert MARKER in stored, where


@pytest.mark.parametrize(
    "evidence",
    [
        {"password": "plainvalue123"},
        {"X-Api-Key": "plainvalue123"},
        {"authToken": "plainvalue123"},
        {"db": {"Authorization": "plainvalue123"}},
        {"service": [{"client_secret": "plainvalue123"}]},
        {"password": ["plainvalue123", "other"]},
        {"api_key": [["plainvalue123"]]},
    ],
    ids=["password", "header", "camel-case", "nested", "in-list", "list-value", "nested-list"],
)
def test_values_of_secret_named_keys_are_redacted_whole(
    database: Database, raw_text: RawText, evidence: dict[str, Any]
) -> None:
    event = _store(database).add(event_fields(evidence=evidence))

    stored = raw_text(event.uid)

    assert "plainvalue123" not in stored
    assert MARKER in stored


def test_numbers_under_secret_named_keys_are_redacted(
    database: Database, raw_text: RawText
) -> None:
    event = _store(database).add(event_fields(evidence={"pin_secret": 48213377}))

    assert "48213377" not in raw_text(event.uid)


def test_secret_references_and_harmless_values_are_kept(database: Database) -> None:
    store = _store(database, KNOWN)
    evidence = {
        "password": "${DB_PASSWORD}",
        "token": "",
        "auth_enabled": True,
        "author": "alice",
        "passage": "the token bucket refills",
    }

    event = store.add(event_fields(evidence=evidence))

    assert store.get(event.id or 0).evidence == evidence


def test_spooled_events_are_redacted_before_they_touch_the_disk(tmp_path: Path) -> None:
    unreachable = Database.create(f"sqlite:///{tmp_path / 'db' / 'x.db'}")
    (tmp_path / "db").rmdir()  # the database file cannot be opened: everything spools
    spool = EventSpool(tmp_path / "spool")
    store = EventStore(unreachable, Redactor([KNOWN]), spool=spool)
    try:
        event = store.add(
            event_fields(evidence={"a": f"password=hunter2hunter2 {KNOWN}"}, detected_from=KNOWN)
        )
    finally:
        unreachable.dispose()

    assert event.spooled
    content = spool.path.read_text(encoding="utf-8")
    assert event.uid in content
    assert "hunter2hunter2" not in content
    assert KNOWN not in content


def test_redaction_helpers_agree_on_what_is_secret() -> None:
    assert looks_secret("password=abc")
    assert not looks_secret("nothing to see here")
    assert is_secret_key("DB_PASSWORD")
    assert not is_secret_key("author")
    assert Redactor(["abc"]).known_secrets == frozenset()  # too short to redact safely


# -- property: a planted secret never reaches the database --------------------------------

# Text that JSON stores verbatim (no escapes), so the raw column text can be searched.
SAFE_TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters='"\\'),
    max_size=12,
)
# A digits-only secret (or digits and "e") could appear inside an unrelated JSON number.
SECRETS = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=24).filter(
    lambda s: s not in MARKER and any(c.isalpha() and c not in "eE" for c in s)
)


@st.composite
def planted_event(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A secret and an event whose evidence, metadata or detected_from hides it somewhere."""
    secret = draw(SECRETS)
    carrier = st.builds(lambda a, b: a + secret + b, SAFE_TEXT, SAFE_TEXT)
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        SAFE_TEXT,
        carrier,
    )
    keys = st.one_of(SAFE_TEXT, carrier)
    documents = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=25,
    )
    evidence = draw(st.dictionaries(keys, documents, max_size=4))
    metadata = draw(st.dictionaries(keys, documents, max_size=3))
    fields: dict[str, Any] = {"evidence": evidence, "metadata": metadata}
    target = draw(st.sampled_from(["evidence", "metadata", "detected_from"]))
    if target == "detected_from":
        fields["detected_from"] = draw(carrier)
    else:
        _plant(draw, fields[target], draw(carrier), draw(leaves), draw(keys))
    return secret, fields


def _plant(draw: st.DrawFn, node: Any, text: str, leaf: Any, key: str) -> None:
    """Put ``text`` at a random place inside ``node``: as a value, a key or a list item."""
    while True:
        children = list(node.values()) if isinstance(node, dict) else node
        containers = [child for child in children if isinstance(child, dict | list)]
        if not containers or not draw(st.booleans()):
            break
        node = draw(st.sampled_from(containers))
    if isinstance(node, dict):
        if draw(st.booleans()):
            node[text] = leaf
        else:
            node[key] = text
    else:
        node.insert(draw(st.integers(0, len(node))), text)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(example=planted_event())
def test_a_planted_secret_never_reaches_the_database(
    database: Database, raw_text: RawText, example: tuple[str, dict[str, Any]]
) -> None:
    secret, fields = example
    uid = uuid.uuid4().hex
    store = _store(database, secret)

    batch_uid = uuid.uuid4().hex
    store.add(event_fields(uid=uid, **fields))
    store.add_many([event_fields(uid=batch_uid, **fields), event_fields()])

    assert secret not in raw_text(uid)
    assert secret not in raw_text(batch_uid)


@pytest.mark.parametrize(
    "text",
    [
        "\u017fecret=hunter22",
        "pa\u017f\u017fword: hunter22",
        "credent\u0131als=hunter22",
        "api_\u212aey=hunter22",
        "AUTH\u0130=x api_key=hunter22",
    ],
)
def test_unicode_case_folding_does_not_slip_past_the_fast_path(text: str) -> None:
    from autohub.store import evidence

    limits = {"max_bytes": 65536, "max_string_chars": 8192}
    prepared = evidence.prepare({"note": text}, "evidence", Redactor(), **limits)
    encoded = evidence.encode({"note": text}, "evidence", Redactor(), **limits)

    assert "hunter22" not in str(prepared)
    assert "[REDACTED]" in prepared["note"]
    assert "hunter22" not in encoded
    assert "[REDACTED]" in encoded


# -- property: the cheap pre-check never lets a secret through ------------------------------

SECRET_WORDS = [
    "password", "passwd", "passphrase", "secret", "token", "api_key", "api-key", "apikey",
    "apikeys", "access_key", "accessKey", "private-key", "privatekeys", "auth",
    "authorization", "credential", "bearer ", "basic ", "-----BEGIN RSA PRIVATE KEY-----",
    "AKIA", "ghp_", "xoxb-", "sk-", "eyJ", "ahk_", "://bob:pw@",
]  # fmt: skip


@st.composite
def secret_looking_text(draw: st.DrawFn) -> str:
    """Text around a secret word in any letter case, separators and values included."""
    word = draw(st.sampled_from(SECRET_WORDS))
    word = "".join(
        draw(st.sampled_from([c.lower(), c.upper(), c])) if c.isalpha() else c for c in word
    )
    around = st.text(alphabet=string.ascii_letters + string.digits + "_-.:= \"'", max_size=24)
    return draw(around) + word + draw(around)


@settings(max_examples=400, deadline=None)
@given(text=secret_looking_text())
def test_the_pre_check_never_passes_text_the_patterns_would_redact(text: str) -> None:
    redactor = Redactor()
    if looks_secret(text) or is_secret_key(text):
        assert redactor.may_match(text), text


def test_harmless_keys_ending_in_key_take_the_fast_path() -> None:
    from autohub.store import evidence

    document = {"idempotency_key": "deploy-42", "sort_key": "name", "keyboard": "us"}
    assert not Redactor().may_match(evidence.compact_json(document))
    assert Redactor().may_match('{"api_key": "x"}')
    assert Redactor().may_match('{"X-Api-Key": "x"}')


@pytest.mark.parametrize(
    "evidence",
    [
        {"step": "deploy", "note": "password=hunter2hunter2"},
        {"step": "deploy", "api_key": "AbC123xyz789QRS"},
        {"step": "deploy", "seen": KNOWN},
        {"step": "deploy", 7: "token=tok3nV4lue99"},
    ],
    ids=["pattern", "secret-key", "known", "int-key"],
)
def test_a_secret_in_a_flat_document_is_caught_after_clean_ones_were_remembered(
    evidence: dict[Any, Any],
) -> None:
    from autohub.store import evidence as stored

    redactor = Redactor([KNOWN])
    limits = {"max_bytes": 65536, "max_string_chars": 8192}
    for attempt in range(3):  # "step", "deploy"... are remembered clean meanwhile
        stored.encode({"step": "deploy", "attempt": attempt}, "evidence", redactor, **limits)

    text = stored.encode(evidence, "evidence", redactor, **limits)

    for secret in ("hunter2hunter2", "AbC123xyz789QRS", KNOWN, "tok3nV4lue99"):
        assert secret not in text
    assert MARKER in text
