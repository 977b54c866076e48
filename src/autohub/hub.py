"""The Hub: one project's configuration, store and registry, opened together.

The library face of autohub (the CLI is a thin layer over it)::

    with Hub.from_config("autohub.yaml") as hub:
        hub.events.record("deploy_finished", hub.project, "success", evidence={...})
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from autohub.config import Config, load_config, referenced_names

if TYPE_CHECKING:
    from autohub.engine.actions.base import ActionRequest, ActionResult
    from autohub.engine.executor import ActionHandler
    from autohub.engine.runner import ProgressCallback, Runner
    from autohub.registry.loader import Definition, Registry, RegistryWatcher
    from autohub.registry.models import Automation
    from autohub.store.breakers import BreakerStore
    from autohub.store.database import Database
    from autohub.store.definitions import DefinitionStore
    from autohub.store.events import EventStore
    from autohub.store.evidence import StoredJson
    from autohub.store.runs import NewRun, RunRecord, RunStore
    from autohub.store.schedules import ScheduleStore
    from autohub.store.todos import TodoStore
    from autohub.store.tokens import TokenStore
    from autohub.watch.tracker import ActionTracker


R = TypeVar("R")

SEEN_EVERY_SECONDS = 60.0
"""How often creating runs refreshes a definition version's ``last_seen_at``."""


