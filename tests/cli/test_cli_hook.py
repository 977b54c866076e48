"""``autohub hook claude-code`` fed the hook JSON of the contract (tests/fixtures/
claude-hooks, a copy of ../shared/claude-hooks) as Claude Code runs it, and
``autohub hook install claude-code``.

The hook always exits 0 with nothing on stdout, except when the policy blocks a call
(exit 2, the reason on stderr). On SQLite, the first call takes the normal route and
caches the project's settings, the next ones take the fast start: a test that runs the
hook several times covers both.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from sqlalchemy.engine import make_url

from autohub.hub import Hub

if TYPE_CHECKING:
    from conftest import Cli, Project

ReadDb = Callable[..., list[dict[str, Any]]]

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "claude-hooks"
SESSION = "abc123"  # the session_id of the contract's payloads
EXPECTED: dict[str, tuple[str, ...]] = {
    # file: () for no event, else (event type, todo title or reason)
    "posttooluse-bash.json": ("action_item_completed", "Run the test suite"),
    "posttooluse-edit.json": ("no_action_taken", "no action-item keyword in the output"),
    "posttooluse-write-full.json": ("action_item_pending_review", "Write hello.txt"),
    "posttooluse-write.json": ("action_item_pending_review", "Update file.txt"),
    "posttoolusefailure-bash.json": ("no_action_taken", "the Bash call failed: Exit code 1"),
    "pretooluse-bash-minimal.json": (),
    "pretooluse-bash.json": (),
    "pretooluse-edit.json": (),
    "pretooluse-write.json": (),
    "stop-legacy-minimal.json": (
        "no_action_taken",
        "the Stop event carries no assistant message",
    ),
    "stop.json": ("no_action_taken", "a Stop hook is already continuing the session"),
}


class HookResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


def hook(
    cli: Cli, payload: bytes | dict[str, Any], *, cwd: Path | None = None, **env: str
) -> HookResult:
    """``autohub hook claude-code`` with ``payload`` on stdin, as Claude Code runs it: in
    the project (or ``cwd``), CLAUDE_PROJECT_DIR naming it (unless ``env`` says otherwise)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    completed = subprocess.run(
        [sys.executable, "-m", "autohub", "hook", "claude-code"],
        cwd=cwd or cli.cwd,
        env={k: v for k, v in {**cli.env, "CLAUDE_PROJECT_DIR": str(cli.cwd), **env}.items() if v},
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    result = HookResult(
        completed.returncode, completed.stdout.decode(), completed.stderr.decode(errors="replace")
    )
    assert "Traceback" not in result.stdout + result.stderr, result
    return result


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return {**data, **changes}


def add_todos(project: Project, *titles: str, session_id: str | None = None) -> list[int]:
    """Todos in progress in the project's store (set up in-process)."""
    with Hub.from_config(project.path("autohub.yaml")) as hub:
        hub.config.settings.database_url = project.database_url
        return [
            hub.todos.add(hub.project, title, status="in_progress", session_id=session_id).id
            for title in titles
        ]


def events_after(read_db: ReadDb, project: Project, after_id: int) -> list[dict[str, Any]]:
    """The events stored after ``after_id``, oldest first, evidence and metadata decoded."""
    rows = read_db(
        project.database_url,
        "SELECT id, event_type, project_id, status, evidence, metadata, detected_from,"
        " correlation_id FROM automation_events WHERE id > :after ORDER BY id",
        after=after_id,
    )
    for row in rows:
        for name in ("evidence", "metadata"):
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return rows


def last_event_id(read_db: ReadDb, project: Project) -> int:
    rows = read_db(project.database_url, "SELECT MAX(id) AS last FROM automation_events")
    return int(rows[0]["last"] or 0)


def todo_rows(read_db: ReadDb, project: Project) -> dict[str, dict[str, Any]]:
    rows = read_db(
        project.database_url,
        "SELECT id, title, status, source, session_id FROM todos ORDER BY id",
    )
    return {row["title"]: row for row in rows}


def add_config(project: Project, text: str) -> None:
    path = project.path("autohub.yaml")
    path.write_text(path.read_text() + "\n" + text)


# -- the contract's payloads --------------------------------------------------------------


def test_every_contract_payload_exits_0_silently_and_records_its_event(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    names = sorted(
        path.name for path in PAYLOADS.glob("*.json") if path.name != "settings.example.json"
    )
    assert names == sorted(EXPECTED), "a payload was added to the contract: expect its event"
    ids = dict(
        zip(
            ("Run the test suite", "Write hello.txt", "Update file.txt"),
            add_todos(project, "Run the test suite", "Write hello.txt", "Update file.txt"),
            strict=True,
        )
    )
    for name, expected in EXPECTED.items():
        last = last_event_id(read_db, project)
        result = hook(cli, (PAYLOADS / name).read_bytes())
        assert (result.code, result.stdout) == (0, ""), f"{name}: {result}"
        events = events_after(read_db, project, last)
        assert [e["event_type"] for e in events] == list(expected[:1]), name
        if not events:
            continue
        event = events[0]
        assert event["project_id"] == "proj", name
        assert event["detected_from"] == "claude-code hook", name
        assert event["correlation_id"] == json.loads((PAYLOADS / name).read_text())["session_id"]
        assert event["metadata"]["hook_event_name"].lower() in name.replace("-", ""), name
        if expected[0] == "no_action_taken":
            assert (event["status"], event["evidence"]["reason"]) == ("skipped", expected[1])
        else:
            assert event["evidence"]["todo_id"] == ids[expected[1]], name
    todos = todo_rows(read_db, project)
    assert {title: row["status"] for title, row in todos.items()} == {
        "Run the test suite": "completed",
        "Write hello.txt": "pending_review",
        "Update file.txt": "pending_review",
    }


def test_a_successful_bash_call_completes_the_todo_in_progress_on_both_routes(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    """The first call goes the normal way, the second (on SQLite) the fast way: the same
    change, the same event."""
    bash = (PAYLOADS / "posttooluse-bash.json").read_bytes()
    last = last_event_id(read_db, project)
    (first,) = add_todos(project, "Run the test suite")
    assert hook(cli, bash)[:2] == (0, "")
    cached = project.path(".autohub/hook-settings.json").is_file()
    assert cached == project.database_url.startswith("sqlite")  # the next call's fast start
    (second,) = add_todos(project, "Run the test suite again")
    assert hook(cli, bash)[:2] == (0, "")
    completed = [e for e in events_after(read_db, project, last) if e["event_type"] != "todo.added"]
    assert [e["event_type"] for e in completed] == ["action_item_completed"] * 2
    for event, todo_id in zip(completed, (first, second), strict=True):
        assert event["status"] == "success"
        assert event["correlation_id"] == SESSION
        assert event["evidence"] == {
            "tool_name": "Bash",
            "detected_keyword": "passed",
            "keyword_category": "test-success",
            "confidence": 93,
            "context_snippet": "Tests: 3 passed, 3 total",
            "todo_id": todo_id,
            "old_status": "in_progress",
            "new_status": "completed",
        }
        assert event["metadata"] == {
            "hook_event_name": "PostToolUse",
            "session_id": SESSION,
            "tool_use_id": "toolu_01ABC123...",
            "cwd": "/home/user/my-project",
        }
    assert {row["status"] for row in todo_rows(read_db, project).values()} == {"completed"}


def test_a_failed_or_interrupted_tool_call_completes_nothing(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    """Even when its output looks like success."""
    add_todos(project, "Run the test suite")
    last = last_event_id(read_db, project)
    failure = payload("posttoolusefailure-bash.json", error="Exit code 1\n5 passed, then killed")
    interrupted = payload("posttooluse-bash.json")
    interrupted["tool_response"] = {**interrupted["tool_response"], "interrupted": True}
    for data in (failure, interrupted):
        assert hook(cli, data)[:2] == (0, "")
    failed_event, interrupted_event = events_after(read_db, project, last)
    assert (failed_event["event_type"], failed_event["evidence"]["reason"]) == (
        "no_action_taken",
        "the Bash call failed: Exit code 1",
    )
    assert failed_event["evidence"]["detected_keyword"] == "passed"  # seen, and not applied
    assert failed_event["evidence"]["todo_id"] is None
    assert (interrupted_event["event_type"], interrupted_event["evidence"]["reason"]) == (
        "no_action_taken",
        "the Bash call was interrupted",
    )
    assert todo_rows(read_db, project)["Run the test suite"]["status"] == "in_progress"


def test_the_assistants_last_message_at_stop_is_watched(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    (todo_id,) = add_todos(project, "Deploy the site")
    last = last_event_id(read_db, project)
    stop = payload("stop.json", stop_hook_active=False, last_assistant_message="Deployed v2.")
    assert hook(cli, stop) == (0, "", "")
    (event,) = events_after(read_db, project, last)
    assert event["event_type"] == "action_item_completed"
    assert event["evidence"]["tool_name"] == "Stop"
    assert (event["evidence"]["todo_id"], event["evidence"]["confidence"]) == (todo_id, 95)
    assert todo_rows(read_db, project)["Deploy the site"]["status"] == "completed"


# -- TodoWrite -----------------------------------------------------------------------------


def todo_write(*items: tuple[str, str]) -> dict[str, Any]:
    """A PostToolUse of TodoWrite per the contract: tool_input.todos = [{content, status,
    activeForm}]."""
    todos = [
        {"content": title, "status": status, "activeForm": f"Working on {title.lower()}"}
        for title, status in items
    ]
    return {
        "session_id": "session-todo",
        "transcript_path": "/home/user/.claude/projects/x.jsonl",
        "cwd": "/home/user/my-project",
        "hook_event_name": "PostToolUse",
        "tool_name": "TodoWrite",
        "tool_input": {"todos": todos},
        "tool_response": {"oldTodos": [], "newTodos": todos},
        "tool_use_id": "toolu_01TODO",
    }


def test_todowrite_syncs_the_agents_todo_list(cli: Cli, project: Project, read_db: ReadDb) -> None:
    first = todo_write(("Run the test suite", "in_progress"), ("Write the docs", "pending"))
    assert hook(cli, first)[:2] == (0, "")
    second = todo_write(
        ("Run the test suite", "completed"), ("Write the docs", "in_progress"), ("Ship", "pending")
    )
    assert hook(cli, second)[:2] == (0, "")
    todos = todo_rows(read_db, project)
    assert {title: row["status"] for title, row in todos.items()} == {
        "Run the test suite": "completed",
        "Write the docs": "in_progress",
        "Ship": "pending",
    }
    assert {(row["source"], row["session_id"]) for row in todos.values()} == {
        ("claude-code", "session-todo")
    }
    added = [e for e in events_after(read_db, project, 0) if e["event_type"] == "todo.added"]
    assert [e["evidence"]["title"] for e in added] == [
        "Run the test suite",
        "Write the docs",
        "Ship",
    ]
    assert {e["correlation_id"] for e in added} == {"session-todo"}

    # The session's own todo in progress is the one its tool output completes.
    add_todos(project, "Another session's todo", session_id="elsewhere")
    bash = payload("posttooluse-bash.json", session_id="session-todo")
    assert hook(cli, bash)[:2] == (0, "")
    todos = todo_rows(read_db, project)
    assert todos["Write the docs"]["status"] == "completed"
    assert todos["Another session's todo"]["status"] == "in_progress"


# -- input that is not a usable call --------------------------------------------------------


def test_input_that_is_not_a_usable_call_is_recorded_as_no_action_taken(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    read = payload("posttooluse-edit.json", tool_name="Read")
    calls: list[tuple[bytes | dict[str, Any], str]] = [
        (b"{not json", "invalid hook input: hook input is not JSON"),
        (b"", "invalid hook input: hook input is not JSON"),
        (b"[1, 2]", "invalid hook input: expected a JSON object, got list"),
        (
            {"hook_event_name": "PostToolUse", "tool_name": "Bash", "session_id": "s"},
            "invalid hook input: PostToolUse of Bash without a tool_input object",
        ),
        (b'\xff\xfe{"hook_event_name": 1}', "invalid hook input: hook input is not JSON"),
        ({"hook_event_name": "SessionStart", "session_id": "s"}, "hook event SessionStart is"),
        (read, "tool Read is not watched"),
        (
            {**todo_write(("Run the test suite", "pending")), "tool_input": {"todos": [{}]}},
            "todos[0] needs content and a status",
        ),
    ]
    for data, reason in calls:
        last = last_event_id(read_db, project)
        result = hook(cli, data)
        assert (result.code, result.stdout) == (0, ""), f"{data!r}: {result}"
        events = events_after(read_db, project, last)
        assert [e["event_type"] for e in events] == ["no_action_taken"], data
        assert events[0]["evidence"]["reason"].startswith(reason), events[0]["evidence"]
        if reason.startswith("invalid"):
            assert result.stderr.startswith("autohub hook: "), result.stderr


def test_the_project_is_found_from_claude_project_dir_or_the_calls_cwd(
    cli: Cli, project: Project, read_db: ReadDb, tmp_path: Path
) -> None:
    """Claude Code runs hooks in the session's directory, which may be anywhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subdirectory = project.path("ops")
    last = last_event_id(read_db, project)
    assert hook(cli, payload("posttooluse-edit.json"), cwd=elsewhere)[:2] == (0, "")
    by_cwd = payload("posttooluse-edit.json", cwd=str(subdirectory))
    assert hook(cli, by_cwd, cwd=elsewhere, CLAUDE_PROJECT_DIR="")[:2] == (0, "")
    events = events_after(read_db, project, last)
    assert [e["metadata"].get("cwd") for e in events] == [
        "/home/user/my-project",
        str(subdirectory),
    ]


def test_a_long_session_id_is_still_recorded(cli: Cli, project: Project, read_db: ReadDb) -> None:
    session = "s" * 100
    last = last_event_id(read_db, project)
    assert hook(cli, payload("posttooluse-edit.json", session_id=session)) == (0, "", "")
    (event,) = events_after(read_db, project, last)
    assert event["event_type"] == "no_action_taken"
    assert session.startswith(event["correlation_id"])


# -- the policy -----------------------------------------------------------------------------


def pre_tool_use(tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return payload("pretooluse-bash.json", tool_name=tool, tool_input=tool_input)


def test_the_policy_blocks_denied_commands_and_protected_paths(
    cli: Cli, project: Project, read_db: ReadDb
) -> None:
    add_config(
        project,
        "watch:\n  claude_code:\n"
        "    deny_commands: ['rm\\s+-rf', 'git\\s+push\\s+--force']\n"
        "    protect_paths: ['.env', 'secrets/**']\n",
    )
    root = project.root
    calls = [
        (pre_tool_use("Bash", {"command": "rm -rf build"}), "rm\\\\s+-rf"),
        (pre_tool_use("Bash", {"command": "npm test"}), None),
        (
            pre_tool_use("Write", {"file_path": f"{root}/.env", "content": "SMTP_PASS=hunter2"}),
            "'.env'",
        ),
        (
            pre_tool_use(
                "Edit",
                {
                    "file_path": f"{root}/src/../secrets/key.pem",
                    "old_string": "a",
                    "new_string": "",
                },
            ),
            "secrets/key.pem is protected",
        ),
        (pre_tool_use("Write", {"file_path": f"{root}/src/app.py", "content": ""}), None),
        (pre_tool_use("Write", {"file_path": "/elsewhere/.env", "content": ""}), None),
        (payload("posttooluse-bash.json", tool_input={"command": "rm -rf build"}), None),
    ]
    last = last_event_id(read_db, project)
    for data, reason in calls:
        result = hook(cli, data)
        assert result.stdout == "", result
        if reason is None:
            assert result.code == 0, f"{data['tool_input']}: {result}"
        else:
            assert result.code == 2, f"{data['tool_input']}: {result}"
            assert result.stderr.startswith("autohub: "), result.stderr
            assert reason in result.stderr, result.stderr
    blocked = [
        e for e in events_after(read_db, project, last) if e["event_type"] != "no_action_taken"
    ]
    assert [(e["event_type"], e["status"]) for e in blocked] == [
        ("claude_code.tool_blocked", "warning")
    ] * 3
    assert [e["evidence"]["tool_name"] for e in blocked] == ["Bash", "Write", "Edit"]
    assert blocked[0]["evidence"]["tool_input"]["command"] == "rm -rf build"
    assert "deny_commands" in blocked[0]["evidence"]["reason"]
    # What the call would have touched is kept, not what it would have written there.
    assert blocked[1]["evidence"]["tool_input"] == {"file_path": f"{root}/.env"}
    assert "hunter2" not in json.dumps(blocked)


# -- the store is unreachable --------------------------------------------------------------


@pytest.fixture
def unreachable(project: Project) -> Iterator[str]:
    """The project's PostgreSQL URL on a port bound but not listening: refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        down = make_url(project.database_url).set(port=bound.getsockname()[1])
        yield down.render_as_string(hide_password=False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_while_the_database_is_down_the_hook_goes_on_and_spools_its_events(
    cli: Cli, project: Project, read_db: ReadDb, unreachable: str
) -> None:
    add_todos(project, "Run the test suite")
    for name in ("posttooluse-edit.json", "posttooluse-bash.json"):
        result = hook(cli, (PAYLOADS / name).read_bytes(), AUTOHUB_DATABASE_URL=unreachable)
        assert (result.code, result.stdout) == (0, ""), result
    spool = project.path(".autohub/spool/events.jsonl")
    assert spool.read_text().count("\n") == 2
    last = last_event_id(read_db, project)

    assert hook(cli, (PAYLOADS / "stop.json").read_bytes()) == (0, "", "")  # back up: flushed
    assert spool.read_text() == ""
    events = events_after(read_db, project, last)
    assert [e["event_type"] for e in events] == ["no_action_taken"] * 3
    assert events[0]["evidence"]["reason"] == "no action-item keyword in the output"
    assert "unavailable" in events[1]["evidence"]["reason"]
    assert events[2]["evidence"]["reason"] == "a Stop hook is already continuing the session"
    assert todo_rows(read_db, project)["Run the test suite"]["status"] == "in_progress"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_failure_spooled_while_the_database_is_down_names_the_project(
    cli: Cli, project: Project, unreachable: str
) -> None:
    hook(
        cli,
        (PAYLOADS / "posttooluse-bash.json").read_bytes(),
        AUTOHUB_DATABASE_URL=unreachable,
    )
    spooled = [json.loads(line) for line in project.path(".autohub/spool/events.jsonl").open()]
    assert [event["project_id"] for event in spooled] == ["proj"]


# -- hook install --------------------------------------------------------------------------


def test_hook_install_registers_the_hook_once_and_keeps_other_hooks(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "agent-project"
    settings = target / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    example = json.loads((PAYLOADS / "settings.example.json").read_text())
    settings.write_text(json.dumps(example, indent=2) + "\n")

    first = cli("hook", "install", "claude-code", "--project-dir", str(target), "--json", check=0)
    answer = first.json()
    assert (answer["path"], answer["changed"]) == (str(settings), True)
    command = answer["command"]
    assert command.endswith("hook claude-code")
    assert Path(command.split()[0].strip("'")).exists()  # an absolute path to this autohub
    merged = json.loads(settings.read_text())
    for event, groups in example["hooks"].items():
        assert merged["hooks"][event][: len(groups)] == groups
    ours = {
        event: [g for g in groups if any(h["command"] == command for h in g["hooks"])]
        for event, groups in merged["hooks"].items()
    }
    assert {event: [g.get("matcher") for g in groups] for event, groups in ours.items()} == {
        "PreToolUse": ["Bash|Write|Edit"],
        "PostToolUse": ["Bash|Write|Edit|TodoWrite"],
        "PostToolUseFailure": ["Bash|Write|Edit"],
        "Stop": [None],
    }
    text = settings.read_text()

    again = cli("hook", "install", "claude-code", "--project-dir", str(target), check=0)
    assert "already up to date" in again.stdout
    assert settings.read_text() == text

    custom = cli(
        "hook", "install", "claude-code", "--project-dir", str(target),
        "--command", "autohub hook claude-code", "--json", check=0,
    )  # fmt: skip
    assert custom.json()["changed"] is True
    commands = [
        h["command"]
        for groups in json.loads(settings.read_text())["hooks"].values()
        for g in groups
        for h in g["hooks"]
        if "hook claude-code" in h["command"]
    ]
    assert commands == ["autohub hook claude-code"] * 4


def test_hook_install_refuses_a_settings_file_it_cannot_read(cli: Cli, tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"hooks": {')
    result = cli("hook", "install", "claude-code", "--project-dir", str(tmp_path), check=2)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not valid JSON" in result.stderr
    assert "nothing was changed" in result.stderr
    assert settings.read_text() == '{"hooks": {'
