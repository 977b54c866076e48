"""Redaction: nothing secret-looking is ever written to the store.

Two kinds of secret are replaced with ``[REDACTED]``:

* known secret values (from the secrets file and secret-named environment
  variables), wherever they appear inside a string;
* secret-looking patterns: ``password=...``, ``api_key: ...``, ``token=...``,
  bearer/basic credentials, credentials in URLs, private key blocks, AWS access
  key ids, GitHub/Slack/OpenAI-style tokens, JWTs and autohub API tokens.

In structured data, the values of secret-named keys (``password``, ``api_key``,
``auth_token``, ``Authorization``...) are redacted whole, and keys are redacted
like any other string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MARKER = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Known secret values shorter than this are not redacted (they would match everywhere)."""
CLEAN_STRING_MAX_CHARS = 128
CLEAN_STRINGS_KEPT = 4096
"""How many short strings found clean a redactor remembers (``any_may_match``)."""

_SECRET_WORD = (
    r"(?:passwords?|passwd|passphrases?|secrets?|token|api[_-]?keys?|apikeys?|access[_-]?keys?"
    r"|private[_-]?keys?|auth|authorization|credentials?)"
)
_PATTERNS = [
    # -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY----- (or to the end)
    r"(?P<pem>-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.*?-----END[A-Z ]*PRIVATE KEY-----|.*\Z))",
    # scheme://user:password@host
    r"(?P<url_head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)(?P<url_secret>[^\s@/]+)(?=@)",
    # password=..., "api_key": "...", DB_PASSWORD: ..., and JSON escaped inside a string
    r"(?P<kv_head>(?i:\b(?:[a-z0-9]+[_.-])*" + _SECRET_WORD + r"(?:[_.-][a-z0-9]+)*)"
    r"\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\[REDACTED\])(?!\$\{)(?P<kv_secret>(?i:(?:bearer|basic|token)\s+)?(?:[^\s\"'&,;<>\\]|\\(?![\"']))+)",
    # Authorization: Bearer xxx / Basic xxx
    r"(?P<auth_head>\b(?i:bearer|basic|token)\s+)(?P<auth_secret>[A-Za-z0-9._~+/=-]{8,})",
    r"(?P<aws>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)",
    r"(?P<github>\bgh[pousr]_[A-Za-z0-9]{30,})",
    r"(?P<slack>\bxox[abprs]-[A-Za-z0-9-]{10,})",
    r"(?P<sk>\bsk-[A-Za-z0-9_-]{20,})",
    r"(?P<jwt>\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)",
    r"(?P<autohub>\bahk_[A-Za-z0-9_-]{20,})",  # autohub API token secrets
]
_PATTERN = re.compile("|".join(_PATTERNS), re.DOTALL)
_TRIGGERS = (
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "auth",
    "cred",
    "bearer",
    "basic",
    "-----b",
    "akia",
    "asia",
    "xox",
    "sk-",
    "eyj",
    "ahk_",
)
"""Lower-cased, every text ``_PATTERN`` can match holds one of these or ``_GITHUB`` or
``_URL_CREDENTIALS``, and so does every secret key name (``is_secret_key``). Each costs a
scan of the text. The secret words ending in "key" are spelled out (not "key" alone):
structured data is full of harmless keys (``idempotency_key``, ``sort_key``), and one of
them would send a whole document down the slow path."""
_GITHUB = re.compile(r"gh[pousr]_")
_ASCII_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_URL_CREDENTIALS = re.compile(r"://[^\s:/@]+:[^\s@/]+@")


def _may_match(text: str) -> bool:
    """False only when ``_PATTERN`` cannot match ``text``: a few substring tests, several
    times cheaper than the pattern itself."""
    # The patterns fold case by Unicode rules, where four non-ASCII letters match ASCII
    # ones: U+0130 and U+0131 are "i", U+017F is "s", U+212A (Kelvin) is "k".
    lowered = text.lower() if text.isascii() else text.translate(_ASCII_FOLDS).lower()
    if any(map(lowered.__contains__, _TRIGGERS)) or _GITHUB.search(lowered) is not None:
        return True
    return "://" in text and _URL_CREDENTIALS.search(text) is not None


