"""``autohub init``: an example project with realistic automations to start from."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autohub.errors import InvalidInput

EXAMPLE = Path(__file__).parent / "scaffold" / "example"
PLACEHOLDER = "__PROJECT__"
_RENAMES = {"gitignore": ".gitignore"}


@dataclass
class Scaffolded:
    root: Path
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def scaffold(root: Path, project: str, *, force: bool = False) -> Scaffolded:
    """Copy the example project into ``root``; existing files are kept unless ``force``."""
    if (root / "autohub.yaml").exists() and not force:
        raise InvalidInput(
            f"{root / 'autohub.yaml'} already exists: this is a project already "
            "(use --force to overwrite the example files)"
        )
    result = Scaffolded(root)
    for source in sorted(EXAMPLE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(EXAMPLE)
        target = root / relative.parent / _RENAMES.get(relative.name, relative.name)
        if target.exists() and not force:
            result.kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix in (".yaml", ".py", ".txt", "") or source.name == "gitignore":
            target.write_text(source.read_text().replace(PLACEHOLDER, project))
        else:
            shutil.copyfile(source, target)
        result.created.append(target)
    return result
