"""What autohub does with one Claude Code hook call.

* PreToolUse: the policy may block the call (exit 2, the reason on stderr); a blocked
  call is a ``claude_code.tool_blocked`` event. Nothing is recorded otherwise.
* PostToolUse: TodoWrite syncs the agent's todo list into the store; Bash, Write and
  Edit output goes through the action tracker.
* PostToolUseFailure: a failed tool completes nothing: ``no_action_taken``, saying so.
* Stop: the assistant's last message goes through the tracker (unless a Stop hook is
  already continuing the conversation).
* Anything else (another event or tool, a malformed call) is ``no_action_taken``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autohub.store.todos import SyncItem, TodoStore
from autohub.watch.claude_code import (
    WATCHED_TOOLS,
    HookCall,
    InvalidHookInput,
    Policy,
    todo_items,
    tool_output,
)
from autohub.watch.tracker import ActionTracker, Observation

DETECTED_FROM = "claude-code hook"
BLOCKED_INPUT_FIELDS = ("command", "description", "file_path")
"""What a blocked call's event keeps of its input: what it would have run or touched, not
the content it would have written (likely secrets, for a protected path such as .env)."""


@dataclass(frozen=True)
class HookDecision:
    """The hook's answer: block with ``reason`` (exit 2), or let Claude go on (exit 0)."""

    block_reason: str | None = None
    summary: str = ""


@dataclass
class HookHandler:
    project_id: str
    project_root: Path
    tracker: ActionTracker
    todos: TodoStore
    policy: Policy

    def handle(self, call: HookCall) -> HookDecision:
        if call.event == "PreToolUse":
            return self._before(call)
        if call.event == "PostToolUse" and call.tool_name == "TodoWrite":
            return self._sync_todos(call)
        if call.event == "PostToolUse" and call.tool_name in WATCHED_TOOLS:
            if call.interrupted:
                return self._nothing(call, f"the {call.tool_name} call was interrupted")
            text = tool_output(call)
            if text is None:
                return self._nothing(call, f"the {call.tool_name} response has no output")
            return self._observe(call, call.tool_name or "", text)
        if call.event == "PostToolUseFailure":
            first_line = (call.error or "no error message").splitlines()[0]
            return self._nothing(call, f"the {call.tool_name} call failed: {first_line}")
        if call.event == "Stop":
            if call.stop_hook_active:
                return self._nothing(call, "a Stop hook is already continuing the session")
            if call.last_assistant_message is None:
                return self._nothing(call, "the Stop event carries no assistant message")
            return self._observe(call, "Stop", call.last_assistant_message)
        if call.event == "PostToolUse":
            return self._nothing(call, f"tool {call.tool_name} is not watched")
        return self._nothing(call, f"hook event {call.event} is not handled")

    def invalid(self, reason: str, metadata: dict[str, Any] | None = None) -> HookDecision:
        """Record input that is not a usable hook call."""
        self.tracker.no_action(
            Observation(
                self.project_id, "unknown", "", detected_from=DETECTED_FROM, metadata=metadata
            ),
            f"invalid hook input: {reason}",
        )
        return HookDecision(summary=f"invalid hook input: {reason}")

    def _before(self, call: HookCall) -> HookDecision:
        reason = self.policy.block_reason(call, self.project_root)
        if reason is None:
            return HookDecision(summary="allowed")
        self.tracker.events.record(
            "claude_code.tool_blocked",
            self.project_id,
            "warning",
            evidence={
                "tool_name": call.tool_name,
                "reason": reason,
                "tool_input": {
                    key: value
                    for key, value in call.tool_input.items()
                    if key in BLOCKED_INPUT_FIELDS
                },
            },
            metadata=call.metadata(),
            detected_from=DETECTED_FROM,
            correlation_id=call.session_id,
        )
        return HookDecision(block_reason=reason, summary="blocked")

    def _sync_todos(self, call: HookCall) -> HookDecision:
        try:
            items = todo_items(call)
        except InvalidHookInput as exc:
            return self._nothing(call, str(exc))
        session = call.session_id or "unknown-session"
        result = self.todos.sync(
            self.project_id, session, [SyncItem(title, status) for title, status in items]
        )
        return HookDecision(
            summary=f"todos: {len(result.added)} added, {len(result.updated)} updated, "
            f"{result.unchanged} unchanged"
        )

    def _observe(self, call: HookCall, tool_name: str, text: str) -> HookDecision:
        result = self.tracker.observe(self._observation(call, tool_name, text))
        return HookDecision(summary=f"{result.event_type}: {result.reason}")

    def _nothing(self, call: HookCall, reason: str) -> HookDecision:
        text = call.error or ""
        self.tracker.no_action(
            self._observation(call, call.tool_name or call.event, text),
            reason,
            self.tracker.detector.detect(text),
        )
        return HookDecision(summary=f"no_action_taken: {reason}")

    def _observation(self, call: HookCall, tool_name: str, text: str) -> Observation:
        return Observation(
            project_id=self.project_id,
            tool_name=tool_name,
            text=text,
            session_id=call.session_id,
            detected_from=DETECTED_FROM,
            metadata=call.metadata(),
        )
