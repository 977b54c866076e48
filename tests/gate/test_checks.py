"""Each check on its own, on trees built here; run in-process (the runner's own tests are
test_gate_runs.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from engine_helpers import process_is_gone
from gate_samples import BENCHMARK, FAILING_TESTS, INTEGRATION, PASSING_TESTS, write

from autohub.config import (
    GateDocumentationCheck,
    GateIntegrationCheck,
    GatePattern,
    GatePerformanceCheck,
    GateRollbackCheck,
    GateSecurityCheck,
    GateTestsCheck,
)
from autohub.gate.checks import CHECKS, Target
from autohub.gate.report import CheckResult


def check(name: str, tree: Path, settings: Any, environ: dict[str, str]) -> CheckResult:
    async def run() -> CheckResult:
        return await CHECKS[name](Target(tree, environ), settings)

    return asyncio.run(run())


# -- tests ------------------------------------------------------------------------------


def test_the_tests_check_reports_exact_junit_counts(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    skipping = "import pytest\n\n\n@pytest.mark.skip\ndef test_later():\n    pass\n"
    write(tmp_path, {"tests/test_a.py": PASSING_TESTS, "tests/test_b.py": skipping})

    result = check("tests", tmp_path, GateTestsCheck(), environ)

    assert (result.status, result.reason) == ("passed", "2 passed, 1 skipped")
    evidence = result.evidence
    assert (evidence["passed"], evidence["failed"], evidence["errors"], evidence["skipped"]) == (
        2,
        0,
        0,
        1,
    )
    assert evidence["exit_code"] == 0
    assert evidence["duration_seconds"] > 0


def test_failing_tests_fail_the_check_with_their_count_and_output(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    write(tmp_path, {"tests/test_a.py": FAILING_TESTS})

    result = check("tests", tmp_path, GateTestsCheck(), environ)

    assert (result.status, result.reason) == ("failed", "1 of 2 tests failed")
    assert (result.evidence["passed"], result.evidence["failed"]) == (1, 1)
    assert "test_breaks" in result.evidence["output_tail"]


def test_a_suite_that_collects_no_tests_fails(tmp_path: Path, environ: dict[str, str]) -> None:
    write(tmp_path, {"README.md": "# nothing to test\n"})

    result = check("tests", tmp_path, GateTestsCheck(), environ)

    assert (result.status, result.reason) == ("failed", "no tests collected")
    assert result.evidence["exit_code"] == 5
    assert result.evidence["passed"] == 0


def test_a_command_without_junit_is_judged_by_its_exit_code(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    passing = GateTestsCheck(command=["{python}", "-c", "print('fine')"])
    failing = GateTestsCheck(command=["{python}", "-c", "import sys; sys.exit('red: 3 broke')"])
    missing = GateTestsCheck(command=["no-such-test-runner-x"])

    ok = check("tests", tmp_path, passing, environ)
    bad = check("tests", tmp_path, failing, environ)
    absent = check("tests", tmp_path, missing, environ)

    assert (ok.status, ok.evidence["passed"]) == ("passed", None)
    assert (bad.status, bad.reason) == ("failed", "exited with code 1: red: 3 broke")
    assert (absent.status, absent.reason) == (
        "failed",
        "program not found: 'no-such-test-runner-x'",
    )


def test_a_timed_out_command_fails_and_its_whole_process_group_is_stopped(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    spawn = (
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    settings = GateTestsCheck(command=["{python}", "-c", spawn], timeout_seconds=1)

    started = time.monotonic()
    result = check("tests", tmp_path, settings, environ)

    assert time.monotonic() - started < 10
    assert result.status == "failed"
    assert result.reason.startswith("timed out after 1 s")
    assert result.evidence["timed_out"] is True
    assert process_is_gone(int((tmp_path / "child.pid").read_text()))


# -- integration and performance --------------------------------------------------------


def test_integration_tests_are_found_by_the_glob_and_missing_ones_fail(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    write(tmp_path, {"tests/integration_flow.py": INTEGRATION, "it/flow_check.py": INTEGRATION})

    found = check("integration", tmp_path, GateIntegrationCheck(), environ)
    glob = check("integration", tmp_path, GateIntegrationCheck(glob="it/*_check.py"), environ)
    none = check("integration", tmp_path, GateIntegrationCheck(glob="e2e/*.py"), environ)
    own = GateIntegrationCheck(command=["{python}", "-c", "pass"], glob="e2e/*.py")
    configured = check("integration", tmp_path, own, environ)

    assert (found.status, found.reason) == ("passed", "1 passed")
    assert found.evidence["command"][-1] == "tests/integration_flow.py"
    assert found.evidence["glob"] == "tests/integration_*.py"
    assert (glob.status, glob.evidence["command"][-1]) == ("passed", "it/flow_check.py")
    assert (none.status, none.reason) == (
        "failed",
        "no integration tests: nothing matches e2e/*.py",
    )
    assert none.evidence == {"glob": "e2e/*.py", "files": []}
    # A configured command runs instead of the glob (which then finds nothing, unasked).
    assert (configured.status, configured.reason) == (
        "passed",
        "exited with code 0 (no JUnit counts)",
    )
    assert "glob" not in configured.evidence


def test_performance_runs_the_benchmark_and_warns_without_one(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    missing = check("performance", tmp_path, GatePerformanceCheck(), environ)
    write(tmp_path, {"benchmarks.py": BENCHMARK})
    found = check("performance", tmp_path, GatePerformanceCheck(), environ)
    slow = GatePerformanceCheck(command=["{python}", "-c", "raise SystemExit('p99 over 5 ms')"])
    failing = check("performance", tmp_path, slow, environ)

    assert (missing.status, missing.evidence["command"]) == ("missing", None)
    assert found.status == "passed"
    assert found.evidence["output_tail"] == "sort: 1.2 us per call"
    assert (failing.status, failing.reason) == ("failed", "exited with code 1: p99 over 5 ms")


# -- security ---------------------------------------------------------------------------

AWS_KEY = "AKIA" + "Q3EGRUPLBZTKWXHJ"  # built here so that scanning this file finds nothing
LEAKED = "hunter" + "2hunter2"


def test_the_secret_scan_reports_file_line_and_type_never_the_secret(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "local/\n",
            "app/settings.py": f'\n\npassword = "{LEAKED}"\n',  # pragma: allowlist secret
            "deploy.env": f"AWS_ACCESS_KEY_ID={AWS_KEY}\n",
            "notes.txt": f"x\nsecret = '{LEAKED}'  # pragma: allowlist secret\n",
            "ops/hook.sh": f"curl -H 'X-Internal: ik_{LEAKED}' localhost\n",
            "local/dev.py": f'password = "{LEAKED}"\n',  # pragma: allowlist secret
            "vendor/lib.py": f'api_key = "{LEAKED}"\n',  # pragma: allowlist secret
            "clean.py": "def f(password=None):\n    return password\n",
        },
    )
    settings = GateSecurityCheck(
        patterns=[GatePattern(name="internal_key", regex=r"ik_[a-z0-9]{8,}")],
        exclude=["vendor/"],
    )

    result = check("security", tmp_path, settings, environ)

    assert result.status == "failed"
    found = {(f["file"], f["line"], f["type"]) for f in result.evidence["findings"]}
    assert ("app/settings.py", 3, "password") in found  # the seed's pattern
    assert ("app/settings.py", 3, "Secret Keyword") in found  # detect-secrets
    assert ("deploy.env", 1, "AWS Access Key") in found
    assert ("ops/hook.sh", 1, "internal_key") in found
    assert {file for file, _, _ in found} == {"app/settings.py", "deploy.env", "ops/hook.sh"}
    assert result.evidence["files_scanned"] == 6
    assert result.reason.startswith("possible secrets on 3 lines of 3 files (first: ")
    text = json.dumps(result.to_dict())
    assert LEAKED not in text
    assert AWS_KEY not in text


def test_a_clean_tree_passes_the_secret_scan(tmp_path: Path, environ: dict[str, str]) -> None:
    write(tmp_path, {"app.py": "import os\n\ntoken = os.environ['TOKEN']\n", "big.bin": ""})
    (tmp_path / "big.bin").write_bytes(b"\0" * 4096)
    write(tmp_path, {"huge.txt": "x" * 5000})

    result = check("security", tmp_path, GateSecurityCheck(max_file_bytes=4096), environ)

    assert (result.status, result.reason) == ("passed", "no secrets found in 1 file")
    assert result.evidence["files_too_large"] == 1


# -- documentation and rollback ---------------------------------------------------------


def test_documentation_needs_one_non_empty_file_of_the_list(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    default = GateDocumentationCheck()
    write(tmp_path, {"README.md": ""})
    empty = check("documentation", tmp_path, default, environ)
    write(tmp_path, {"IMPLEMENTATION_SUMMARY.md": "What was built.\n"})
    summary = check("documentation", tmp_path, default, environ)
    configured = GateDocumentationCheck(files=["docs/index.md"])
    elsewhere = check("documentation", tmp_path, configured, environ)

    assert (empty.status, empty.reason) == (
        "failed",
        "no README.md or IMPLEMENTATION_SUMMARY.md (or empty)",
    )
    assert (summary.status, summary.evidence["found"]) == ("passed", ["IMPLEMENTATION_SUMMARY.md"])
    assert (elsewhere.status, elsewhere.evidence["missing"]) == ("failed", ["docs/index.md"])


def git(tree: Path, *args: str) -> None:
    identity = ["-c", "user.name=gate", "-c", "user.email=gate@example.com"]
    subprocess.run(["git", *identity, "-C", str(tree), *args], check=True, capture_output=True)


def test_rollback_needs_a_rollback_plan_or_a_git_tag(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    default = GateRollbackCheck()
    plain = check("rollback", tmp_path, default, environ)
    git(tmp_path, "init", "-q")
    write(tmp_path, {"app.py": "x = 1\n"})
    git(tmp_path, "add", "app.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    untagged = check("rollback", tmp_path, default, environ)
    git(tmp_path, "tag", "v1.0.0")
    tagged = check("rollback", tmp_path, default, environ)
    write(tmp_path, {"docs/rollback.md": "Redeploy the previous tag.\n"})
    planned = check("rollback", tmp_path, GateRollbackCheck(file="docs/rollback.md"), environ)

    assert (plain.status, plain.reason) == ("failed", "no ROLLBACK.md, and not a git repository")
    assert (untagged.status, untagged.reason) == (
        "failed",
        "no ROLLBACK.md, and the repository has no tags",
    )
    assert (tagged.status, tagged.evidence["newest_tags"]) == ("passed", ["v1.0.0"])
    assert (planned.status, planned.reason) == ("passed", "docs/rollback.md present")
