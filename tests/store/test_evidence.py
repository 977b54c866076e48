"""Evidence encoding: the fast path (``evidence.encode``) stores exactly what the full walk
(``evidence.prepare``) would, for any JSON-like value, secrets and odd characters included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autohub.errors import InvalidInput
from autohub.redact import MARKER, Redactor
from autohub.store import evidence

LIMITS = {"max_bytes": 2048, "max_string_chars": 300}
KNOWN = "Kn0wn-S3cret"

# Fragments that make redaction, escaping, unstorable characters and Unicode case folding
# likely, mixed with ordinary text.
FRAGMENTS = st.sampled_from(
    [
        "password=",
        "Passw0rd: ",
        "api_key",
        "X-Api-Key",
        "authToken",
        "bearer ",
        "Basic ",
        "token ",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a1B2" * 9,
        "xoxb-1234567890abc",
        "sk-" + "x" * 24,
        "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.sig",
        "postgres://bob:hunter2@db/app",
        "https://example.com/healthz",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
        KNOWN,
        "\u017fecret=",
        "credent\u0131al=",
        "\u212aey",
        "\u0130",
        '"',
        "\\",
        "\n",
        "\x00",
        "\ud800",
        "caf\u00e9 \u65e5\u672c",
        "hunter22hunter",
        " ",
        ":",
        "=",
    ]
)
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=6).map("".join)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.text(min_size=280, max_size=320),  # over the string cap
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
VALUES = st.dictionaries(TEXT, DOCUMENTS, max_size=5)


def _full_walk(value: Any, redactor: Redactor) -> str:
    return evidence.compact_json(evidence.prepare(value, "evidence", redactor, **LIMITS))


@settings(max_examples=400, deadline=None)
@given(value=VALUES)
def test_the_fast_path_stores_what_the_full_walk_stores(value: dict[str, Any]) -> None:
    redactor = Redactor([KNOWN])

    encoded = evidence.encode(value, "evidence", redactor, **LIMITS)

    assert encoded == _full_walk(value, redactor)
    assert KNOWN not in encoded


@settings(max_examples=200, deadline=None)
@given(first=VALUES, second=VALUES)
def test_values_encoded_together_match_each_encoded_alone(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    redactor = Redactor([KNOWN])

    together = evidence.encode_all({"a": first, "b": second}, redactor, **LIMITS)

    assert together["a"] == _full_walk(first, redactor)
    assert together["b"] == _full_walk(second, redactor)


def test_plain_evidence_is_stored_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"check": "http", "target": {"url": "https://example.com/x"}, "codes": [200, 1.5]}

    def no_walk(*_args: Any) -> Any:
        raise AssertionError("plain evidence must not take the full walk")

    monkeypatch.setattr(evidence, "_prepared", no_walk)

    encoded = evidence.encode(value, "evidence", Redactor(), **LIMITS)

    assert isinstance(encoded, evidence.StoredJson)
    assert encoded == json.dumps(value, separators=(",", ":"))
    assert evidence.compact_json(encoded) == encoded  # stored as it is, not re-encoded


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({"at": datetime(2026, 1, 2, tzinfo=UTC)}, {"at": "2026-01-02T00:00:00+00:00"}),
        ({"pair": (1, 2)}, {"pair": [1, 2]}),
        ({"note": "a\x00b"}, {"note": "a\ufffdb"}),
        ({"password": "x" * 8}, {"password": MARKER}),
        ({"log": "y" * 400}, {"log": "y" * 300 + "…[truncated 100 chars]"}),
    ],
    ids=["datetime", "tuple", "nul", "secret-key", "long-string"],
)
def test_values_needing_work_take_the_full_walk(value: dict[str, Any], stored: Any) -> None:
    encoded = evidence.encode(value, "evidence", Redactor(), **LIMITS)

    assert json.loads(encoded) == stored


def test_unserialisable_values_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"evidence\.handle: a object is not JSON"):
        evidence.encode({"handle": object()}, "evidence", Redactor(), **LIMITS)


def test_encode_text_keeps_clean_text_as_it_is_and_redacts_the_rest() -> None:
    caps = {"max_bytes": 1 << 20, "max_string_chars": 1 << 20}
    clean = '{"b":[1,2],"a":{"x":"deploy"}}'  # sorted or not, spacing: kept as written
    secret = '{"a":{"url":"https://bob:s3cr3tPassw0rd@db.internal/app"}}'
    escaped = json.dumps({"note": "déployé", "token": "tok3nV4lue99"})  # \\u escapes

    assert evidence.encode_text(clean, "c", Redactor(), **caps) == clean
    stored = evidence.encode_text(secret, "c", Redactor(), **caps)
    assert "s3cr3tPassw0rd" not in stored
    assert "[REDACTED]" in stored
    decoded = json.loads(evidence.encode_text(escaped, "c", Redactor(), **caps))
    assert decoded == {"note": "déployé", "token": "[REDACTED]"}
    with pytest.raises(InvalidInput, match="not valid JSON"):  # not stored as it is
        evidence.encode_text('{"ratio":NaN}', "c", Redactor(), **caps)
