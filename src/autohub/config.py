"""Configuration: ``autohub.yaml`` at the project root plus ``AUTOHUB_*`` environment variables.

The environment wins over the file. Secrets never live in autohub.yaml: a value
under a secret-named key, or one that looks like a credential, must be a
``${NAME}`` reference to the environment or the secrets file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from autohub.errors import ConfigError, Problem, SecretsError
from autohub.paths import STATE_DIR, definition_files, find_config
from autohub.redact import Redactor, is_secret_key, looks_secret
from autohub.secret_values import REFERENCE, Secrets, references
from autohub.units import Bytes
from autohub.yamlfile import (
    YamlDocument,
    YamlSyntaxError,
    load_file,
    validation_problems,
)

DEFAULT_DATABASE_URL = "sqlite:///.autohub/autohub.db"


class Settings(BaseModel):
    """``AUTOHUB_*`` environment variables; each overrides its autohub.yaml counterpart.

    Read by ``_settings`` from the environment it is given (names case-insensitive after
    the prefix, unknown ones ignored) and validated by this model.
    """

    model_config = ConfigDict(extra="ignore")

    config: Path | None = None
    database_url: str | None = None
    secrets_file: Path | None = None
    project: str | None = None


class EventsConfig(BaseModel):
    """The ``events:`` section."""

    model_config = ConfigDict(extra="forbid")

    evidence_max_bytes: Bytes = Field(default=64 * 1024, ge=1024)
    string_max_chars: int = Field(default=8 * 1024, ge=64)
    spool_dir: str = f"{STATE_DIR}/spool"


class ServerConfig(BaseModel):
    """The ``server:`` section (``autohub serve``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    metrics_open: bool = False
    """Whether ``/metrics`` answers without a token (for a scraper on a private network)."""
    stuck_run_seconds: float = Field(default=3600, gt=0)
    """A running run whose lease expired this long ago counts as stuck for ``/ready``."""
    max_stuck_runs: int = Field(default=0, ge=0)
    """``/ready`` answers 503 when more runs than this are stuck."""
    rate_limit_per_minute: int = Field(default=600, ge=1)
    """Requests a minute per token (and bursts of as many); over it, 429 with Retry-After."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins a browser may call the API from; none (CORS off) by default."""
    max_runs: int = Field(default=8, ge=1, le=1000)
    """Runs the server executes at once."""
    shutdown_grace_seconds: float = Field(default=30, ge=0)
    """On SIGTERM, how long running runs have to finish before the server exits."""
    stream_queue_events: int = Field(default=1000, ge=10, le=100_000)
    """Events a live-stream client may fall behind by before it is dropped."""
    scheduler: bool = True
    """Whether the server fires cron and event triggers (any number of servers may: each
    tick, and each triggering event, starts one run across them)."""
    misfire_grace_seconds: float = Field(default=60, ge=0)
    """A cron tick later than this is a misfire, handled by its trigger's ``misfire``
    policy (skip, or run once for all the missed ticks)."""


def check_regex(pattern: str) -> str:
    """``pattern`` if it compiles; ValueError (a validation error) saying why not."""
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
    return pattern


class GateCommandCheck(BaseModel):
    """A gate check that runs a command (an argv list; ``{python}`` is this interpreter,
    ``{junit}`` a JUnit XML path the gate reads the counts from)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    command: list[str] | None = Field(default=None, min_length=1)
    timeout_seconds: float = Field(default=60, gt=0)


class GateTestsCheck(GateCommandCheck):
    """``gate.tests``: the test suite (default: pytest with JUnit XML)."""

    command: list[str] | None = Field(
        default_factory=lambda: ["{python}", "-m", "pytest", "-q", "--junitxml={junit}"],
        min_length=1,
    )


class GatePerformanceCheck(GateCommandCheck):
    """``gate.performance``: the benchmark command (default: ``benchmarks.py`` if present)."""

    timeout_seconds: float = Field(default=120, gt=0)


class GateIntegrationCheck(GateCommandCheck):
    """``gate.integration``: the integration tests found by ``glob``."""

    glob: str = "tests/integration_*.py"
    timeout_seconds: float = Field(default=120, gt=0)


class GatePattern(BaseModel):
    """One more secret pattern of ``gate.security``: a regular expression searched line by
    line, reported as ``name`` (a list entry, not a mapping key: a secret-named key such
    as ``db_password`` would be refused as a literal secret)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    regex: str = Field(min_length=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str) -> str:
        return check_regex(regex)


class GateSecurityCheck(BaseModel):
    """``gate.security``: a secret scan of the tree (detect-secrets, the built-in
    ``password=``, ``api_key=`` and ``secret=`` patterns, and ``patterns``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    patterns: list[GatePattern] = Field(default_factory=list)
    """More secret patterns."""
    exclude: list[str] = Field(default_factory=list)
    """Gitignore-style patterns of paths not scanned (besides what .gitignore ignores)."""
    max_file_bytes: Bytes = Field(default=2 * 1024 * 1024, ge=1024)
    """Larger files are not scanned (they are counted in the evidence)."""


class GateDocumentationCheck(BaseModel):
    """``gate.documentation``: at least one of ``files`` must exist."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    files: list[str] = Field(
        default_factory=lambda: ["README.md", "IMPLEMENTATION_SUMMARY.md"], min_length=1
    )


