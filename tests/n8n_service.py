"""A real n8n 2.8.4 for the tests, bound to 127.0.0.1, driven by the scripts of
``tests/fixtures/n8n`` (a copy of ../shared/n8n, whose README records how n8n answers).

* installed once into a cache outside the repository (``~/.cache/autohub-n8n/install``,
  about 4.5 minutes and 2.3 GB the first time; ``AUTOHUB_TEST_N8N_INSTALL_DIR`` moves it);
* its home (database, API key) lives in the test-services directory: the first ``up``
  loads the fixture workflows and credential with the n8n CLI, starts n8n, creates the
  owner and mints a public-API key; later ``up`` calls only start it;
* it listens on ``AUTOHUB_TEST_N8N_PORT`` (default 55678), its task broker on the next
  port. Tests must not stop it (other tests share it): a stopped n8n is a closed port.

Standard library only, like ``services.py``, which calls :func:`up` and :func:`down`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "n8n"
DEFAULT_PORT = 55678
PORT_ENV = "AUTOHUB_TEST_N8N_PORT"
INSTALL_ENV = "AUTOHUB_TEST_N8N_INSTALL_DIR"
MIN_NODE = (20, 19)


class N8nError(RuntimeError):
    """n8n could not be installed, loaded or started."""


def _log(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def environment(home: Path) -> dict[str, str]:
    """The environment the fixture scripts run n8n with (see fixtures/n8n/env.sh)."""
    port = int(os.environ.get(PORT_ENV, DEFAULT_PORT))
    install = os.environ.get(INSTALL_ENV) or str(Path.home() / ".cache/autohub-n8n/install")
    return {
        **os.environ,
        "N8N_INSTALL_DIR": install,
        "N8N_USER_FOLDER": str(home),
        "N8N_PORT": str(port),
        "N8N_RUNNERS_BROKER_PORT": str(port + 1),
    }


def _script(name: str, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        ["bash", str(FIXTURES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise N8nError(f"{name} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _check_node() -> None:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise N8nError("n8n needs Node.js >= 20.19 and npm on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    parts = tuple(int(p) for p in version.stdout.strip().lstrip("v").split(".")[:2])
    if parts < MIN_NODE:
        raise N8nError(f"n8n 2.8.4 needs Node.js >= 20.19; found {version.stdout.strip()}")


def up(state_dir: Path) -> dict[str, str]:
    """Install (once), load (once per home), start n8n; the exports for the tests."""
    home = state_dir / "n8n" / "home"
    env = environment(home)
    binary = Path(env["N8N_INSTALL_DIR"]) / "node_modules" / ".bin" / "n8n"
    if not binary.exists():
        _check_node()
        _log(f"installing n8n 2.8.4 into {env['N8N_INSTALL_DIR']} (about 4.5 minutes, once)")
        _script("install-n8n.sh", env, timeout=1800)
    key_file = home / "api-key.txt"
    if not key_file.exists():
        _log("loading the n8n fixture workflows")
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        _script("load-fixtures.sh", env, timeout=300)
        _script("start-n8n.sh", env, timeout=300)
        _script("bootstrap-api.sh", env, timeout=120)
    else:
        _script("start-n8n.sh", env, timeout=300)
    _log(f"n8n 127.0.0.1:{env['N8N_PORT']} ({home}): ready")
    return {
        "AUTOHUB_TEST_N8N_URL": f"http://127.0.0.1:{env['N8N_PORT']}",
        "AUTOHUB_TEST_N8N_API_KEY": key_file.read_text().strip(),
        "AUTOHUB_TEST_N8N_HOME": str(home),
    }


def down(state_dir: Path) -> None:
    """Stop the n8n of this state directory, if it runs."""
    home = state_dir / "n8n" / "home"
    if (home / "n8n.pid").exists():
        _script("stop-n8n.sh", environment(home), timeout=120)
