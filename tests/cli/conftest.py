"""Fixtures of the end-to-end CLI tests: ``autohub`` run as a user runs it.

Every command is a real subprocess (``python -m autohub ...``) in a temporary
project directory, with a clean environment: no ``AUTOHUB_*`` variable leaks in
from the developer's shell, ``TZ=UTC`` (times are printed in local time) and no
``COLUMNS`` (output is what an 80-column pipe gets).

* ``cli`` runs a command and returns ``CliResult(code, stdout, stderr)``; with
  ``check=N`` it asserts the exit code. It always asserts that no Python
  traceback was printed: every failure must be a message.
* ``project`` is ``autohub init proj`` on the ``database_url`` fixture (an empty
  SQLite or PostgreSQL database), so a test using it runs on both databases.
* ``read_db(url, sql)``, ``tables(url)`` and ``line(path, needle)`` check what a
  command did and where a problem is.
* ``sqlite_project`` is the same on SQLite only; ``example`` is the example
  project copied in-process (no subprocess, no database) for the commands that
  never touch the store.

A subprocess costs 0.3-1.5 s: keep the number of ``cli`` calls per test small.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

AUTOHUB = [sys.executable, "-m", "autohub"]
TIMEOUT = 60.0
_DROPPED_ENV = (
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "PYTHONUNBUFFERED",  # a user's shell does not set it: --follow must flush by itself
    "PYTHONDONTWRITEBYTECODE",  # see pycache_dir
)


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        import json

        return json.loads(self.stdout)


def clean_environment(tmp_path: Path, pycache: Path) -> dict[str, str]:
    """The caller's environment without anything that changes autohub's behaviour."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AUTOHUB_") and key not in _DROPPED_ENV
    }
    env["TZ"] = "UTC"
    env["HOME"] = str(tmp_path / "home")  # nothing read from the real home directory
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@pytest.fixture(scope="session")
def pycache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode for the subprocesses, shared by the xdist workers of one run.

    An installed package has its .pyc files; without them (PYTHONDONTWRITEBYTECODE
    and no __pycache__ in the venv) every subprocess would compile SQLAlchemy and
    pydantic again, 3x slower than a user's. The cache lives outside the source tree.
    """
    path = tmp_path_factory.getbasetemp().parent / "autohub-cli-pycache"
    path.mkdir(exist_ok=True)
    return path


@dataclass
class Cli:
    """Runs ``autohub`` in ``cwd`` with ``env`` (both may be changed by fixtures and tests)."""

    cwd: Path
    env: dict[str, str]
    calls: list[list[str]] = field(default_factory=list)

    def __call__(
        self,
        *args: str,
        check: int | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> CliResult:
        import subprocess

        argv = [*AUTOHUB, *args]
        self.calls.append(list(args))
        completed = subprocess.run(
            argv,
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        result = CliResult(completed.returncode, completed.stdout, completed.stderr)
        shown = f"autohub {' '.join(args)}\n--- exit {result.code}\n--- stdout\n{result.stdout}"
        shown += f"--- stderr\n{result.stderr}"
        assert "Traceback" not in result.output, f"a traceback was printed:\n{shown}"
        if check is not None:
            assert result.code == check, f"expected exit {check}:\n{shown}"
        return result

    def popen(self, *args: str, **kwargs: Any) -> Any:
        """Start ``autohub`` in the background (text pipes for stdout and stderr)."""
        import subprocess

        return subprocess.Popen(
            [*AUTOHUB, *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            **kwargs,
        )


@pytest.fixture
def cli(tmp_path: Path, pycache_dir: Path) -> Cli:
    """The ``autohub`` runner, in ``tmp_path`` until a project fixture moves it."""
    (tmp_path / "home").mkdir()
    return Cli(cwd=tmp_path, env=clean_environment(tmp_path, pycache_dir))


@dataclass
class Project:
    root: Path
    database_url: str

    def path(self, relative: str) -> Path:
        return self.root / relative


def _init(cli: Cli, tmp_path: Path, database_url: str) -> Project:
    cli.env["AUTOHUB_DATABASE_URL"] = database_url
    cli("init", "proj", check=0)
    cli.cwd = tmp_path / "proj"
    return Project(cli.cwd, database_url)


@pytest.fixture
def project(cli: Cli, tmp_path: Path, database_url: str) -> Project:
    """``autohub init proj`` on an empty SQLite or PostgreSQL database; cli runs inside it."""
    return _init(cli, tmp_path, database_url)


@pytest.fixture
def sqlite_project(cli: Cli, tmp_path: Path) -> Project:
    """``autohub init proj`` on a SQLite file (for tests that need a store but not both)."""
    return _init(cli, tmp_path, f"sqlite:///{tmp_path / 'autohub.db'}")


@pytest.fixture
def example(cli: Cli, tmp_path: Path) -> Project:
    """The example project copied in-process (no database); for commands without a store.

    AUTOHUB_DATABASE_URL names a SQLite file that does not exist: a command that
    creates it has touched the store.
    """
    from autohub.scaffold import scaffold

    root = tmp_path / "proj"
    root.mkdir()
    scaffold(root, "proj")
    url = f"sqlite:///{tmp_path / 'untouched.db'}"
    cli.env["AUTOHUB_DATABASE_URL"] = url
    cli.cwd = root
    return Project(root, url)


# -- reading the database directly (to check what a command did) -----------------------


@pytest.fixture
def read_db() -> Iterator[Any]:
    """``read_db(url, sql, **params)``: rows as dicts, through a connection that is closed."""
    engines: list[sa.Engine] = []

    def read(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
        engine = sa.create_engine(_sync_url(url), poolclass=NullPool)
        engines.append(engine)
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]

    yield read
    for engine in engines:
        engine.dispose()


@pytest.fixture
def tables() -> Any:
    """``tables(url)``: the table names in a database (never creating a SQLite file)."""
    return table_names


@pytest.fixture
def line() -> Any:
    """``line(path, needle, start=1)``: the number of the first line containing ``needle``."""
    return line_of


def table_names(url: str) -> set[str]:
    """The tables in a database (an absent SQLite file has none, and is not created)."""
    parsed = make_url(_sync_url(url))
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return set()
    engine = sa.create_engine(parsed, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def line_of(path: Path, needle: str, start: int = 1) -> int:
    """The number of the first line at or after ``start`` containing ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path} (from line {start})")