class Hub:
    """Configuration, database, events, definitions and registry of one project."""

    lease_seconds = 30.0
    """How long a runner's claim on a run lasts without renewal (renewed every 0.5 s): after
    a crash, the run can be resumed once this has passed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._seen_at: dict[tuple[str, str], float] = {}
        self._resources: dict[str, tuple[Any, Callable[[Any], None]]] = {}
        self._resources_lock = threading.Lock()
        self._registry_lock = threading.Lock()
        self._watcher: RegistryWatcher | None = None

    @classmethod
    def from_config(
        cls, path: str | Path | None = None, *, cwd: Path | None = None, strict: bool = True
    ) -> Hub:
        """Open the project of ``path`` (default: autohub.yaml found from ``cwd`` upwards)."""
        return cls(load_config(Path(path) if path is not None else None, cwd=cwd, strict=strict))

    @property
    def project(self) -> str:
        return self.config.project

    @cached_property
    def database(self) -> Database:
        from autohub.store.database import Database

        return Database.create(self.config.database_url)

    def require_schema(self) -> None:
        """Raise MigrationRequired unless the database schema is current."""
        from autohub.store import migrations

        migrations.require_current(self.database)

    @cached_property
    def events(self) -> EventStore:
        from autohub.store.events import EventLimits, EventStore
        from autohub.store.spool import EventSpool

        settings = self.config.file.events
        return EventStore(
            self.database,
            self.config.redactor(),
            spool=EventSpool(self.config.spool_dir),
            limits=EventLimits(settings.evidence_max_bytes, settings.string_max_chars),
        )

    @cached_property
    def definitions(self) -> DefinitionStore:
        from autohub.store.definitions import DefinitionStore

        return DefinitionStore(self.database)

    @property
    def registry(self) -> Registry:
        """The project's definitions, loaded when first needed. A long-running process keeps
        them current with ``refresh_registry``."""
        return self._registry_watcher.registry

    @property
    def _registry_watcher(self) -> RegistryWatcher:
        """Made once, under a lock: a server's threads ask for it at the same time, and the
        first load releases the config's definitions (``Config.release_definitions``)."""
        if self._watcher is None:
            with self._registry_lock:
                if self._watcher is None:
                    from autohub.registry.loader import RegistryWatcher

                    made = RegistryWatcher(self.config)
                    self.redact_references(made.registry.referenced_secrets)
                    self._watcher = made
        return self._watcher

    def refresh_registry(self) -> RegistryWatcher:
        """Reload the definitions if a source changed (autohub.yaml, ``automations/``, the
        named modules), or keep the last good ones when the change is invalid; returns the
        watcher (``registry``, ``last_error``). The secret values the new definitions
        refer to are redacted from then on."""
        watcher = self._registry_watcher
        if watcher.reload_if_changed():
            self.redact_references(
                watcher.config.referenced_secrets, watcher.registry.referenced_secrets
            )
        return watcher

    def redact_references(self, *sources: Iterable[str]) -> None:
        """Redact the values of every secret named in ``sources`` (references, ``${NAME}``,
        of autohub.yaml, of loaded definitions, of a stored one a run executes, of the
        definition files the hook reads), wherever the definition was declared: a step's
        output that echoes one is stored as ``[REDACTED]``."""
        referenced = {name for source in sources for name in source}
        if referenced <= set(self.config.referenced_secrets):
            return
        self.config.referenced_secrets = sorted(referenced | set(self.config.referenced_secrets))
        if "events" in self.__dict__:  # else made later, from the config
            known = self.config.redactor().known_secrets
            self.events.redactor = self.events.redactor.with_secrets(known)

    def record_definitions(self, names: Iterable[str] | None = None) -> list[str]:
        """Record the version of the named (default: every) loaded definition; returns the
        names whose version is new."""
        chosen = self.registry if names is None else [self.registry.get(n) for n in names]
        return self._record_seen([(d, *d.version_and_canonical()) for d in chosen])

    def _record_seen(self, seen: Iterable[tuple[Definition, str, Callable[[], str]]]) -> list[str]:
        """Record definitions with their versions; a content is made only for a version
        new to the store."""
        from autohub.store.definitions import SeenDefinition

        return self.definitions.record(
            [
                SeenDefinition(
                    name=definition.name,
                    version=version,
                    project_id=definition.automation.project or self.project,
                    source=definition.source,
                    content=functools.partial(self._stored_content, definition.name, content),
                )
                for definition, version, content in seen
            ]
        )

    def _note_seen(self, definition: Definition) -> None:
        """Record the version a run is created from, at most once a minute per version
        and process (``last_seen_at`` to the minute; a busy server writes it once)."""
        import time

        version, content = definition.version_and_canonical()
        key = (definition.name, version)
        now = time.monotonic()
        if now - self._seen_at.get(key, -SEEN_EVERY_SECONDS) >= SEEN_EVERY_SECONDS:
            self._record_seen([(definition, version, content)])
            self._seen_at[key] = now

    def _stored_content(self, name: str, canonical: Callable[[], str]) -> StoredJson:
        """A definition's content as stored: its canonical text (keys sorted), whole
        (uncapped) and redacted. The store asks for it only for a version it does not
        have yet."""
        from autohub.store import evidence

        return evidence.encode_text(
            canonical(),
            f"{name}.content",
            self.events.redactor,
            max_bytes=sys.maxsize,
            max_string_chars=sys.maxsize,
        )

    @cached_property
    def breakers(self) -> BreakerStore:
        from autohub.store.breakers import BreakerStore

        return BreakerStore(self.database, self.events)

    @cached_property
    def tokens(self) -> TokenStore:
        from autohub.store.tokens import TokenStore

        return TokenStore(self.database, self.events)

    @cached_property
    def todos(self) -> TodoStore:
        from autohub.store.sessions import DatabaseSessions
        from autohub.store.todos import TodoStore

        return TodoStore(DatabaseSessions(self.database, self.events))

    @cached_property
    def tracker(self) -> ActionTracker:
        """Detections in tool output applied to the todos, with the ``watch:`` thresholds."""
        from autohub.watch.tracker import ActionTracker, Thresholds

        settings = self.config.file.watch
        return ActionTracker(
            self.todos,
            self.events,
            thresholds=Thresholds(settings.complete_at, settings.review_at),
        )

    # -- runs ----------------------------------------------------------------------------

    @cached_property
    def schedules(self) -> ScheduleStore:
        from autohub.store.schedules import ScheduleStore

        return ScheduleStore(self.database)

    @cached_property
    def runs(self) -> RunStore:
        from autohub.store.runs import RunStore

        return RunStore(self.database, self.events)

    def start(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        idempotency_key: str | None = None,
    ) -> tuple[RunRecord, bool]:
        """Create a run (params validated, defaults applied); with an idempotency key already
        used, return that run and False."""
        return self.runs.create(
            self.new_run(name, params, trigger=trigger, idempotency_key=idempotency_key)
        )

    def new_run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        idempotency_key: str | None = None,
    ) -> NewRun:
        """The run ``start`` would create: the automation resolved, params validated."""
        from autohub.registry.params import validate_params
        from autohub.store.runs import NewRun

        definition = self.registry.get(name)
        automation = definition.automation
        values = validate_params(automation.params, dict(params or {}))
        self._note_seen(definition)
        return NewRun(
            automation=automation.name,
            version=definition.version,
            project_id=automation.project or self.project,
            params=values,
            trigger=trigger,
            step_ids=[step.id for step in automation.steps],
            max_parallel=automation.max_parallel,
            idempotency_key=idempotency_key,
        )

    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RunRecord:
        """Run an automation to its end and return the finished run."""
        with _older_objects_frozen():
            run, _ = self.start(name, params, trigger=trigger, idempotency_key=idempotency_key)
            if run.finished:
                return run
            return self._execute(run, on_progress)

    def execute(self, run_id: str, *, on_progress: ProgressCallback | None = None) -> RunRecord:
        """Execute (or resume) a created run in this process."""
        with _older_objects_frozen():
            return self._execute(self.runs.get(run_id), on_progress)

    def _execute(self, run: RunRecord, on_progress: ProgressCallback | None) -> RunRecord:
        """Execute ``run`` as just read from the store."""
        import asyncio

        runner = self.runner(on_progress=on_progress, alone=True)
        try:
            return asyncio.run(runner.execute(run.id, self.automation_of(run), seen=run))
        finally:
            runner.steps.executor.close()

    def resume(self, *, on_progress: ProgressCallback | None = None) -> list[RunRecord]:
        """Resume every unfinished run that nobody executes (after a crash or kill -9)."""
        return [self.execute(run.id, on_progress=on_progress) for run in self.runs.orphans()]

    def cancel(self, run_id: str) -> RunRecord:
        return self.runs.request_cancel(self.runs.find(run_id).id)

    def automation_of(self, run: RunRecord) -> Automation:
        """The definition a run was created with (from the history if it changed since)."""
        from autohub.registry.models import Automation

        definition = self.registry.definitions.get(run.automation)
        if definition is not None and definition.version == run.version:
            return definition.automation
        stored = self.definitions.get(run.automation, run.version)
        self.redact_references(referenced_names(stored.content))
        return Automation.model_validate(stored.content)

    def action_plugins(self) -> dict[str, ActionHandler]:
        """The step kinds the components add to the engine's: ``gate``, ``watch``, ``n8n``
        and ``celery``.
        Each component is imported by its first step, not by every run."""
        return {
            "gate": self._plugin("autohub.gate.step", "gate_step"),
            "watch": self._plugin("autohub.watch.step", "watch_step"),
            "n8n": self._plugin("autohub.n8n.step", "n8n_step"),
            "celery": self._plugin("autohub.broker.step", "celery_step"),
        }

    def _plugin(self, module: str, factory: str) -> ActionHandler:
        """A handler that builds ``module.factory(self)`` when it first runs."""
        built: list[ActionHandler] = []

        async def run(request: ActionRequest) -> ActionResult:
            if not built:
                import importlib

                built.append(getattr(importlib.import_module(module), factory)(self))
            return await built[0](request)

        return run

    def runner(self, *, on_progress: ProgressCallback | None = None, alone: bool = False) -> Runner:
        """A runner of this project's runs; ``alone`` when it executes one run at a time on
        its event loop (see ``Runner``)."""
        from autohub.engine.executor import LocalExecutor
        from autohub.engine.runner import Runner
        from autohub.engine.steps import StepRunner
        from autohub.store.locks import LockStore

        locks = LockStore(self.database, self.events)
        steps = StepRunner(
            executor=LocalExecutor(plugins=self.action_plugins()),
            secrets=self.config.secrets,
            project_root=self.config.root,
            clock=self.runs.clock,
            breakers=self.breakers,
            breaker_policies=self.registry.breakers,
            locks=locks,
        )
        return Runner(
            store=self.runs,
            steps=steps,
            defaults=self.registry.defaults,
            locks=locks,
            lease_seconds=self.lease_seconds,
            on_progress=on_progress,
            alone=alone,
        )

    def resource(self, name: str, make: Callable[[], R], close: Callable[[R], None]) -> R:
        """A component's long-lived object (a client, a pool): made on first use, shared
        by the hub's users, closed with the hub."""
        with self._resources_lock:
            if name not in self._resources:
                self._resources[name] = (make(), close)
            value: R = self._resources[name][0]
            return value

    def release(self, name: str) -> None:
        """Close the resource ``name`` now (the next use makes a new one)."""
        with self._resources_lock:
            found = self._resources.pop(name, None)
        if found is not None:
            found[1](found[0])

    def close(self) -> None:
        for name in list(self._resources):
            self.release(name)
        if "runs" in self.__dict__:
            self.runs.close()
        if "database" in self.__dict__:
            self.database.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_freezing = {"runs": 0, "foreign": False}
_freezing_lock = threading.Lock()


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Leave the objects that exist before a run out of the garbage collector's passes
    during it (``gc.freeze``), and hand them back when the last run of this process
    that froze them ends. A run allocates many objects, and each full pass would
    otherwise walk the whole loaded program as well (tens of milliseconds with a large
    registry). A program that froze objects itself (a server that forks workers) keeps
    them frozen: autohub then leaves the collector alone for good."""
    import gc

    with _freezing_lock:
        if not _freezing["runs"] and not _freezing["foreign"] and gc.get_freeze_count():
            _freezing["foreign"] = True  # counted only while none are ours: it walks them
        owned = not _freezing["foreign"]
        if owned:
            if not _freezing["runs"]:
                gc.freeze()
            _freezing["runs"] += 1
    try:
        yield
    finally:
        if owned:
            with _freezing_lock:
                _freezing["runs"] -= 1
                if not _freezing["runs"]:
                    gc.unfreeze()
