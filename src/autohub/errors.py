"""The exception tree of autohub.

    AutohubError                 root; the default message is the class docstring
    ├── ProblemsError            one or more located problems, listed together
    │   ├── ConfigError          autohub.yaml, the secrets file, the environment
    │   └── DefinitionError      automation definitions (YAML files, Python modules)
    ├── SecretsError             a secret that is missing or insecurely stored
    ├── StoreError               the database
    │   ├── StoreUnavailable     the database cannot be reached
    │   ├── MigrationRequired    the schema is older (or newer) than this code
    │   └── NotFound             a record that does not exist
    └── InvalidInput             a value given by the user (CLI option, API field)
        └── Conflict             a record not in the state the request needs

Driver errors are kept as ``__cause__`` when they are re-raised as ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class AutohubError(Exception):
    """autohub failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem, located by file, line and key path (any of them may be unknown)."""

    file: str | None
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ProblemsError(AutohubError):
    """Invalid input"""

    def __init__(self, problems: Iterable[Problem], summary: str | None = None) -> None:
        self.problems: Sequence[Problem] = sorted(
            set(problems), key=lambda p: (p.file or "", p.line or 0, p.key or "", p.message)
        )
        head = summary or (self.__doc__ or "").strip()
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{head} ({count} {noun}):", *(f"  {p}" for p in self.problems)]
        super().__init__("\n".join(lines))


class ConfigError(ProblemsError):
    """Invalid configuration"""


class DefinitionError(ProblemsError):
    """Invalid automation definitions"""


class SecretsError(AutohubError):
    """A secret is missing or stored insecurely."""


class StoreError(AutohubError):
    """The store failed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


class MigrationRequired(StoreError):
    """The database schema does not match this version of autohub."""


class NotFound(StoreError):
    """No such record."""


class InvalidInput(AutohubError):
    """Invalid input."""


class Conflict(InvalidInput):
    """The record is not in a state that allows this (it may have changed meanwhile)."""
