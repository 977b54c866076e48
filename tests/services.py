#!/usr/bin/env python3
"""Throw-away PostgreSQL, Redis and n8n servers for the test suite, bound to 127.0.0.1.

Standard library only: this file runs under the system ``python3`` as a CLI and is
imported by the tests (``from services import PgCluster``).

    eval "$(python3 tests/services.py up)"   # install, init, start; print exports
    python3 tests/services.py down           # stop the servers

n8n is in ``n8n_service.py``.

When run as root, every PostgreSQL server binary runs as the ``postgres`` user
(``initdb`` and ``pg_ctl`` refuse to run as root), so a data directory's parent
directories must be traversable by that user; see :func:`scratch_dir`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import n8n_service  # beside this file, standard library only

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".test-services"
FALLBACK_ROOT = Path("/tmp/autohub-test-services")

DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379
PG_PORT_ENV = "AUTOHUB_TEST_PG_PORT"
REDIS_PORT_ENV = "AUTOHUB_TEST_REDIS_PORT"

#: Deliberately full of URL-, shell- and SQL-special characters to catch quoting bugs.
TEST_PASSWORD = "p@ss:w/rd?#[]%&=+$,;! 'q\"x\\y`~"

#: The OS user that runs PostgreSQL server binaries when we are root.
PG_OS_USER = "postgres"
HOST = "127.0.0.1"
# sizeof(sockaddr_un.sun_path) on Linux, including the terminating NUL.
_UNIX_PATH_MAX = 108


class ServiceError(RuntimeError):
    """A test service could not be installed, initialised, started or stopped."""


def log(message: str) -> None:
    """Print a progress message to stderr (stdout is reserved for ``export`` lines)."""
    print(f"[services] {message}", file=sys.stderr, flush=True)


def is_root() -> bool:
    """Whether we run as root (and must therefore run PostgreSQL as ``postgres``)."""
    return os.geteuid() == 0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def scratch_dir(prefix: str = "autohub-pg-") -> Path:
    """Create a fresh temp dir under /tmp that the ``postgres`` user can traverse.

    ``tempfile.mkdtemp`` and pytest's ``tmp_path`` are mode 0700 and owned by the
    current user, so as root they cannot hold a data directory; use
    ``PgCluster(datadir=scratch_dir() / "pg", port=free_port())`` instead.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    return path