class GateRollbackCheck(BaseModel):
    """``gate.rollback``: ``file`` exists, or the repository has git tags."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    file: str = "ROLLBACK.md"


class GateConfig(BaseModel):
    """The ``gate:`` section (``autohub check``)."""

    model_config = ConfigDict(extra="forbid")

    tests: GateTestsCheck = Field(default_factory=GateTestsCheck)
    security: GateSecurityCheck = Field(default_factory=GateSecurityCheck)
    documentation: GateDocumentationCheck = Field(default_factory=GateDocumentationCheck)
    performance: GatePerformanceCheck = Field(default_factory=GatePerformanceCheck)
    integration: GateIntegrationCheck = Field(default_factory=GateIntegrationCheck)
    rollback: GateRollbackCheck = Field(default_factory=GateRollbackCheck)


class ClaudeCodeConfig(BaseModel):
    """``watch.claude_code``: what the Claude Code hook may block (nothing by default)."""

    model_config = ConfigDict(extra="forbid")

    deny_commands: list[str] = Field(default_factory=list)
    """Regular expressions searched in Bash commands: a match blocks the call (PreToolUse)."""
    protect_paths: list[str] = Field(default_factory=list)
    """Globs, relative to the project root, of files Write and Edit may not touch."""

    @field_validator("deny_commands")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        return [check_regex(pattern) for pattern in patterns]


class WatchConfig(BaseModel):
    """The ``watch:`` section: action items detected in tool output."""

    model_config = ConfigDict(extra="forbid")

    complete_at: int = Field(default=80, ge=0, le=100)
    """A detection this confident completes its todo."""
    review_at: int = Field(default=60, ge=0, le=100)
    """A detection this confident (and below ``complete_at``) marks it pending_review."""
    claude_code: ClaudeCodeConfig = Field(default_factory=ClaudeCodeConfig)

    @model_validator(mode="after")
    def _ordered(self) -> WatchConfig:
        if self.review_at > self.complete_at:
            raise ValueError(
                f"review_at ({self.review_at}) must not be above complete_at ({self.complete_at})"
            )
        return self


class N8nWorkflowConfig(BaseModel):
    """One workflow under ``n8n.workflows``: its production webhook and its fallback chain."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    """The webhook path (``/webhook/<path>``)."""
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    """Another instance than ``n8n.base_url``."""
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    response_mode: Literal["last_node", "immediately", "response_node"] = "last_node"
    auth_header: str | None = None
    auth_token: str | None = None
    """The header's value: a ``${NAME}`` reference to a secret."""
    fallback: list[dict[str, Any]] = Field(default_factory=list)
    """Tiers tried in order when the workflow fails, each an action (``celery``, ``http``,
    ``shell``...) with its own ``timeout`` (default by position: 1 s, 5 s, 30 s):
    validated like a step's fallback policy by the registry loader."""

    @model_validator(mode="after")
    def _auth_pair(self) -> N8nWorkflowConfig:
        if (self.auth_header is None) != (self.auth_token is None):
            raise ValueError("auth_header and auth_token go together")
        return self


