"""Evidence and metadata as they are stored: JSON-safe, redacted and capped in size.

Oversized values are cut, never rejected: long strings keep their head and a
``…[truncated N chars]`` marker; a document still over the byte cap is replaced by
``{"_truncated": true, "original_bytes": N, "snippet": "..."}``. Characters no
database can store (NUL for PostgreSQL, lone surrogates for any UTF-8 text) become
U+FFFD.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from autohub.errors import InvalidInput
from autohub.redact import Redactor, is_secret_key

TRUNCATED_KEY = "_truncated"
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class StoredJson(str):
    """JSON text already made safe, redacted and capped (by ``encode``): stored as it is."""

    __slots__ = ()


_EMPTY_OBJECT = StoredJson("{}")
_STRICT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compact_json(value: Any) -> str:
    """JSON as the store writes it: no spaces, UTF-8 kept (the size caps count these bytes)."""
    if isinstance(value, StoredJson):
        return str.__str__(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def clean_text(text: str) -> str:
    """``text`` with NUL (refused by PostgreSQL) and lone surrogates (not UTF-8) replaced."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def to_json_safe(value: Any, where: str) -> Any:
    """``value`` as plain JSON data; an unserialisable part is an error naming its path."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: {value} is not valid JSON (use null or a string)")
        return value
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise InvalidInput(f"{where}: key {key!r} is not a string")
            text_key = clean_text(key) if isinstance(key, str) else json.dumps(key)
            result[text_key] = to_json_safe(item, f"{where}.{text_key}")
        return result
    if isinstance(value, list | tuple):
        return [to_json_safe(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | PurePath):
        return clean_text(str(value))
    if isinstance(value, Enum):
        return to_json_safe(value.value, where)
    raise InvalidInput(f"{where}: a {type(value).__name__} is not JSON-serialisable")


def _cut_strings(value: Any, max_chars: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        if len(value) > max_chars:
            return f"{value[:max_chars]}…[truncated {len(value) - max_chars} chars]", True
        return value, False
    if isinstance(value, dict):
        cut = False
        result = {}
        for key, item in value.items():
            result[key], item_cut = _cut_strings(item, max_chars)
            cut = cut or item_cut
        return result, cut
    if isinstance(value, list):
        items = [_cut_strings(item, max_chars) for item in value]
        return [item for item, _ in items], any(flag for _, flag in items)
    return value, False


def _plain_strings(value: Any, strings: list[str], keys: set[str]) -> bool:
    """Collect every string and key of plain JSON data; False when ``value`` holds
    anything that needs converting (tuples, datetimes, non-string keys, NaN...)."""
    if isinstance(value, str):
        strings.append(value)
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return False
            keys.add(key)
            if not _plain_strings(item, strings, keys):
                return False
        return True
    if isinstance(value, list):
        return all(_plain_strings(item, strings, keys) for item in value)
    if value is None or isinstance(value, bool | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def safe_and_redacted(value: Any, where: str, redactor: Redactor) -> Any:
    """The fast path for the common case: plain data with nothing to redact or clean is
    checked in one walk and one regex search, and kept as is (never mutated)."""
    strings: list[str] = []
    keys: set[str] = set()
    if not _plain_strings(value, strings, keys):
        return redactor.value(to_json_safe(value, where))
    strings.extend(keys)
    text = "\n".join(strings)
    if _UNSTORABLE.search(text) is not None:
        return redactor.value(to_json_safe(value, where))
    if redactor.matches(text) or any(is_secret_key(key) for key in keys):
        return redactor.value(value)
    return value


def prepare(
    value: Any, where: str, redactor: Redactor, *, max_bytes: int, max_string_chars: int
) -> Any:
    """JSON-safe, redacted and capped ``value``, ready for the store."""
    return _prepared(value, where, redactor, max_bytes, max_string_chars)[0]


def _prepared(
    value: Any, where: str, redactor: Redactor, max_bytes: int, max_string_chars: int
) -> tuple[Any, str]:
    """``prepare``'d value and its JSON text (encoded once)."""
    safe = safe_and_redacted(value, where, redactor)
    encoded = compact_json(safe)
    if len(encoded) <= max_string_chars and len(encoded.encode()) <= max_bytes:
        return safe, encoded
    safe, _ = _cut_strings(safe, max_string_chars)
    encoded = compact_json(safe)
    head = encoded.encode()
    size = len(head)
    if size <= max_bytes:
        return safe, encoded
    snippet_bytes = max(max_bytes // 2, 64)
    while True:
        # Escaping can double the snippet's size: shrink it until the document fits.
        snippet = head[:snippet_bytes].decode("utf-8", "ignore")
        document = {TRUNCATED_KEY: True, "original_bytes": size, "snippet": snippet}
        text = compact_json(document)
        excess = len(text.encode()) - max_bytes
        if excess <= 0 or not snippet:
            return document, text
        snippet_bytes = max(snippet_bytes - excess, 0)


def encode(
    value: Any, where: str, redactor: Redactor, *, max_bytes: int, max_string_chars: int
) -> StoredJson:
    """``prepare``'d ``value`` as its stored JSON text."""
    return encode_all(
        {where: value}, redactor, max_bytes=max_bytes, max_string_chars=max_string_chars
    )[where]


def encode_all(
    values: dict[str, Any], redactor: Redactor, *, max_bytes: int, max_string_chars: int
) -> dict[str, StoredJson]:
    """``encode`` of each value (keyed by where it is), with one redaction check for all.

    The common case costs a C-encoded ``json`` call per value and a few substring tests:
    text with no escape sequence holds every string and key verbatim, so when the texts
    have no unstorable character, no string over the caps and nothing ``redactor`` might
    replace, they are stored as they are. Anything else takes the full ``prepare`` walk.
    """
    texts: dict[str, StoredJson] = {}
    strings: list[str] | None = []
    for where, value in values.items():
        if type(value) is dict and not value:  # most events' metadata
            texts[where] = _EMPTY_OBJECT
            continue
        text = _verbatim_json(value, max_bytes, max_string_chars)
        if text is None:
            break
        texts[where] = StoredJson(text)
        if strings is not None:
            strings = _flat_strings(value, strings)
    else:
        if strings is not None:  # flat documents: their strings, mostly known clean
            if not redactor.any_may_match(strings):
                return texts
        elif not redactor.may_match("\n".join(texts.values())):
            return texts
    return {
        where: StoredJson(_prepared(value, where, redactor, max_bytes, max_string_chars)[1])
        for where, value in values.items()
    }


_SCALARS = frozenset({int, float, bool, type(None)})


def _flat_strings(value: Any, strings: list[str]) -> list[str] | None:
    """``strings`` plus the keys and string values of ``value`` when it is a flat mapping
    of scalars (a typical event's evidence); None for anything else."""
    if type(value) is not dict:
        return None
    for key, item in value.items():
        if type(key) is not str:
            return None
        strings.append(key)
        if type(item) is str:
            strings.append(item)
        elif type(item) not in _SCALARS:
            return None
    return strings


def _verbatim_json(value: Any, max_bytes: int, max_string_chars: int) -> str | None:
    """The JSON text of plain ``value`` when it holds every string as written (no escape
    sequence, nothing unstorable) within the caps; None otherwise."""
    try:
        text = _STRICT_ENCODER.encode(value)
    except (TypeError, ValueError):  # not plain JSON data: prepare converts or explains it
        return None
    return text if _is_verbatim(text, max_bytes, max_string_chars) else None


def _is_verbatim(text: str, max_bytes: int, max_string_chars: int) -> bool:
    """Whether JSON ``text`` holds every string as written (no escape sequence, nothing
    unstorable) within the caps."""
    return (
        len(text) <= max_string_chars
        and "\\" not in text
        and (text.isascii() or _UNSTORABLE.search(text) is None)
        and (len(text) * 4 <= max_bytes or len(text.encode()) <= max_bytes)
    )


def encode_text(
    text: str, where: str, redactor: Redactor, *, max_bytes: int, max_string_chars: int
) -> StoredJson:
    """``encode`` of the data that JSON ``text`` stands for, keeping ``text`` itself (its
    key order, its spacing) when it can be stored as it is: a large document already
    encoded (a definition's canonical form) is not encoded again."""
    if (
        _is_verbatim(text, max_bytes, max_string_chars)
        and "NaN" not in text  # not JSON: the full path says so
        and "Infinity" not in text
        and not redactor.may_match(text)
    ):
        return StoredJson(text)
    return encode(
        json.loads(text), where, redactor, max_bytes=max_bytes, max_string_chars=max_string_chars
    )
