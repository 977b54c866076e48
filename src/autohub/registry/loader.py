"""Loading the registry from its sources: ``autohub.yaml``, ``automations/*.yaml`` and the
Python modules named under ``modules:``. Every problem in every source is reported at
once, each with its file, line and key; a failed load changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pydantic import ValidationError

from autohub.config import Config, find_literal_secrets, referenced_names, reread_config_file
from autohub.errors import ConfigError, DefinitionError, InvalidInput, Problem
from autohub.paths import PROJECT_IMPORTS, definition_files
from autohub.registry.decorators import ATTRIBUTE, DeclaredAutomation
from autohub.registry.models import (
    GRAPH_CHECKED_BY_CALLER,
    Automation,
    ProjectDefaults,
    Step,
    effective_policies,
    step_graph_problems,
    text_version,
)
from autohub.registry.policies import (
    BreakerPolicy,
    FallbackTier,
    Policies,
    tiers_with_default_timeouts,
)
from autohub.yamlfile import YamlDocument, YamlSyntaxError, load_file, validation_problems

logger = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]
TriggerT = TypeVar("TriggerT")


@dataclass(frozen=True)
class Definition:
    """An automation and where it was declared."""

    automation: Automation
    source: str

    @property
    def name(self) -> str:
        return self.automation.name

    @property
    def content(self) -> dict[str, Any]:
        """The normalised content (``Automation.content``): made on each call, not kept (a
        large definition's is megabytes; the version below is what is kept)."""
        return self.automation.content()

    @cached_property
    def version(self) -> str:
        """The content hash (``Automation.version``), computed once (the definition is
        immutable)."""
        return self.automation.version

    def version_and_canonical(self) -> tuple[str, Callable[[], str]]:
        """The version, and how to get the content as the text it hashes
        (``canonical_json``): when this call computes the version, that very text (a large
        definition is dumped and encoded once, not twice), else made again when asked."""
        if "version" in self.__dict__:
            return self.version, self.automation.canonical_text
        canonical = self.automation.canonical_text()
        self.__dict__["version"] = version = text_version(canonical)
        return version, lambda: canonical


@dataclass
class Registry:
    """Every automation of a project, validated, plus the project's defaults and breakers."""

    project: str
    defaults: ProjectDefaults = field(default_factory=ProjectDefaults)
    breakers: dict[str, BreakerPolicy] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    fingerprint: Fingerprint = ()
    referenced_secrets: frozenset[str] = frozenset()
    """Every secret name a definition refers to with ``${NAME}``: the values to redact."""
    step_modules: dict[str, str] = field(default_factory=dict)
    """The project's own modules that python steps call -> their files (watched too)."""

    def __len__(self) -> int:
        return len(self.definitions)

    def __iter__(self) -> Iterator[Definition]:
        return iter(sorted(self.definitions.values(), key=lambda d: d.name))

    def get(self, name: str) -> Definition:
        """The named definition; an unknown name is an error that suggests close ones."""
        if name in self.definitions:
            return self.definitions[name]
        import difflib

        close = difflib.get_close_matches(name, self.definitions, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(self.definitions)) or "none"
        raise InvalidInput(f"unknown automation {name!r}{hint} (known: {known})")

    def triggers(self, kind: type[TriggerT]) -> list[tuple[Definition, TriggerT]]:
        """Every trigger of ``kind`` (``CronTrigger``, ``EventTrigger``...), with its
        definition, in name order."""
        return [
            (definition, trigger)
            for definition in self
            for trigger in definition.automation.triggers
            if isinstance(trigger, kind)
        ]

    def policies(self, automation: Automation, step: Step) -> Policies:
        return effective_policies(self.defaults, automation, step)


def load_registry(config: Config) -> Registry:
    """Build the registry from every source; raises DefinitionError listing all problems
    (a released config, see ``Config.release_definitions``, reads autohub.yaml again)."""
    if config.definitions_released:
        config = reread_config_file(config)
    return _Loader(config).load()


def check_definition(
    config: Config, breakers: Mapping[str, BreakerPolicy], data: Any, source: str
) -> tuple[Definition | None, list[Problem]]:
    """Validate one automation given as data (not yet in the project), as the loader
    would: the definition when valid, and every problem located by its key path."""
    loader = _Loader(config)
    document = YamlDocument(source, data)
    loader.problems += find_literal_secrets(document)
    loader._add_yaml(document, (), data)
    with _importable(config.root):
        for definition in loader.definitions.values():
            loader._check_python_targets(definition)
    for definition in loader.definitions.values():
        loader._check_breakers(definition, dict(breakers))
    valid = next(iter(loader.definitions.values()), None)
    return (valid if not loader.problems else None), loader.problems


def source_files(config: Config) -> list[Path]:
    """The YAML definition files, in load order."""
    return definition_files(config.automations_dir)


def fingerprint(config: Config, step_modules: Iterable[str] = ()) -> Fingerprint:
    """Path, size and modification time of every source, and of the project's python
    step modules (``step_modules``, their files): a change means a reload."""
    paths = [config.path] if config.path else []
    paths += source_files(config)
    for name in config.file.modules:
        spec = _find_spec(name, config.root)
        if spec is not None and spec.origin:
            paths.append(Path(spec.origin))
    return fingerprint_files([*paths, *step_modules])


def fingerprint_files(paths: Iterable[str | Path]) -> Fingerprint:
    """Path, modification time and size of each file that exists."""
    result = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        result.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(result)


class RegistryWatcher:
    """Keeps a registry current: reloads when a source changes or appears (autohub.yaml
    included: it is read again); a failed reload keeps the last good registry and its error
    in ``last_error``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry = load_registry(config)
        config.release_definitions()  # the registry holds them now
        self.last_error: DefinitionError | ConfigError | None = None
        self._failed: Fingerprint | None = None
        """The sources as they were when a reload failed: not tried again until they change."""

    def current(self) -> Registry:
        """The registry, reloaded first if a source changed since it was loaded."""
        self.reload_if_changed()
        return self.registry

    def reload_if_changed(self) -> bool:
        """Reload when a source changed; True when a new registry replaced the old one."""
        stamp = fingerprint(self.config, self.registry.step_modules.values())
        if stamp == self.registry.fingerprint:  # back as loaded (a file moved and back)
            self.last_error = self._failed = None
            return False
        if stamp == self._failed:
            return False
        try:
            config = reread_config_file(self.config)
            registry = load_registry(config)
        except (DefinitionError, ConfigError) as exc:
            self.last_error, self._failed = exc, stamp
            return False
        except Exception as exc:  # a module that breaks in a way the loader does not name
            logger.exception("definitions not reloaded")
            problem = Problem(None, None, None, f"reload failed: {type(exc).__name__}: {exc}")
            self.last_error, self._failed = DefinitionError([problem]), stamp
            return False
        config.release_definitions()
        self.config, self.registry = config, registry
        self.last_error = self._failed = None
        return True


class _Loader:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.problems: list[Problem] = []
        self.definitions: dict[str, Definition] = {}
        self.references: set[str] = set()
        self.step_modules: dict[str, str] = {}
        """The project's own modules that python steps call, and their files."""
        self.imported: set[str] = set()
        """The modules this load imported afresh (``modules:``)."""
        self._step_specs: dict[str, Any] = {}

    def load(self) -> Registry:
        config = self.config
        stamp = fingerprint(config)
        document = config.document or YamlDocument(str(config.path or "autohub.yaml"), {})
        defaults = self._validate(ProjectDefaults, config.file.defaults, document, ("defaults",))
        breakers: dict[str, BreakerPolicy] = {}
        for name, data in config.file.breakers.items():
            breaker = self._validate(BreakerPolicy, data, document, ("breakers", name))
            if breaker is not None:
                breakers[str(name)] = breaker
        self._check_n8n(document)
        for name, data in config.file.automations.items():
            self._add_yaml(document, ("automations", name), data, expected_name=str(name))
        for path in source_files(config):
            self._add_file(path)
        with _importable(config.root):
            for index, module_name in enumerate(config.file.modules):
                self._add_module(module_name, document, ("modules", index))
            for definition in self.definitions.values():
                self._check_python_targets(definition)
            self._reload_step_modules()
        for definition in self.definitions.values():
            self._check_breakers(definition, breakers)
        if defaults is not None and defaults.breaker and defaults.breaker not in breakers:
            self.problems.append(
                document.problem(
                    ("defaults", "breaker"), _unknown_breaker(defaults.breaker, breakers)
                )
            )
        if self.problems:
            raise DefinitionError(self.problems)
        return Registry(
            project=config.project,
            defaults=defaults or ProjectDefaults(),
            breakers=breakers,
            definitions=self.definitions,
            fingerprint=stamp + fingerprint_files(self.step_modules.values()),
            referenced_secrets=frozenset(self.references),
            step_modules=self.step_modules,
        )

    def _validate(
        self, model: type[Any], data: Any, document: YamlDocument, path: tuple[str | int, ...]
    ) -> Any:
        try:
            return model.model_validate(
                data if data is not None else {}, context={GRAPH_CHECKED_BY_CALLER: True}
            )
        except ValidationError as exc:
            self.problems += validation_problems(exc, document, path)
            return None

    def _add_yaml(
        self,
        document: YamlDocument,
        path: tuple[str | int, ...],
        data: Any,
        expected_name: str | None = None,
    ) -> None:
        if not isinstance(data, dict):
            self.problems.append(document.problem(path, "expected a mapping (an automation)"))
            return
        data = dict(data)
        if expected_name is not None:
            if "name" in data and data["name"] != expected_name:
                self.problems.append(
                    document.problem(
                        (*path, "name"),
                        f"name {data['name']!r} differs from its key {expected_name!r}",
                    )
                )
                return
            data["name"] = expected_name
        elif "name" not in data:
            self.problems.append(document.problem(path, "required key 'name' is missing"))
            return
        data.setdefault("project", self.config.project)
        data = self._with_n8n_workflows(document, path, data)
        automation = self._validate(Automation, data, document, path)
        if automation is not None:
            graph = step_graph_problems(automation.steps)
            if graph:
                self.problems += [document.problem((*path, *where), m) for where, m in graph]
                return
            file = _relative(Path(document.file), self.config.root)
            line = document.line_of(path)
            self._register(Definition(automation, f"{file}:{line}"), document, path)
            self.references |= referenced_names(data)

    def _add_file(self, path: Path) -> None:
        shown = _relative(path, self.config.root)
        try:
            documents = load_file(str(path), shown)
        except YamlSyntaxError as exc:
            self.problems.append(exc.problem)
            return
        for document in documents:
            if document.data is None:
                continue
            self.problems += find_literal_secrets(document)
            self._add_yaml(document, (), document.data)

    def _add_module(
        self, module_name: str, config_document: YamlDocument, path: tuple[str | int, ...]
    ) -> None:
        try:
            module = _import_fresh(module_name)
        except Exception as exc:  # user code: any failure is a located problem
            message = f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
            self.problems.append(config_document.problem(path, message))
            return
        self.imported.add(module_name)
        for value in vars(module).values():
            declared = getattr(value, ATTRIBUTE, None)
            if isinstance(declared, DeclaredAutomation):
                document = YamlDocument(
                    _relative(Path(declared.file), self.config.root),
                    declared.data,
                    {(): declared.line},
                )
                self.problems += find_literal_secrets(document)
                self._add_yaml(document, (), declared.data)

    def _register(
        self, definition: Definition, document: YamlDocument, path: tuple[str | int, ...]
    ) -> None:
        existing = self.definitions.get(definition.name)
        if existing is not None:
            message = (
                f"duplicate automation name {definition.name!r} (also defined at {existing.source})"
            )
            self.problems.append(document.problem((*path, "name"), message))
            return
        self.definitions[definition.name] = definition

    def _check_n8n(self, document: YamlDocument) -> None:
        """``n8n.breaker`` as a breaker policy, each workflow's fallback tiers as a step's."""
        n8n = self.config.file.n8n
        self._validate(BreakerPolicy, n8n.breaker, document, ("n8n", "breaker"))
        for name, workflow in n8n.workflows.items():
            tiers = tiers_with_default_timeouts(workflow.fallback)
            for index, tier in enumerate(tiers):
                where = ("n8n", "workflows", name, "fallback", index)
                self._validate(FallbackTier, tier, document, where)

    def _with_n8n_workflows(
        self, document: YamlDocument, path: tuple[str | int, ...], data: dict[str, Any]
    ) -> dict[str, Any]:
        """``data`` with each n8n step's workflow checked, and the workflow's fallback chain
        as the step's fallback policy when the step declares none."""
        steps = data.get("steps")
        if not isinstance(steps, list):
            return data
        workflows = self.config.file.n8n.workflows
        new_steps: list[Any] = []
        for index, step in enumerate(steps):
            action = step.get("n8n") if isinstance(step, dict) else None
            name = action if isinstance(action, str) else None
            if isinstance(action, dict) and isinstance(action.get("workflow"), str):
                name = action["workflow"]
            if name is None or "{{" in name:
                new_steps.append(step)
                continue
            workflow = workflows.get(name)
            if workflow is None:
                known = ", ".join(sorted(workflows)) or "none"
                self.problems.append(
                    document.problem(
                        (*path, "steps", index, "n8n"),
                        f"unknown n8n workflow {name!r}: declare it under n8n.workflows: "
                        f"(known: {known})",
                    )
                )
            elif "fallback" not in step and workflow.fallback:
                tiers = tiers_with_default_timeouts(workflow.fallback)
                new_steps.append({**step, "fallback": tiers})
                continue
            new_steps.append(step)
        return {**data, "steps": new_steps}

    def _check_breakers(self, definition: Definition, breakers: dict[str, BreakerPolicy]) -> None:
        automation = definition.automation
        file, _, line = definition.source.rpartition(":")
        owners: list[tuple[str, str | None]] = [("breaker", automation.breaker)]
        owners += [(f"steps[{i}].breaker", step.breaker) for i, step in enumerate(automation.steps)]
        for key, name in owners:
            if name is not None and name not in breakers:
                self.problems.append(
                    Problem(
                        file,
                        int(line) if line.isdigit() else None,
                        f"{automation.name}.{key}",
                        _unknown_breaker(name, breakers),
                    )
                )

    def _check_python_targets(self, definition: Definition) -> None:
        automation, root = definition.automation, self.config.root
        file, _, line = definition.source.rpartition(":")
        for index, step in enumerate(automation.steps):
            tiers = [
                ("", step),
                *((f".fallback[{j}]", tier) for j, tier in enumerate(step.fallback)),
            ]
            for suffix, choice in tiers:
                if choice.python is None:
                    continue
                module_name = choice.python.function.split(":", 1)[0]
                if module_name not in self._step_specs:  # a thousand steps, one module
                    spec = _find_spec(module_name, root)
                    self._step_specs[module_name] = spec
                    if spec is not None and spec.origin and _inside(spec.origin, root):
                        self.step_modules[module_name] = spec.origin
                if self._step_specs[module_name] is None:
                    self.problems.append(
                        Problem(
                            file,
                            int(line) if line.isdigit() else None,
                            f"{automation.name}.steps[{index}]{suffix}.python",
                            f"module {module_name!r} not found (from the project root)",
                        )
                    )

    def _reload_step_modules(self) -> None:
        """Import again the project's python step modules a run has imported, so that the
        steps started from now on call the code now on disk (``import_function`` sees the
        rebound functions). A module that now fails to import is a problem."""
        for module_name in sorted(self.step_modules):
            module = sys.modules.get(module_name)
            if module is None or module_name in self.imported:
                continue
            loaded_from = getattr(module, "__file__", None)
            if loaded_from is None or not _same_file(loaded_from, self.step_modules[module_name]):
                continue  # a namesake from elsewhere: the step imports the project's own
            try:
                importlib.reload(module)
            except Exception as exc:  # user code: any failure is a located problem
                message = f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
                file = _relative(Path(self.step_modules[module_name]), self.config.root)
                self.problems.append(Problem(file, None, None, message))


def _same_file(one: str, other: str) -> bool:
    return Path(one).resolve() == Path(other).resolve()


def _inside(file: str, root: Path) -> bool:
    return Path(file).resolve().is_relative_to(root.resolve())


def _unknown_breaker(name: str, breakers: dict[str, BreakerPolicy]) -> str:
    known = ", ".join(sorted(breakers)) or "none"
    return f"unknown breaker {name!r}: declare it under breakers: (known: {known})"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


@contextmanager
def _importable(root: Path) -> Iterator[None]:
    """The project root on sys.path while its modules are imported (``PROJECT_IMPORTS``
    held: a python step importing on another thread keeps its root)."""
    entry = str(root)
    with PROJECT_IMPORTS:
        added = entry not in sys.path
        if added:
            sys.path.insert(0, entry)
        try:
            yield
        finally:
            if added and entry in sys.path:
                sys.path.remove(entry)


def _find_spec(module_name: str, root: Path) -> Any:
    """The module's spec; None when it cannot be found, or when a package above it fails
    to import (finding ``pkg.mod`` imports ``pkg``: a SyntaxError there is not ours)."""
    with _importable(root):
        try:
            return importlib.util.find_spec(module_name)
        except Exception:
            return None


def _import_fresh(module_name: str) -> ModuleType:
    """Import a module, reloading it if it was imported before (its file may have changed)."""
    importlib.invalidate_caches()
    module = sys.modules.get(module_name)
    if module is not None:
        return importlib.reload(module)
    return importlib.import_module(module_name)
