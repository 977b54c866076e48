"""The secret scan: every file .gitignore keeps (``tree.py``), through detect-secrets'
default plugins and filters and the seed's patterns (a quoted value assigned to
``password``, ``api_key`` or ``secret``), plus ``gate.security.patterns``.

A finding is ``file``, ``line`` and ``type``: the secret itself is never kept. A line
marked ``pragma: allowlist secret`` is skipped by both scanners (detect-secrets'
convention). Binary files and files over ``max_file_bytes`` are not scanned.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathspec import GitIgnoreSpec

from autohub.config import GateSecurityCheck
from autohub.gate.checks.target import Target
from autohub.gate.report import CheckResult
from autohub.gate.tree import tree_files

ALLOWLIST = "pragma: allowlist secret"
SHOWN_FINDINGS = 100
"""Findings listed in the evidence (all are counted)."""
_QUOTED = r"\s*=\s*(?:'[^'\s]+'|\"[^\"\s]+\")"
SEED_PATTERNS = {
    "password": re.compile(r"(?i)password" + _QUOTED),
    "api_key": re.compile(r"(?i)api_key" + _QUOTED),
    "secret": re.compile(r"(?i)secret" + _QUOTED),
}
"""The seed's patterns; names are the finding types."""
_DETECT_SECRETS = threading.Lock()
"""detect-secrets keeps its settings in process globals: one scan at a time."""


@dataclass
class Scan:
    """What a scan found, as ``(file, line, type)`` triples."""

    findings: set[tuple[str, int, str]] = field(default_factory=set)
    files_scanned: int = 0
    files_too_large: int = 0


async def security(target: Target, settings: GateSecurityCheck) -> CheckResult:
    """No secret-looking value in the tree."""
    scan = await asyncio.to_thread(scan_tree, target.tree, settings)
    findings = sorted(scan.findings)
    evidence: dict[str, Any] = {
        "scanner": f"detect-secrets {_detect_secrets_version()} and patterns",
        "files_scanned": scan.files_scanned,
        "files_too_large": scan.files_too_large,
        "findings_total": len(findings),
        "findings": [
            {"file": file, "line": line, "type": kind}
            for file, line, kind in findings[:SHOWN_FINDINGS]
        ],
    }
    if not findings:
        reason = f"no secrets found in {_count(scan.files_scanned, 'file')}"
        return CheckResult("security", "passed", reason, evidence)
    lines = len({(file, line) for file, line, _ in findings})
    files = len({file for file, _, _ in findings})
    file, line, kind = findings[0]
    reason = (
        f"possible secrets on {_count(lines, 'line')} of {_count(files, 'file')} "
        f"(first: {file}:{line} {kind})"
    )
    return CheckResult("security", "failed", reason, evidence)


def scan_tree(tree: Path, settings: GateSecurityCheck) -> Scan:
    """Scan the tree's files (blocking: run it in a thread)."""
    patterns = {
        **SEED_PATTERNS,
        **{extra.name: re.compile(extra.regex) for extra in settings.patterns},
    }
    excluded = GitIgnoreSpec.from_lines(settings.exclude)
    scan = Scan()
    texts: list[tuple[str, Path]] = []
    for name in tree_files(tree):
        if excluded.match_file(name):
            continue
        path = tree / name
        try:
            if path.stat().st_size > settings.max_file_bytes:
                scan.files_too_large += 1
                continue
            data = path.read_bytes()
        except OSError:  # gone since it was listed, or unreadable
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        scan.files_scanned += 1
        texts.append((name, path))
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if ALLOWLIST in line:
                continue
            scan.findings.update(
                (name, number, kind) for kind, regex in patterns.items() if regex.search(line)
            )
    scan.findings.update(_detect_secrets(texts))
    return scan


def _detect_secrets(files: list[tuple[str, Path]]) -> set[tuple[str, int, str]]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    found: set[tuple[str, int, str]] = set()
    with _DETECT_SECRETS, default_settings():
        for name, path in files:
            found.update((name, secret.line_number, secret.type) for secret in scan_file(str(path)))
    return found


def _detect_secrets_version() -> str:
    from detect_secrets.__version__ import VERSION

    return str(VERSION)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