class N8nConfig(BaseModel):
    """The ``n8n:`` section: the n8n instance autohub calls and watches."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="http://127.0.0.1:5678", pattern=r"^https?://")
    api_key: str | None = None
    """The public-API key (a ``${NAME}`` reference), for the executions watcher."""
    slow_call_seconds: float = Field(default=30, gt=0)
    """A call slower than this is an ``execution_timeout`` failure."""
    breaker: dict[str, Any] = Field(
        default_factory=lambda: {"failure_threshold": 3, "reset_timeout": "30s"}
    )
    """The breaker shared by every call to this instance (as ``breakers:`` entries)."""
    watch_interval_seconds: float = Field(default=15, gt=0)
    watch: bool = True
    """Run the executions watcher inside ``autohub serve`` (when ``api_key`` is set)."""
    workflows: dict[str, N8nWorkflowConfig] = Field(default_factory=dict)


class CeleryConfig(BaseModel):
    """The ``celery:`` section: where ``celery`` steps send their tasks."""

    model_config = ConfigDict(extra="forbid")

    broker_url: str = "redis://127.0.0.1:6379/0"
    """The broker's URL; a password in it is a ``${NAME}`` reference to a secret."""
    result_backend: str | None = None
    """Where results are read (default: the broker)."""
    connect_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    """How long connecting to the broker or the result backend may take: an unreachable
    Redis fails the step this fast (no connection retries)."""
    default_timeout_seconds: float = Field(default=300.0, gt=0)
    """How long a ``celery`` step without a ``timeout`` waits for its task's result."""


class ConfigFile(BaseModel):
    """The keys autohub.yaml may hold. Definition sections are validated by the registry."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    database: str | None = None
    secrets_file: str | None = None
    modules: list[str] = Field(default_factory=list)
    automations_dir: str = "automations"
    events: EventsConfig = Field(default_factory=EventsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    n8n: N8nConfig = Field(default_factory=N8nConfig)
    celery: CeleryConfig = Field(default_factory=CeleryConfig)
    defaults: dict[str, Any] = Field(default_factory=dict)
    breakers: dict[str, Any] = Field(default_factory=dict)
    automations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("modules")
    @classmethod
    def _module_names(cls, modules: list[str]) -> list[str]:
        for name in modules:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a Python module name")
        return modules


@dataclass
class Config:
    """The loaded configuration of one project."""

    root: Path
    path: Path | None
    file: ConfigFile
    secrets: Secrets
    settings: Settings = field(default_factory=Settings)
    document: YamlDocument | None = None
    referenced_secrets: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    """Problems found by a lenient load (``strict=False``); empty after a strict one."""

    @property
    def database_url(self) -> str:
        """The store's URL, resolved when first needed (a command that never opens the
        store does not need its secrets)."""
        return _database_url(self.settings, self.file, self.secrets, self.root, self.path)

    @property
    def project(self) -> str:
        return self.file.project

    @property
    def automations_dir(self) -> Path:
        return self.root / self.file.automations_dir

    @property
    def spool_dir(self) -> Path:
        return self.root / self.file.events.spool_dir

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def redactor(self) -> Redactor:
        return self.secrets.redactor(self.referenced_secrets)

    def release_definitions(self) -> None:
        """Drop autohub.yaml's parsed document and raw ``automations:``, which only the
        registry loader reads: a process that keeps its registry does not keep them too
        (about 1.3 MB for a thousand inline steps). Loading a registry from a released
        config reads the file again."""
        self.document = None
        self.file.automations = {}

    @property
    def definitions_released(self) -> bool:
        return self.path is not None and self.document is None


def load_config(
    path: Path | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = True,
) -> Config:
    """Load the project's configuration; every problem found is reported at once.

    With ``strict=False`` problems in autohub.yaml's own keys are kept in
    ``Config.problems`` and the valid rest is loaded, so that ``validate`` can list
    them together with the problems of the definitions.
    """
    env = dict(os.environ if environ is None else environ)
    settings = _settings(env)
    here = (cwd or Path.cwd()).resolve()
    config_path = path or settings.config or find_config(here)
    if config_path is not None:
        config_path = (here / config_path).resolve()
        if not config_path.is_file():
            raise ConfigError([Problem(str(config_path), None, None, "file not found")])
        document, file, problems = _read_config_file(config_path)
        if problems and strict:
            raise ConfigError(problems)
        root = config_path.parent
    else:
        document, file, root, problems = None, ConfigFile(), here, []
    if settings.project:
        file.project = settings.project

    secrets_path = settings.secrets_file or (
        root / file.secrets_file if file.secrets_file else None
    )
    try:
        secrets = Secrets.load(secrets_path, env)
    except SecretsError as exc:
        raise ConfigError([Problem(str(secrets_path), None, None, exc.message)]) from exc

    referenced = referenced_names(document.data if document else None)
    return Config(
        root=root,
        path=config_path,
        file=file,
        secrets=secrets,
        settings=settings,
        document=document,
        referenced_secrets=sorted(referenced),
        problems=problems,
    )


DEFINITION_KEYS = ("automations", "defaults", "breakers", "modules")
"""The keys of autohub.yaml that a reload of the definitions reads again."""


def reread_config_file(config: Config) -> Config:
    """``config`` with the definitions of autohub.yaml read again (``DEFINITION_KEYS``), for
    a long-running process that reloads them. Every other setting, the environment, the
    secrets and the database stay as first loaded (what the running parts use); ConfigError
    if the file is now invalid."""
    if config.path is None:
        return config
    document, file, problems = _read_config_file(config.path)
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(
        config,
        file=config.file.model_copy(update={key: getattr(file, key) for key in DEFINITION_KEYS}),
        document=document,
        referenced_secrets=sorted(referenced_names(document.data)),
        problems=[],
    )


def _settings(env: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(
            {
                key.removeprefix("AUTOHUB_").lower(): value
                for key, value in env.items()
                if key.startswith("AUTOHUB_")
                and key.removeprefix("AUTOHUB_").lower() in Settings.model_fields
            }
        )
    except ValidationError as exc:
        problems = [
            Problem("environment", None, f"AUTOHUB_{str(e['loc'][0]).upper()}", e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise ConfigError(problems) from exc


def _read_config_file(path: Path) -> tuple[YamlDocument, ConfigFile, list[Problem]]:
    """The document, the settings of its valid keys, and the problems of the others."""
    try:
        documents = load_file(str(path), path.name)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem]) from exc
    if len(documents) != 1:
        problem = Problem(str(path), None, None, "expected exactly one YAML document")
        raise ConfigError([problem])
    document = documents[0]
    if document.data is None:
        document.data = {}
    if not isinstance(document.data, dict):
        raise ConfigError([document.problem((), "expected a mapping of settings")])
    problems = find_literal_secrets(document)
    file = ConfigFile()
    try:
        file = ConfigFile.model_validate(document.data)
    except ValidationError as exc:
        problems += validation_problems(exc, document)
        broken = {error["loc"][0] for error in exc.errors() if error["loc"]}
        valid_part = {k: v for k, v in document.data.items() if k not in broken}
        try:
            file = ConfigFile.model_validate(valid_part)
        except ValidationError:
            file = ConfigFile()
    return document, file, problems


def _database_url(
    settings: Settings, file: ConfigFile, secrets: Secrets, root: Path, config_path: Path | None
) -> str:
    if settings.database_url:
        url = settings.database_url
    elif file.database:
        try:
            url = secrets.resolve(file.database, f"{config_path}: database", url_quote=True)
        except SecretsError as exc:
            raise ConfigError([Problem(str(config_path), None, "database", exc.message)]) from exc
    else:
        url = DEFAULT_DATABASE_URL
    return normalise_database_url(url, root)


def normalise_database_url(url: str, root: Path) -> str:
    """psycopg 3 for PostgreSQL; a relative SQLite path is relative to the project root."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and not relative.startswith(":memory:"):
            return f"sqlite:///{(root / relative).resolve()}"
    return url


