"""YAML in and out: a strict loader that reports positions and duplicate keys, and the dumper.

PyYAML follows YAML 1.1, where `on`/`no` are booleans, `1:30:00` is the integer 5400 and `3e-4`
is a string. A config full of Slurm times and learning rates must not be read that way, so the
loader resolves plain scalars like YAML 1.2's core schema (`true`/`false`, decimal integers,
floats with or without a dot); everything else stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, Loc, Problem, key_path

_REPLACED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE_SCALARS = (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*\.[0-9_]*)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    ),
)


def _core_resolvers(base: type[yaml.resolver.BaseResolver]) -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag not in _REPLACED_TAGS]
        for first, entries in base.yaml_implicit_resolvers.items()
    }
    for tag, regexp, firsts in _CORE_SCALARS:
        for first in firsts:
            resolvers.setdefault(first, []).append((tag, regexp))
    return resolvers


class _CoreLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = _core_resolvers(yaml.SafeLoader)


class _CoreDumper(yaml.SafeDumper):
    """Quotes every string that either YAML 1.1 or the core loader would read as something else."""

    yaml_implicit_resolvers = {
        first: [*yaml.SafeDumper.yaml_implicit_resolvers.get(first, []), *extra]
        for first, extra in _core_resolvers(yaml.SafeDumper).items()
    }


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    """The document in ``text`` and the 1-based (line, column) of every key and list item."""
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        duplicates = list(_duplicate_keys(node, ()))
        if duplicates:
            raise ConfigError(source, duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(source, [_yaml_problem(error)]) from error
    except yaml.YAMLError as error:
        raise ConfigError(source, [Problem(None, f"cannot parse YAML: {error}", _YAML_FIX)]) from error
    finally:
        loader.dispose()
    positions: dict[Loc, tuple[int, int]] = {}
    _record_positions(node, (), positions)
    return data, positions


def dump_yaml(data: Any) -> str:
    """Block-style YAML that `parse_yaml` reads back to equal data."""
    return yaml.dump(data, Dumper=_CoreDumper, sort_keys=False, allow_unicode=False, default_flow_style=False)


_YAML_FIX = "check the indentation and quoting there; quote values that contain ': ' or ' #'"


def _yaml_problem(error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    problem = ": ".join(part for part in (error.context, error.problem) if part)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return Problem(None, f"cannot parse YAML: {problem}", _YAML_FIX, line, column)


def _key_text(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _duplicate_keys(node: Node, loc: Loc, seen_nodes: frozenset[int] = frozenset()) -> Iterator[Problem]:
    # PyYAML keeps the last of two equal keys without a word; a config edited by hand must not.
    if id(node) in seen_nodes:
        return
    seen_nodes = seen_nodes | {id(node)}
    if isinstance(node, MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = _key_text(key_node)
            line = key_node.start_mark.line + 1
            if key is not None and key in first_line:
                yield Problem(
                    key_path((*loc, key)),
                    f"key '{key}' appears twice (lines {first_line[key]} and {line}); YAML would keep only the last",
                    "delete one of them",
                    line,
                    key_node.start_mark.column + 1,
                )
            elif key is not None:
                first_line[key] = line
            yield from _duplicate_keys(value_node, (*loc, key if key is not None else "?"), seen_nodes)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index), seen_nodes)


def _record_positions(
    node: Node, loc: Loc, positions: dict[Loc, tuple[int, int]], seen_nodes: frozenset[int] = frozenset()
) -> None:
    if id(node) in seen_nodes:
        return
    seen_nodes = seen_nodes | {id(node)}
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key is None:
                continue
            child = (*loc, key)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record_positions(value_node, child, positions, seen_nodes)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            positions[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _record_positions(item, child, positions, seen_nodes)
