"""Safe YAML loading that remembers the line of every key, for errors that say where.

The loader is YAML 1.2-flavoured where YAML 1.1 surprises people: only ``true`` and
``false`` are booleans (``on``, ``no``, ``yes`` stay strings), dates stay strings,
and a key given twice in one mapping is an error instead of a silent overwrite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from autohub.errors import Problem

KeyPath = tuple[str | int, ...]

_MAX_NODES = 200_000
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader without YAML 1.1 booleans and timestamps; libyaml's parser when PyYAML
    has it (about four times faster, and lighter, on large definition files)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class YamlDocument:
    """One YAML document: its data and the line of each key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        return Problem(self.file, self.line_of(path), format_key_path(path), message)


class YamlSyntaxError(Exception):
    """A YAML file that cannot be read; carries its located problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def format_key_path(path: Sequence[str | int]) -> str:
    """``("steps", 0, "argv")`` -> ``steps[0].argv``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_documents(text: str, file: str) -> list[YamlDocument]:
    """Every document in ``text``; raises YamlSyntaxError naming the file and line."""
    documents: list[YamlDocument] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            document = YamlDocument(file=file, data=None)
            if node is not None:
                document.data = _Builder(loader, document).build(node, ())
            documents.append(document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join((exc.problem or exc.context or "invalid YAML").split())
        raise YamlSyntaxError(Problem(file, line, None, f"YAML syntax error: {reason}")) from exc
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise YamlSyntaxError(Problem(file, None, None, f"YAML error: {reason}")) from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise YamlSyntaxError(Problem(file, None, None, f"YAML error: {exc}")) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return documents


def load_file(path: str, display_name: str | None = None) -> list[YamlDocument]:
    """Read and parse a YAML file; unreadable or non-UTF-8 files are located problems too."""
    name = display_name or path
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(Problem(name, None, None, f"not UTF-8 text: {exc.reason}")) from exc
    except OSError as exc:
        raise YamlSyntaxError(Problem(name, None, None, f"cannot read: {exc.strerror}")) from exc
    return load_documents(text, name)


class _Builder:
    """Turns composed nodes into plain data, recording lines and refusing duplicates."""

    def __init__(self, loader: _Loader, document: YamlDocument) -> None:
        self.loader = loader
        self.document = document
        self.nodes = 0

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"document too large (more than {_MAX_NODES} nodes after aliases)",
                problem_mark=node.start_mark,
            )
        self.document.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise yaml.MarkedYAMLError(
                problem=f"unsupported tag {node.tag!r}", problem_mark=node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value, not a list or mapping",
                    problem_mark=key_node.start_mark,
                )
            key = self.loader.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r} (first given on line "
                    f"{self.document.lines.get((*path, key), '?')})",
                    problem_mark=key_node.start_mark,
                )
            self.document.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key))
        return result


def validation_problems(
    exc: ValidationError, document: YamlDocument, base: Sequence[str | int] = ()
) -> list[Problem]:
    """Located problems from a pydantic error raised while validating ``document`` at ``base``."""
    problems = []
    for error in exc.errors(include_url=False):
        path = _data_path(document.data, tuple(base), error["loc"])
        problems.append(document.problem(path, _message(error)))
    return problems


def _data_path(data: Any, base: KeyPath, loc: Sequence[str | int]) -> KeyPath:
    """The key path in the data for a pydantic ``loc``, without union tags and model names."""
    node = data
    for part in base:
        node = _child(node, part)
    path = list(base)
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif not isinstance(node, dict | list):
            break
        elif isinstance(node, dict) and _is_missing_field(part, loc):
            path.append(part)
            break
    return tuple(path)


def _is_missing_field(part: str | int, loc: Sequence[str | int]) -> bool:
    return isinstance(part, str) and part == loc[-1]


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