def _run(
    cmd: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 300,
    cwd: str | Path = "/",  # the postgres user may not be able to enter ours
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` capturing its output; raise ServiceError with the output on failure."""
    args = [str(part) for part in cmd]
    try:
        result = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{shlex.join(args)}: {exc}") from exc
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ServiceError(f"{shlex.join(args)} exited with {result.returncode}:\n{output}")
    return result


@functools.cache
def _apt_update() -> None:
    """Run ``apt-get update`` (at most once per process)."""
    log("apt-get update")
    _apt_get("update")


def _apt_get(*args: str) -> None:
    """Run apt-get non-interactively, streaming its output to stderr."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args]
    try:
        subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=2, stderr=2, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ServiceError(f"{shlex.join(cmd)} failed: {exc}") from exc


def apt_install(*packages: str) -> None:
    """Install Debian packages (``apt-get update`` first, once per process)."""
    if not is_root():
        raise ServiceError(f"need root to apt-get install {' '.join(packages)}")
    _apt_update()
    log(f"apt-get install -y {' '.join(packages)}")
    _apt_get("install", "-y", "--no-install-recommends", *packages)


def _pg_os_ids() -> tuple[int, int]:
    """(uid, gid) of the ``postgres`` OS user."""
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError as exc:
        raise ServiceError(f"OS user {PG_OS_USER!r} does not exist") from exc
    return entry.pw_uid, entry.pw_gid


def postgres_can_traverse(directory: Path) -> bool:
    """Whether the ``postgres`` user can reach ``directory`` (always true unless root)."""
    if not is_root():
        return True
    try:
        _pg_os_ids()
    except ServiceError:
        return False
    result = _run(["runuser", "-u", PG_OS_USER, "--", "test", "-x", directory], check=False)
    return result.returncode == 0


def _wait_for_tcp(port: int, timeout: float) -> bool:
    """Poll until a TCP connection to 127.0.0.1:port succeeds; return whether it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _conf_quote(value: str) -> str:
    """Quote a string for postgresql.conf."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin."""
    return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())


@dataclass
class PgCluster:
    """A private PostgreSQL cluster listening on 127.0.0.1:port with password auth."""

    datadir: Path
    port: int
    user: str = "autohub"
    password: str = TEST_PASSWORD
    database: str = "autohub_test"

    def __post_init__(self) -> None:
        self.datadir = Path(self.datadir).absolute()

    # -- binaries ---------------------------------------------------------------

    @staticmethod
    def bindir() -> Path | None:
        """The directory holding the server binaries (initdb, pg_ctl), or None."""
        pg_config = shutil.which("pg_config")
        if pg_config:
            result = _run([pg_config, "--bindir"], check=False, timeout=30)
            out = result.stdout.strip()
            if result.returncode == 0 and out and (Path(out) / "initdb").is_file():
                return Path(out)
        found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]
        return max(found, key=_version_key) if found else None

    @classmethod
    def ensure_installed(cls) -> Path:
        """Install the Debian ``postgresql`` package if needed; return the bindir."""
        bindir = cls.bindir()
        if bindir is None:
            log("PostgreSQL server binaries not found; installing postgresql")
            apt_install("postgresql")
            bindir = cls.bindir()
            if bindir is None:
                raise ServiceError("installed postgresql but still cannot find initdb")
        if is_root():
            _pg_os_ids()
        return bindir

    def _bin(self, name: str) -> Path:
        """Path of a PostgreSQL binary."""
        bindir = self.bindir()
        if bindir is None:
            raise ServiceError("PostgreSQL binaries not found; call ensure_installed() first")
        path = bindir / name
        if name == "psql" and not path.is_file():
            return Path(shutil.which("psql") or path)
        return path

    def _server(
        self,
        name: str,
        *args: str | Path,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the ``postgres`` user when we are root."""
        prefix = ["runuser", "-u", PG_OS_USER, "--"] if is_root() else []
        return _run([*prefix, self._bin(name), *args], check=check, timeout=timeout)

    # -- lifecycle --------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.datadir / "server.log"

    def is_initialised(self) -> bool:
        """Whether initdb completed in ``datadir``."""
        return (self.datadir / "PG_VERSION").is_file()

    def init(self) -> None:
        """initdb the cluster (wiping a half-initialised datadir); no-op if done."""
        if self.is_initialised():
            return
        if "\n" in self.password or "\r" in self.password:
            raise ValueError("the password must not contain line breaks (initdb --pwfile)")
        if self.datadir.exists():
            log(f"{self.datadir} is not an initialised cluster (no PG_VERSION); wiping it")
            shutil.rmtree(self.datadir)
        parent = self.datadir.parent
        created_parent = not parent.exists()
        parent.mkdir(parents=True, exist_ok=True)
        self.datadir.mkdir(mode=0o700)
        self.datadir.chmod(0o700)
        if is_root():
            uid, gid = _pg_os_ids()
            if created_parent:
                os.chown(parent, uid, gid)
            os.chown(self.datadir, uid, gid)
            if not postgres_can_traverse(self.datadir):
                shutil.rmtree(self.datadir)
                raise ServiceError(
                    f"the {PG_OS_USER!r} user cannot reach {self.datadir}: every parent directory"
                    " needs o+x (tip: use services.scratch_dir() instead of tmp_path/mkdtemp)"
                )
        log(f"initdb {self.datadir}")
        self._initdb()
        self._configure()

    def _initdb(self) -> None:
        """Run initdb with the password passed through a temporary --pwfile."""
        fd, pwfile = tempfile.mkstemp(prefix="autohub-pwfile-", dir="/tmp" if is_root() else None)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.password + "\n")
            if is_root():
                os.chown(pwfile, *_pg_os_ids())
            self._server(
                "initdb",
                "-D",
                self.datadir,
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            )
        finally:
            Path(pwfile).unlink(missing_ok=True)

    def _configure(self) -> None:
        """Append our settings to postgresql.conf and replace pg_hba.conf."""
        socket_dir = str(self.datadir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") >= _UNIX_PATH_MAX:
            log(f"{socket_dir} is too long for a Unix socket path; TCP only")
            socket_dir = ""
        settings = {
            "listen_addresses": _conf_quote(HOST),
            "port": str(self.port),
            "unix_socket_directories": _conf_quote(socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # Writing to the existing files as root keeps their postgres ownership.
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(f"\n# --- autohub test settings (tests/services.py) ---\n{lines}")
        (self.datadir / "pg_hba.conf").write_text(
            "# autohub test cluster (tests/services.py): password auth only\n"
            "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
            "local   all       all                 scram-sha-256\n"
            "host    all       all   127.0.0.1/32  scram-sha-256\n",
            encoding="utf-8",
        )

    def is_running(self) -> bool:
        """Whether a postmaster is running on ``datadir`` (``pg_ctl status``)."""
        if not self.is_initialised() or self.bindir() is None:
            return False
        return self._server("pg_ctl", "status", "-D", self.datadir, check=False).returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Start the server (no-op if running) and wait until 127.0.0.1:port accepts."""
        if not self.is_initialised():
            raise ServiceError(f"{self.datadir} is not initialised; call init() first")
        if not self.is_running():
            log(f"starting PostgreSQL on {HOST}:{self.port} ({self.datadir})")
            result = self._server(
                "pg_ctl",
                "-D",
                self.datadir,
                "-l",
                self.log_file,
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                f"-p {int(self.port)}",
                "start",
                check=False,
                timeout=timeout + 30,
            )
            if result.returncode != 0:
                raise ServiceError(
                    f"pg_ctl start failed ({result.returncode}):\n"
                    f"{(result.stdout + result.stderr).strip()}\n"
                    f"--- {self.log_file} ---\n{_tail(self.log_file)}"
                )
        if not _wait_for_tcp(self.port, timeout):
            raise ServiceError(
                f"PostgreSQL ({self.datadir}) is running but {HOST}:{self.port} does not accept"
                f" connections\n--- {self.log_file} ---\n{_tail(self.log_file)}"
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server with ``pg_ctl stop -m mode`` (no-op if not running)."""
        if not self.is_running():
            return
        log(f"stopping PostgreSQL on port {self.port} ({mode})")
        self._server("pg_ctl", "stop", "-D", self.datadir, "-m", mode, "-w", "-t", "60", timeout=90)

    def remove(self) -> None:
        """Stop the server immediately and delete ``datadir``."""
        self.stop(mode="immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)

    # -- client side ------------------------------------------------------------

    def psql(
        self, script: str, database: str | None = None, variables: dict[str, str] | None = None
    ) -> str:
        """Run an SQL script with psql over TCP as ``user``; return its stdout.

        ``variables`` become psql variables, usable as ``:'name'`` (literal) or
        ``:"name"`` (identifier) in the script.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10", PGAPPNAME="autohub-tests")
        cmd: list[str | Path] = [
            self._bin("psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database or "postgres",
        ]
        for name, value in (variables or {}).items():
            cmd += ["-v", f"{name}={value}"]
        return _run([*cmd, "-f", "-"], env=env, stdin=script, timeout=120).stdout

    def create_database(self, name: str) -> None:
        """Create database ``name`` owned by ``user`` unless it exists."""
        self.psql(
            "SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'owner')\n"
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname')\n"
            "\\gexec\n",
            variables={"dbname": name, "owner": self.user},
        )

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3 driver) with user and password percent-encoded."""
        user = quote(self.user, safe="")
        password = quote(self.password, safe="")
        dbname = database or self.database
        return f"postgresql+psycopg://{user}:{password}@{HOST}:{self.port}/{dbname}"

    def up(self) -> None:
        """ensure_installed + init + start + create ``database``."""
        self.ensure_installed()
        self.init()
        self.start()
        self.create_database(self.database)


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server on 127.0.0.1:port answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A private, non-persistent redis-server daemon on 127.0.0.1:port."""

    dir: Path
    port: int

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).absolute()

    @property
    def pidfile(self) -> Path:
        """The daemon's pid file."""
        return self.dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        """The daemon's log file."""
        return self.dir / "redis.log"

    @staticmethod
    def ensure_installed() -> str:
        """Install the Debian ``redis-server`` package if needed; return its path."""
        exe = shutil.which("redis-server")
        if exe is None:
            log("redis-server not found; installing redis-server")
            apt_install("redis-server")
            exe = shutil.which("redis-server")
            if exe is None:
                raise ServiceError("installed redis-server but it is still not on PATH")
        return exe

    def is_running(self) -> bool:
        """Whether something answers PING on 127.0.0.1:port."""
        return redis_ping(self.port)

    def start(self, timeout: float = 30) -> None:
        """Start a daemonized redis-server (no-op if the port already answers PING)."""
        if self.is_running():
            return
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServiceError("redis-server not found; call ensure_installed() first")
        self.dir.mkdir(parents=True, exist_ok=True)
        log(f"starting Redis on {HOST}:{self.port} ({self.dir})")
        _run(
            [
                exe,
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--daemonize",
                "yes",
                "--dir",
                self.dir,
                "--pidfile",
                self.pidfile,
                "--logfile",
                self.log_file,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"redis-server did not answer PING on port {self.port}\n"
                    f"--- {self.log_file} ---\n{_tail(self.log_file)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> None:
        """Shut the server down without saving (no-op if not running)."""
        if not self.is_running():
            return
        log(f"stopping Redis on port {self.port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 2) as sock:
            sock.sendall(b"SHUTDOWN NOSAVE\r\n")
            sock.recv(64)  # the server closes the connection once it has shut down
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() >= deadline:
                self._kill()
                break
            time.sleep(0.1)

    def _kill(self) -> None:
        """Fallback: SIGKILL the pid from the pid file."""
        try:
            pid = int(self.pidfile.read_text(encoding="ascii").strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError) as exc:
            raise ServiceError(f"cannot stop redis-server on port {self.port}: {exc}") from exc

    def url(self) -> str:
        """``redis://127.0.0.1:port/0``."""
        return f"redis://{HOST}:{self.port}/0"

    def up(self) -> None:
        """ensure_installed + start."""
        self.ensure_installed()
        self.start()


# -- promtool -----------------------------------------------------------------------


def ensure_promtool(state_dir: Path) -> Path:
    """``promtool`` from Debian's prometheus package: on PATH, or unpacked once into
    ``state_dir/prometheus`` (``apt-get download`` + ``dpkg-deb -x``: no service is
    installed or started)."""
    found = shutil.which("promtool")
    if found:
        return Path(found)
    root = state_dir / "prometheus"
    binary = root / "usr" / "bin" / "promtool"
    if binary.exists():
        return binary
    debs = state_dir / "debs"
    debs.mkdir(exist_ok=True)
    if is_root():
        _apt_update()
    log("apt-get download prometheus (for promtool)")
    _run(["apt-get", "download", "prometheus"], cwd=debs, timeout=600)
    (deb,) = sorted(debs.glob("prometheus_*.deb"))[-1:]
    _run(["dpkg-deb", "-x", str(deb), str(root)], timeout=300)
    deb.unlink()
    if not binary.exists():
        raise ServiceError(f"the prometheus package has no {binary.relative_to(root)}")
    return binary


# -- command line -----------------------------------------------------------------


def _env_port(name: str, default: int) -> int:
    """A port number from the environment variable ``name``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ServiceError(f"{name}={raw!r} is not a valid port")
    return port


def _fallback_datadir(state_dir: Path) -> Path:
    """The /tmp data directory used when ``postgres`` cannot reach the state dir."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return FALLBACK_ROOT / digest / "pg"


def _prepare_state_dir(state_dir: Path) -> None:
    """Create the state dir, make it traversable and keep it out of git."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(state_dir.stat().st_mode | 0o111)
    gitignore = state_dir / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")


def pg_datadir_for(state_dir: Path) -> Path:
    """``state_dir/pg``, or a /tmp fallback if the postgres user cannot reach it."""
    if postgres_can_traverse(state_dir):
        return state_dir / "pg"
    fallback = _fallback_datadir(state_dir)
    log(
        f"user {PG_OS_USER!r} cannot traverse {state_dir} (a parent lacks o+x);"
        f" using {fallback} for the PostgreSQL data directory"
    )
    for directory in (FALLBACK_ROOT, fallback.parent):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)
    return fallback


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise concurrent ``up``/``down`` runs on one state dir."""
    with (state_dir / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cmd_up(state_dir: Path) -> None:
    """Install, init and start both servers; print ``export`` lines on stdout."""
    pg_port = _env_port(PG_PORT_ENV, DEFAULT_PG_PORT)
    redis_port = _env_port(REDIS_PORT_ENV, DEFAULT_REDIS_PORT)
    _prepare_state_dir(state_dir)
    with _locked(state_dir):
        bindir = PgCluster.ensure_installed()
        RedisServer.ensure_installed()
        cluster = PgCluster(datadir=pg_datadir_for(state_dir), port=pg_port)
        cluster.up()
        redis = RedisServer(dir=state_dir / "redis", port=redis_port)
        redis.up()
        promtool = ensure_promtool(state_dir)
        try:
            n8n_exports = n8n_service.up(state_dir)
        except (n8n_service.N8nError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(str(exc)) from exc
    log(f"PostgreSQL {HOST}:{pg_port} ({cluster.datadir}), Redis {HOST}:{redis_port}: ready")
    exports = {
        "AUTOHUB_TEST_POSTGRES_URL": cluster.url(),
        "AUTOHUB_TEST_PG_BINDIR": str(bindir),
        "AUTOHUB_TEST_REDIS_URL": redis.url(),
        "AUTOHUB_TEST_PROMTOOL": str(promtool),
        **n8n_exports,
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")


def cmd_down(state_dir: Path) -> None:
    """Stop both servers (whichever PostgreSQL data directory ``up`` used)."""
    redis_port = _env_port(REDIS_PORT_ENV, DEFAULT_REDIS_PORT)
    pg_port = _env_port(PG_PORT_ENV, DEFAULT_PG_PORT)
    if not state_dir.is_dir():
        log(f"{state_dir} does not exist; nothing to stop")
        return
    with _locked(state_dir):
        for datadir in (state_dir / "pg", _fallback_datadir(state_dir)):
            PgCluster(datadir=datadir, port=pg_port).stop()
        RedisServer(dir=state_dir / "redis", port=redis_port).stop()
        with contextlib.suppress(n8n_service.N8nError):
            n8n_service.down(state_dir)
    log("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"where data and logs live (default: {DEFAULT_STATE_DIR})",
    )
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.absolute()
    try:
        if args.command == "up":
            cmd_up(state_dir)
        else:
            cmd_down(state_dir)
    except ServiceError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
