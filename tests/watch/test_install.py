"""install_hooks: autohub's registration merged into Claude Code's settings.json, keeping
everything else, idempotently, and never writing over a file it cannot read."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from autohub.errors import InvalidInput
from autohub.watch.install import InstallResult, install_hooks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude-hooks"
EXAMPLE = FIXTURES / "settings.example.json"
MARKER = "hook claude-code"
COMMAND = "/opt/autohub/bin/autohub hook claude-code"
REGISTRATIONS: dict[str, str | None] = {
    "PreToolUse": "Bash|Write|Edit",
    "PostToolUse": "Bash|Write|Edit|TodoWrite",
    "Stop": None,
}


def install(path: Path, command: str = COMMAND) -> InstallResult:
    return install_hooks(path, command, REGISTRATIONS, marker=MARKER, timeout_seconds=10)


def ours(command: str = COMMAND) -> list[dict[str, Any]]:
    return [{"type": "command", "command": command, "timeout": 10}]


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    return tmp_path / ".claude" / "settings.json"


def test_a_missing_file_is_created_with_the_registration(settings: Path) -> None:
    result = install(settings)
    assert result == InstallResult(settings, changed=True)
    assert read(settings) == {
        "hooks": {
            "PreToolUse": [{"matcher": "Bash|Write|Edit", "hooks": ours()}],
            "PostToolUse": [{"matcher": "Bash|Write|Edit|TodoWrite", "hooks": ours()}],
            "Stop": [{"hooks": ours()}],  # Stop takes no matcher
        }
    }
    assert settings.read_text().endswith("}\n")
    assert [p.name for p in settings.parent.iterdir()] == ["settings.json"]  # no temp file


def test_an_empty_file_is_an_empty_settings_object(settings: Path) -> None:
    settings.parent.mkdir()
    settings.write_text("")
    assert install(settings).changed
    assert set(read(settings)["hooks"]) == set(REGISTRATIONS)


def test_other_hooks_and_settings_are_kept(settings: Path) -> None:
    settings.parent.mkdir()
    example = read(EXAMPLE)
    settings.write_text(
        json.dumps({"permissions": {"allow": ["Bash(npm test)"]}, **example, "model": "x"})
    )
    install(settings)
    merged = read(settings)
    assert merged["permissions"] == {"allow": ["Bash(npm test)"]}
    assert merged["model"] == "x"
    assert list(merged) == ["permissions", "hooks", "model"]
    for event, groups in example["hooks"].items():
        assert merged["hooks"][event][: len(groups)] == groups  # theirs first, unchanged
        assert merged["hooks"][event][len(groups) :] == [
            {"matcher": REGISTRATIONS[event], "hooks": ours()}
            if REGISTRATIONS[event]
            else {"hooks": ours()}
        ]


def test_the_text_of_untouched_hooks_is_kept(settings: Path) -> None:
    """Every line of a file in Claude Code's own format (2-space JSON) is still there, in
    order; only a comma after the group that is no longer last is added."""
    settings.parent.mkdir()
    original = EXAMPLE.read_text()
    settings.write_text(original)
    install(settings)
    new_lines = iter(line.rstrip(",") for line in settings.read_text().splitlines())
    for line in original.splitlines():
        assert any(line.rstrip(",") == new for new in new_lines), f"lost: {line!r}"


def test_installing_twice_changes_nothing(settings: Path) -> None:
    settings.parent.mkdir()
    settings.write_text(EXAMPLE.read_text())
    assert install(settings).changed
    first = settings.read_bytes()
    written_at = settings.stat().st_mtime_ns
    assert install(settings) == InstallResult(settings, changed=False)
    assert settings.read_bytes() == first
    assert settings.stat().st_mtime_ns == written_at  # not even rewritten


def test_a_new_command_replaces_ours_without_duplicating_it(settings: Path) -> None:
    install(settings, "old/autohub hook claude-code")
    assert install(settings, COMMAND).changed
    for event, groups in read(settings)["hooks"].items():
        assert [group["hooks"] for group in groups] == [ours()], event


def test_our_handler_is_taken_out_of_a_group_it_shares(settings: Path) -> None:
    """A user moved autohub's handler into their own group: theirs keeps its matcher and
    handler, ours gets its own group."""
    settings.parent.mkdir()
    theirs = {"type": "command", "command": "./lint.sh"}
    shared = {"matcher": "Edit", "hooks": [theirs, *ours("autohub hook claude-code")]}
    settings.write_text(json.dumps({"hooks": {"PreToolUse": [shared]}}))
    install(settings)
    assert read(settings)["hooks"]["PreToolUse"] == [
        {"matcher": "Edit", "hooks": [theirs]},
        {"matcher": "Bash|Write|Edit", "hooks": ours()},
    ]


def test_the_files_mode_is_kept(settings: Path) -> None:
    settings.parent.mkdir()
    settings.write_text("{}")
    settings.chmod(0o600)
    install(settings)
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"hooks": {', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"hooks": []}', "'hooks' is not an object"),
        ('{"hooks": {"Stop": {"hooks": []}}}', "hooks.Stop is not a list"),
    ],
)
def test_a_file_that_cannot_be_merged_is_a_clear_error_and_is_left_untouched(
    settings: Path, text: str, message: str
) -> None:
    settings.parent.mkdir()
    settings.write_text(text)
    with pytest.raises(InvalidInput, match=r"settings\.json") as raised:
        install(settings)
    assert message in raised.value.message
    assert settings.read_text() == text
    assert [p.name for p in settings.parent.iterdir()] == ["settings.json"]
