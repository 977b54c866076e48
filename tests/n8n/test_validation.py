"""Configuration problems of n8n steps are found by ``autohub validate`` (the registry
loader), each located, never at run time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autohub.config import load_config
from autohub.errors import DefinitionError
from autohub.registry.loader import load_registry

CONFIG = """\
project: media
n8n:
  breaker: {failure_threshold: 0}
  workflows:
    video-assembly:
      path: video-assembly
      fallback:
        - celery: process_video
        - http: {method: POST, url: "http://127.0.0.1:9/tasks/process_video"}
        - shell: [./process_video.sh]
    broken:
      path: broken
      fallback:
        - teleport: somewhere
automations:
  render:
    steps:
      - id: assemble
        n8n: {workflow: video-assembly, payload: {job: "{{ params.job }}"}}
  typo:
    steps:
      - id: assemble
        n8n: video-asembly
"""


def write(root: Path, text: str) -> Path:
    path = root / "autohub.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_loader_locates_every_n8n_problem(tmp_path: Path) -> None:
    write(tmp_path, CONFIG)
    with pytest.raises(DefinitionError) as raised:
        load_registry(load_config(cwd=tmp_path))
    problems = {(p.key, p.message) for p in raised.value.problems}
    keys = {key for key, _ in problems}
    assert "automations.typo.steps[0].n8n" in keys
    typo = next(m for k, m in problems if k == "automations.typo.steps[0].n8n")
    assert typo == (
        "unknown n8n workflow 'video-asembly': declare it under n8n.workflows: "
        "(known: broken, video-assembly)"
    )
    assert any(k.startswith("n8n.workflows.broken.fallback[0]") for k in keys), keys
    assert any(k.startswith("n8n.breaker") for k in keys), keys
    assert not any("render" in k for k in keys)


def test_a_workflows_chain_becomes_the_steps_fallback_with_default_timeouts(
    tmp_path: Path,
) -> None:
    config = CONFIG.split("    broken:", 1)[0] + CONFIG.split("teleport: somewhere\n", 1)[1]
    config = config.replace("failure_threshold: 0", "failure_threshold: 3")
    config = config.split("  typo:", 1)[0]
    write(tmp_path, config)
    registry = load_registry(load_config(cwd=tmp_path))
    step = registry.get("render").automation.steps[0]
    assert [(tier.kind, tier.timeout) for tier in step.fallback] == [
        ("celery", 1.0),
        ("http", 5.0),
        ("shell", 30.0),
    ]
    assert step.n8n is not None
    assert step.n8n.workflow == "video-assembly"


def test_a_step_that_declares_its_own_fallback_keeps_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        n8n:
          workflows:
            video-assembly: {path: v, fallback: [{shell: [echo, a]}]}
        automations:
          render:
            steps:
              - id: assemble
                n8n: video-assembly
                fallback: [{shell: [echo, mine], timeout: 2s}]
        """,
    )
    step = load_registry(load_config(cwd=tmp_path)).get("render").automation.steps[0]
    assert [(tier.shell.argv, tier.timeout) for tier in step.fallback if tier.shell] == [
        (["echo", "mine"], 2.0)
    ]


def test_autohub_validate_reports_an_unknown_workflow(tmp_path: Path) -> None:
    write(tmp_path, CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "autohub", "validate", "--json"],
        cwd=tmp_path,
        env={**env, "AUTOHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    problems = json.loads(done.stdout)["problems"]
    typo = next(p for p in problems if p["key"] == "automations.typo.steps[0].n8n")
    assert "unknown n8n workflow 'video-asembly'" in typo["message"]
    assert typo["line"] == 23  # the typo step's n8n key
    assert not (tmp_path / "never.db").exists()
