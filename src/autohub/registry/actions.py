"""Action kinds: what a step (or a fallback tier) does.

A step names its kind by key, with a short form for the common case::

    shell: [pg_dump, --format=custom, appdb]       # argv list, never a shell string
    python: ops.backup:verify                      # import path
    http: {url: "https://example.com/health", expect_status: [200]}
    gate: .                                        # the production-readiness gate
    watch: "{{ steps.test.output.stdout }}"        # action items found in a text

A shell string runs through /bin/sh only when ``shell: true`` is written.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTION_KINDS = ("python", "shell", "http", "n8n", "celery", "browser", "gate", "watch")
GateCheckName = Literal[
    "tests", "security", "documentation", "performance", "integration", "rollback"
]
GATE_CHECKS: tuple[str, ...] = get_args(GateCheckName)
"""The gate's six checks, in the order they run and are reported."""
HTTP_METHODS = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Strict(BaseModel):
    """A definition model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class PythonAction(Strict):
    """Call ``pkg.module:function`` (sync or async) with a context."""

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    isolate: Literal["thread", "process"] = "thread"
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"function": data} if isinstance(data, str) else data


class ShellAction(Strict):
    """Run a program: an argv list, or a shell string when ``shell: true`` is written."""

    argv: list[str] | None = Field(default=None, min_length=1)
    command: str | None = None
    shell: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"argv": data}
        if isinstance(data, str):
            raise ValueError(
                "a shell string runs through /bin/sh only when asked: give an argv list "
                "(shell: [prog, arg]) or {command: '...', shell: true}"
            )
        return data

    @model_validator(mode="after")
    def _one_form(self) -> ShellAction:
        if (self.argv is None) == (self.command is None):
            raise ValueError("give exactly one of argv (a list) or command (a string)")
        if self.command is not None and not self.shell:
            raise ValueError("command is a shell string: it runs only with shell: true")
        if self.argv is not None and self.shell:
            raise ValueError("shell: true goes with command, not argv")
        return self


class HttpAction(Strict):
    """An HTTP request with httpx; statuses outside ``expect_status`` fail the step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: HTTP_METHODS = "GET"
    url: str = Field(pattern=r"^(https?://|\{\{)")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    params: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: list(range(200, 300)))

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _statuses(self) -> HttpAction:
        bad = [status for status in self.expect_status if not 100 <= status <= 599]
        if bad:
            raise ValueError(f"expect_status: {bad} are not HTTP statuses (100-599)")
        return self


class N8nAction(Strict):
    """Call an n8n workflow's production webhook (``<base_url>/webhook/<path>``).

    ``workflow`` names an entry of ``n8n.workflows`` (its path, method, auth and fallback
    chain); fields given here override it. Without a workflow, ``path`` is required.
    The short form ``n8n: video-assembly`` names a workflow.
    """

    workflow: str | None = Field(default=None, min_length=1)
    base_url: str | None = Field(default=None, pattern=r"^(https?://|\{\{)")
    """Default: ``n8n.base_url``."""
    path: str | None = Field(default=None, min_length=1)
    method: HTTP_METHODS | None = None
    """Default: the workflow's, else POST."""
    payload: Any = None
    """The JSON body (templated)."""
    auth_header: str | None = None
    auth_value: str | None = None
    """The header's value: a ``${NAME}`` reference to a secret."""
    response_mode: Literal["last_node", "immediately", "response_node"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"workflow": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _target(self) -> N8nAction:
        if self.workflow is None and self.path is None:
            raise ValueError("give a workflow (from n8n.workflows) or a webhook path")
        if (self.auth_header is None) != (self.auth_value is None) and self.workflow is None:
            raise ValueError("auth_header and auth_value go together")
        return self


class CeleryAction(Strict):
    """Send a task by name to a Celery app and wait for its result."""

    task: str = Field(pattern=r"^[\w.:-]+$")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"task": data} if isinstance(data, str) else data


class BrowserAction(Strict):
    """Open a page in a headless browser and check it."""

    url: str
    expect_text: str | None = None
    screenshot: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data


class GateAction(Strict):
    """Run the production-readiness gate on a tree; the step fails on ``fail_on``.

    ``fail_on: no-go`` (the default) lets GO and WARNING through; ``fail_on: warning``
    also stops on WARNING. The step's output is the gate's report.
    """

    path: str = "."
    """The tree to check, relative to the project root."""
    fail_on: Literal["no-go", "warning"] = "no-go"
    checks: list[GateCheckName] | None = Field(default=None, min_length=1)
    """Only these checks (default: all six; the others are reported as skipped)."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


class WatchAction(Strict):
    """Find completed action items in ``text`` (usually an earlier step's output, by
    template) and update the matching todo; the output is the update result."""

    text: str
    tool: str = "automation"
    """The tool the text came from, recorded as the events' ``tool_name``."""
    todo: str | None = None
    """The todo to update (default: found from the text, as for hook output)."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class ActionChoice(Strict):
    """Exactly one action kind, named by its key."""

    python: PythonAction | None = None
    shell: ShellAction | None = None
    http: HttpAction | None = None
    n8n: N8nAction | None = None
    celery: CeleryAction | None = None
    browser: BrowserAction | None = None
    gate: GateAction | None = None
    watch: WatchAction | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                names = ", ".join(repr(key) for key in unknown)
                raise ValueError(
                    f"unknown key {names}: not a field, nor an action kind "
                    f"({', '.join(ACTION_KINDS)})"
                )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionChoice:
        given = [kind for kind in ACTION_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(f"give exactly one action ({', '.join(ACTION_KINDS)}); {found}")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in ACTION_KINDS if getattr(self, kind) is not None)

    @property
    def action(self) -> BaseModel:
        action: BaseModel = getattr(self, self.kind)
        return action
