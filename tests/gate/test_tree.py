"""The tree the gate checks: where it may be, and which files .gitignore leaves in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gate_samples import write

from autohub.errors import InvalidInput
from autohub.gate.tree import resolve_tree, tree_files

IGNORING = {
    ".gitignore": "*.log\nbuild/\n",
    "app.py": "x = 1\n",
    "debug.log": "noise\n",
    "build/out.txt": "artefact\n",
    "sub/.gitignore": "!keep.log\nlocal.txt\n",
    "sub/keep.log": "kept\n",
    "sub/local.txt": "mine\n",
    "sub/code.py": "y = 2\n",
    "other/local.txt": "another directory's .gitignore does not apply here\n",
}
KEPT = [
    ".gitignore",
    "app.py",
    "other/local.txt",
    "sub/.gitignore",
    "sub/code.py",
    "sub/keep.log",
]


def test_a_plain_tree_is_walked_with_each_gitignore_applying_to_its_own_directory(
    tmp_path: Path,
) -> None:
    write(tmp_path, {**IGNORING, ".git/config": "not a repository's\n"})
    (tmp_path / "link.py").symlink_to(tmp_path / "app.py")

    assert tree_files(tmp_path) == KEPT


def test_a_git_work_tree_lists_tracked_and_untracked_files_that_are_not_ignored(
    tmp_path: Path,
) -> None:
    write(tmp_path, IGNORING)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "app.py"], check=True)
    (tmp_path / "link.py").symlink_to(tmp_path / "app.py")

    assert tree_files(tmp_path) == KEPT


def test_a_tree_outside_the_root_or_that_is_no_directory_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "root", {"sub/a.txt": "a\n", "file.txt": "f\n"})
    (root / "escape").symlink_to(tmp_path)

    assert resolve_tree("sub", base=root, within=root) == root / "sub"
    assert resolve_tree(".", base=root, within=root) == root
    for outside in ("..", "sub/../..", str(tmp_path), "escape"):
        with pytest.raises(InvalidInput, match="outside the project root"):
            resolve_tree(outside, base=root, within=root)
    with pytest.raises(InvalidInput, match=r"^PATH: .*missing does not exist$"):
        resolve_tree("missing", base=root, label="PATH")
    with pytest.raises(InvalidInput, match="is not a directory"):
        resolve_tree("file.txt", base=root)
    with pytest.raises(InvalidInput, match="is not a usable path"):
        resolve_tree("bad\0name", base=root, within=root)