def find_literal_secrets(document: YamlDocument) -> list[Problem]:
    """Problems for every literal secret-looking value in a YAML document."""
    problems: list[Problem] = []
    for path, value in _walk_strings(document.data, ()):
        without_references = REFERENCE.sub("", value)
        key = path[-1] if path else None
        named_secret = (
            isinstance(key, str)
            and is_secret_key(key)
            and bool(without_references.strip())
            and REFERENCE.search(value) is None
        )
        if named_secret or looks_secret(without_references):
            problems.append(
                document.problem(
                    path,
                    "literal secret-looking value; refer to the environment or the secrets "
                    "file with ${NAME} instead",
                )
            )
    return problems


def _walk_strings(
    data: Any, path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(data, str):
        found.append((path, data))
    elif isinstance(data, dict):
        for key, value in data.items():
            found += _walk_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _walk_strings(value, (*path, index))
    return found


def definition_file_references(directory: Path) -> set[str]:
    """The secret names the YAML definition files in ``directory`` refer to, read from
    their text: for a process that does not load the definitions (the Claude Code hook;
    the registry gives everyone else ``Registry.referenced_secrets``). A name in a
    comment is redacted too, which is harmless."""
    names: set[str] = set()
    for path in definition_files(directory):
        try:
            names.update(REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return names


def referenced_names(data: Any) -> set[str]:
    """The secret names that the strings inside ``data`` refer to with ``${NAME}``."""
    return {name for _, text in _walk_strings(data, ()) for name in references(text)}
