"""The tree the gate checks: where it may be, and its files as git sees them.

In a git work tree the files are ``git ls-files --cached --others --exclude-standard``
(tracked, plus untracked ones no .gitignore excludes, nested .gitignore files and
.git/info/exclude included). Elsewhere the tree is walked and every .gitignore in it
applies to its own directory, as git would apply it. ``.git`` and symbolic links are
never listed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pathspec import GitIgnoreSpec

from autohub.errors import InvalidInput

GIT_TIMEOUT_SECONDS = 30.0


def resolve_tree(
    path: str | Path, *, base: Path, within: Path | None = None, label: str = "path"
) -> Path:
    """The directory ``path`` names (relative to ``base``), or InvalidInput; with
    ``within``, it must also be inside that directory once symbolic links are resolved
    (``..`` and links cannot lead out). ``label`` names the input in errors."""
    try:
        tree = (base / path).resolve()
        exists, is_dir = tree.exists(), tree.is_dir()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long, a loop of links
        raise InvalidInput(f"{label}: {str(path)!r} is not a usable path: {exc}") from exc
    if within is not None:
        root = within.resolve()
        if tree != root and not tree.is_relative_to(root):
            raise InvalidInput(f"{label}: {str(path)!r} is outside the project root {root}")
    if not exists:
        raise InvalidInput(f"{label}: {tree} does not exist")
    if not is_dir:
        raise InvalidInput(f"{label}: {tree} is not a directory")
    return tree


def git(tree: Path, *args: str) -> str | None:
    """The output of a git command run in ``tree``; None when it fails (not a work tree,
    git missing, a repository git refuses to read)."""
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=tree,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.decode("utf-8", "surrogateescape")


def tree_files(tree: Path) -> list[str]:
    """The tree's regular files that .gitignore does not exclude, as sorted POSIX paths
    relative to ``tree``."""
    listed = git(tree, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is not None:  # only a work tree answers
        names = {name for name in listed.split("\0") if name}
        return sorted(name for name in names if _regular_file(tree / name))
    return _walk(tree)


def _regular_file(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def _walk(tree: Path) -> list[str]:
    found: list[str] = []
    specs: list[tuple[str, GitIgnoreSpec]] = []  # (directory prefix, its .gitignore)
    for walked, subdirectories, filenames in os.walk(tree):
        directory = Path(walked)
        relative = directory.relative_to(tree).as_posix()
        prefix = "" if relative == "." else relative + "/"
        ignore_file = directory / ".gitignore"
        if _regular_file(ignore_file):
            try:
                lines = ignore_file.read_text("utf-8", "replace").splitlines()
            except OSError:
                lines = []
            specs.append((prefix, GitIgnoreSpec.from_lines(lines)))
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name != ".git"
            and not (directory / name).is_symlink()
            and not _ignored(specs, f"{prefix}{name}/")
        )
        found += (
            f"{prefix}{name}"
            for name in sorted(filenames)
            if _regular_file(directory / name) and not _ignored(specs, prefix + name)
        )
    return found


def _ignored(specs: list[tuple[str, GitIgnoreSpec]], path: str) -> bool:
    """Whether the .gitignore files above ``path`` exclude it (the deepest one that has a
    say wins, as in git)."""
    ignored = False
    for prefix, spec in specs:
        if path.startswith(prefix):
            verdict = spec.check_file(path[len(prefix) :]).include
            if verdict is not None:
                ignored = verdict
    return ignored
