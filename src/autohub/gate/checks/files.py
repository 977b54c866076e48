"""The checks that look for files: documentation and a rollback plan."""

from __future__ import annotations

import asyncio
from pathlib import Path

from autohub.config import GateDocumentationCheck, GateRollbackCheck
from autohub.gate.checks.target import Target
from autohub.gate.report import CheckResult
from autohub.gate.tree import git

SHOWN_TAGS = 5


def present(tree: Path, name: str) -> bool:
    """Whether ``name`` is a non-empty file inside the tree (an empty README documents
    nothing)."""
    path = (tree / name).resolve()
    try:
        return path.is_relative_to(tree) and path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


async def documentation(target: Target, settings: GateDocumentationCheck) -> CheckResult:
    """At least one of the documentation files is there."""
    found = [name for name in settings.files if present(target.tree, name)]
    missing = [name for name in settings.files if name not in found]
    evidence = {"found": found, "missing": missing}
    if found:
        return CheckResult("documentation", "passed", f"{', '.join(found)} present", evidence)
    wanted = " or ".join(settings.files)
    return CheckResult("documentation", "failed", f"no {wanted} (or empty)", evidence)


async def rollback(target: Target, settings: GateRollbackCheck) -> CheckResult:
    """A rollback plan (``file``) is written down, or there are git tags to go back to."""
    if present(target.tree, settings.file):
        evidence = {"file": settings.file, "file_present": True}
        return CheckResult("rollback", "passed", f"{settings.file} present", evidence)
    tags = await asyncio.to_thread(_newest_tags, target.tree)
    evidence = {
        "file": settings.file,
        "file_present": False,
        "git": tags is not None,
        "tags": len(tags or ()),
        "newest_tags": (tags or [])[:SHOWN_TAGS],
    }
    if tags:
        noun = "tag" if len(tags) == 1 else "tags"
        reason = f"{len(tags)} git {noun} to roll back to (newest: {tags[0]})"
        return CheckResult("rollback", "passed", reason, evidence)
    where = "the repository has no tags" if tags is not None else "not a git repository"
    return CheckResult("rollback", "failed", f"no {settings.file}, and {where}", evidence)


def _newest_tags(tree: Path) -> list[str] | None:
    """The repository's tags, newest first; None outside a git repository (``git`` fails)."""
    listed = git(tree, "tag", "--list", "--sort=-creatordate")
    return None if listed is None else listed.split()
