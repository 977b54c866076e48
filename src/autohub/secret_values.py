"""Secrets: values from the environment and an optional secrets file, never from autohub.yaml.

Definitions refer to secrets as ``${NAME}``. The secrets file holds ``NAME=value``
lines (``#`` comments, optional ``export`` and quotes) and must be readable by its
owner only (mode 0600). The environment overrides the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from autohub.errors import Problem, SecretsError
from autohub.redact import Redactor, is_secret_key

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def references(text: str) -> list[str]:
    """The secret names ``text`` refers to with ``${NAME}``."""
    return REFERENCE.findall(text)


def read_secrets_file(path: Path) -> dict[str, str]:
    """Parse a secrets file, refusing one that others can read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise SecretsError(f"secrets file {path} does not exist") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"secrets file {path} has mode {stat.S_IMODE(mode):04o}; it must be readable "
            f"by its owner only: chmod 600 {path}"
        )
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            problems.append(Problem(str(path), number, None, "expected NAME=value"))
            continue
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    if problems:
        raise SecretsError("\n".join(["invalid secrets file:", *(f"  {p}" for p in problems)]))
    return values


class Secrets:
    """Named secret values: the environment first, then the secrets file."""

    def __init__(
        self, file_values: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self._file = dict(file_values or {})
        self._environ = dict(os.environ if environ is None else environ)

    @classmethod
    def load(cls, secrets_file: Path | None, environ: Mapping[str, str] | None = None) -> Secrets:
        values = read_secrets_file(secrets_file) if secrets_file is not None else {}
        return cls(values, environ)

    def get(self, name: str) -> str | None:
        if name in self._environ:
            return self._environ[name]
        return self._file.get(name)

    def resolve(self, text: str, where: str, *, url_quote: bool = False) -> str:
        """``text`` with each ``${NAME}`` replaced; a missing secret is an error naming ``where``.

        With ``url_quote``, a value embedded in a longer string is percent-encoded,
        so a password full of ``@:/?#`` still makes a valid URL.
        """
        from urllib.parse import quote

        whole = REFERENCE.fullmatch(text) is not None
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            value = self.get(match.group(1))
            if value is None:
                missing.append(match.group(1))
                return match.group(0)
            return quote(value, safe="") if url_quote and not whole else value

        result = REFERENCE.sub(substitute, text)
        if missing:
            names = ", ".join(sorted(set(missing)))
            raise SecretsError(
                f"{where}: secret {names} is not set; set it in the environment or the secrets file"
            )
        return result

    def redactor(self, referenced: Iterable[str] = ()) -> Redactor:
        """A redactor that knows every secret value: the file's, the referenced ones, and
        environment variables whose names say they are secrets."""
        values = list(self._file.values())
        values += [v for k, v in self._environ.items() if is_secret_key(k)]
        values += [v for name in referenced if (v := self.get(name)) is not None]
        return Redactor(values)
