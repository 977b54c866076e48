"""Checks used as python steps."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any


def verify_archive(ctx: Any, path: str) -> dict[str, Any]:
    """Open the archive and read every member; a corrupt archive raises."""
    archive = Path(path)
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    extracted.read()
    return {"path": str(archive), "members": len(members), "bytes": archive.stat().st_size}
