"""KeywordDetector: does a tool's output say that a piece of work got done?

The seed's categories and base confidences: commit-related 95, build-success 90,
deployment 90, test-success 88, bug-fixed 85, file-created 75. Keywords match whole
words, case-insensitively ("passed" does not match inside "bypassed"). Then:

* a failure indicator anywhere in the output ("failed", "error", "traceback"...)
  subtracts 30. Counts of zero ("0 failed", "no errors") are not failures;
* a clear context adds 5: the keyword's own line is free of failure indicators and
  names something concrete, a number or a commit hash ("3 passed", "[main 1a2b3c4]");
* the result is clamped to 0..100.

A keyword counted as zero ("0 passed", "no tests passed", "0 files changed") is no
success either. The most confident match wins; ties go to the earliest category in
:data:`CATEGORIES`. Output longer than :data:`MAX_SCAN_CHARS` is read at its head and
its tail (where tools print their summaries), so a huge log costs milliseconds, not
seconds.
This module is standard library only: the Claude Code hook imports it on every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAILURE_PENALTY = 30
CLEAR_CONTEXT_BONUS = 5
CONTEXT_CHARS = 200
MAX_SCAN_CHARS = 256 * 1024
HEAD_CHARS = 32 * 1024


@dataclass(frozen=True)
class Category:
    name: str
    base_confidence: int
    keywords: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "commit-related",
        95,
        ("committed", "commit created", "pushed", "merged", "files changed", "file changed"),
    ),
    Category(
        "build-success",
        90,
        (
            "build succeeded",
            "build successful",
            "build complete",
            "built successfully",
            "compiled successfully",
            "successfully built",
        ),
    ),
    Category(
        "deployment",
        90,
        ("deployed", "deployment succeeded", "deployment successful", "released", "rolled out"),
    ),
    Category(
        "test-success",
        88,
        ("tests passed", "all tests passed", "passed", "tests pass", "all green"),
    ),
    Category("bug-fixed", 85, ("fixed", "bug fixed", "resolved", "fixes")),
    Category("file-created", 75, ("created", "file created", "wrote", "written")),
)

FAILURE_INDICATORS = (
    "failed",
    "failure",
    "failures",
    "fail",
    "error",
    "errors",
    "exception",
    "traceback",
    "fatal",
    "panic",
    "aborted",
    "denied",
    "not found",
    "cannot",
    "could not",
    "unable to",
)


def _words(phrases: tuple[str, ...]) -> str:
    ordered = sorted(phrases, key=len, reverse=True)  # the longest phrase wins a position
    return "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase in ordered)


_KEYWORDS = {
    category.name: re.compile(rf"\b(?:{_words(category.keywords)})\b", re.IGNORECASE)
    for category in CATEGORIES
}
_FAILURE = re.compile(rf"\b(?:{_words(FAILURE_INDICATORS)})\b", re.IGNORECASE)
_ZERO_FAILURES = re.compile(
    rf"\b(?:0|no|zero)\s+(?:{_words(FAILURE_INDICATORS)})\b"
    rf"|\b(?:{_words(FAILURE_INDICATORS)})\s*[:=]\s*0\b",
    re.IGNORECASE,
)
_ZERO_BEFORE = re.compile(r"\b(?:0|no|zero)\s+\Z", re.IGNORECASE)
_CONCRETE = re.compile(r"\d|\b[0-9a-f]{7,40}\b", re.IGNORECASE)


@dataclass(frozen=True)
class Detection:
    """What the detector found: the keyword as written, its category, the confidence
    (0..100) and the text around it (not yet redacted)."""

    keyword: str
    category: str
    confidence: int
    context: str
    failure_indicator: str | None = None


def has_failure(text: str) -> str | None:
    """The first failure indicator in ``text`` that is not a count of zero, or None."""
    zero_spans = [match.span() for match in _ZERO_FAILURES.finditer(text)]
    for match in _FAILURE.finditer(text):
        start, end = match.span()
        if not any(low <= start and end <= high for low, high in zero_spans):
            return match.group(0)
    return None


class KeywordDetector:
    """Finds the most confident action-item keyword in a text; never raises."""

    def detect(self, text: object) -> Detection | None:
        """The best detection in ``text``, or None when no keyword matches."""
        if not isinstance(text, str) or not text:
            return None
        if len(text) > MAX_SCAN_CHARS:
            text = f"{text[:HEAD_CHARS]}\n{text[HEAD_CHARS - MAX_SCAN_CHARS :]}"
        failure = has_failure(text)
        best: Detection | None = None
        for category in CATEGORIES:
            match = _first_counted(_KEYWORDS[category.name], text)
            if match is None:
                continue
            line = _line_of(text, match.start(), match.end())
            confidence = category.base_confidence
            if failure is not None:
                confidence -= FAILURE_PENALTY
            if has_failure(line) is None and _CONCRETE.search(line):
                confidence += CLEAR_CONTEXT_BONUS
            confidence = max(0, min(100, confidence))
            if best is None or confidence > best.confidence:
                best = Detection(
                    keyword=" ".join(match.group(0).split()),
                    category=category.name,
                    confidence=confidence,
                    context=_context(text, match.start(), match.end()),
                    failure_indicator=failure,
                )
        return best


def _first_counted(keyword: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``keyword`` not counted as zero ("0 passed")."""
    for match in keyword.finditer(text):
        if _ZERO_BEFORE.search(text, max(0, match.start() - 16), match.start()) is None:
            return match
    return None


def _line_of(text: str, start: int, end: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start : line_end if line_end != -1 else len(text)]


def _context(text: str, start: int, end: int) -> str:
    """The keyword's line, cut to CONTEXT_CHARS around the keyword, whitespace folded.
    A cut drops the word it falls in: half a token (``ghp_A1b``) no longer looks like
    a secret, and redaction, which comes later, would keep it."""
    line = _line_of(text, start, end)
    offset = start - (text.rfind("\n", 0, start) + 1)
    if len(line) > CONTEXT_CHARS:
        keep_before = max(0, min(offset, CONTEXT_CHARS // 2))
        begin = offset - keep_before
        stop = begin + CONTEXT_CHARS
        keyword_end = offset + (end - start)
        if begin > 0 and not line[begin - 1].isspace():
            space = _SPACE.search(line, begin, offset)
            begin = space.end() if space else offset
        if stop < len(line) and not line[stop].isspace():
            spaces = [space.start() for space in _SPACE.finditer(line, keyword_end, stop)]
            stop = spaces[-1] if spaces else keyword_end
        line = line[begin:stop]
    return " ".join(line.split())


_SPACE = re.compile(r"\s")