_SECRET_KEY = re.compile(
    r"(?:^|[_.\-\s]|(?<=[a-z])(?=[A-Z]))" + r"(?i:" + _SECRET_WORD + r")(?:$|[_.\-\s])"
    r"|^(?i:" + _SECRET_WORD + r")$",
)
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _replace_pattern(match: re.Match[str]) -> str:
    groups = match.groupdict()
    for head in ("url_head", "kv_head", "auth_head"):
        if groups[head] is not None:
            return groups[head] + MARKER
    return MARKER


_NOT_A_SECRET_SUFFIX = re.compile(
    r"(?i)[_.\-\s](?:file|path|dir|name|header|env|id|type|mode|count|ttl|expiry|expires)$"
)


@lru_cache(maxsize=8192)
def is_secret_key(name: str) -> bool:
    """Whether a key name says its value is a secret: ``password``, ``X-Api-Key``, ``authToken``.

    Names that say the value is about a secret rather than the secret itself
    (``secrets_file``, ``auth_header``, ``token_ttl``) are not.
    """
    return bool(_SECRET_KEY.search(name)) and not _NOT_A_SECRET_SUFFIX.search(name)


def looks_secret(text: str) -> bool:
    """Whether a string contains a secret-looking pattern."""
    return _PATTERN.search(text) is not None


class Redactor:
    """Replaces known secret values and secret-looking patterns with ``[REDACTED]``."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        values = {
            value
            for value in known_secrets
            if len(value) >= MIN_SECRET_LENGTH and value not in MARKER
        }
        self.known_secrets = frozenset(values)
        ordered = sorted(values, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._clean: set[str] = set()

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        return Redactor(self.known_secrets | set(more))

    def matches(self, text: str) -> bool:
        """Whether ``text`` holds anything this redactor would replace."""
        if self._known is not None and self._known.search(text) is not None:
            return True
        return _may_match(text) and _PATTERN.search(text) is not None

    def may_match(self, text: str) -> bool:
        """A cheap, conservative ``matches``: False only when nothing in ``text`` would be
        replaced and it names no secret key (``is_secret_key``); True may be a false alarm."""
        if self._known is not None and self._known.search(text) is not None:
            return True
        return _may_match(text)

    def any_may_match(self, strings: Iterable[str]) -> bool:
        """``may_match`` of each string (a key or a value), remembering the short ones
        found clean: the same few names come back in every event a process writes."""
        clean = self._clean
        for text in strings:
            if text in clean:
                continue
            if self.may_match(text):
                return True
            if len(text) <= CLEAN_STRING_MAX_CHARS:
                if len(clean) >= CLEAN_STRINGS_KEPT:
                    clean.clear()
                clean.add(text)
        return False

    def text(self, text: str) -> str:
        """``text`` with every known secret and secret-looking pattern replaced."""
        if self._known is not None:
            text = self._known.sub(MARKER, text)
        return _PATTERN.sub(_replace_pattern, text)

    def value(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every string inside it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            result: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self.text(key) if isinstance(key, str) else key
                if isinstance(key, str) and is_secret_key(key):
                    result[new_key] = self._secret(item)
                else:
                    result[new_key] = self.value(item)
            return result
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def _secret(self, item: Any) -> Any:
        """The value of a secret-named key: scalars (also inside lists) become the marker."""
        if isinstance(item, list | tuple):
            return [self._secret(element) for element in item]
        if (
            isinstance(item, str | int | float)
            and not isinstance(item, bool)
            and not (isinstance(item, str) and (_REFERENCE.match(item) or item == ""))
        ):
            return MARKER
        return self.value(item)
