"""Helpers shared by the benchmark scripts: statistics, tables, scratch databases.

The scripts in this directory are run directly (``python benchmarks/NAME.py``), so
this module is imported as ``_common`` from the script's own directory.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

# -- statistics ------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile (linear interpolation between the closest ranks)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# -- formatting ------------------------------------------------------------------------


def fmt_int(value: float) -> str:
    return f"{round(value):,}" if not math.isnan(value) else "n/a"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}" if not math.isnan(seconds) else "n/a"


def fmt_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: str = "") -> str:
    """A plain-text table; columns whose index is in ``right`` (e.g. "234") align right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            cell.rjust(width) if str(index) in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def time_interleaved(
    ways: Mapping[str, Callable[[], None]], calls: int, warmup: int = 5
) -> dict[str, list[float]]:
    """Seconds of ``calls`` calls of each way, interleaved (one of each in turn), after
    ``warmup`` untimed calls of each (connections, imports)."""
    for call in ways.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in ways}
    progress(f"timing {calls} calls of each, interleaved")
    for _ in range(calls):
        for name, call in ways.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return times


def comparison_table(times: Mapping[str, Sequence[float]], base: str, over: bool = False) -> str:
    """Median and p95 (ms) of each way and its ratio to way ``base`` (and, with ``over``,
    the difference of the medians in ms)."""
    reference = median(times[base])
    rows = []
    for name, values in times.items():
        middle = median(values)
        extra = [fmt_ms(middle - reference)] if over else []
        rows.append(
            [name, fmt_ms(middle), fmt_ms(percentile(values, 95)), *extra,
             f"{middle / reference:.2f}x"]
        )  # fmt: skip
    headers = ["way", "median ms", "p95 ms", *([f"over {base} ms"] if over else []), f"vs {base}"]
    return render_table(headers, rows, right="".join(str(i) for i in range(1, len(headers))))


# -- the run ---------------------------------------------------------------------------


def hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: show it as given
        return url


def command_line(secret_options: Sequence[str] = ("--postgres-url",)) -> str:
    """How this script was started, with passwords in URL options hidden."""
    args = list(sys.argv)
    for index, arg in enumerate(args):
        for option in secret_options:
            if arg == option and index + 1 < len(args):
                args[index + 1] = hide_password(args[index + 1])
            elif arg.startswith(option + "="):
                args[index] = f"{option}={hide_password(arg.split('=', 1)[1])}"
    executable = os.path.relpath(sys.executable) if sys.executable else "python"
    return shlex.join([executable, *args])


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def machine_summary() -> str:
    import sqlite3

    import psycopg

    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), SQLite {sqlite3.sqlite_version}"
    )


# -- scratch databases -----------------------------------------------------------------


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


@contextmanager
def scratch_postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh, empty database ``name`` on the server of ``server_url``; yields its URL.

    The database is dropped first if it exists and dropped again on exit, through an
    AUTOCOMMIT connection to the database named in ``server_url``.
    """
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    quoted = admin.dialect.identifier_preparer.quote(name)
    drop = f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(drop)
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except BaseException:
        admin.dispose()
        raise
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(drop)
        finally:
            admin.dispose()
