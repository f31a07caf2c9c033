"""ConfigError, and the translation of validation errors into messages that name the fix."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from .base import InvalidValue, unwrap

Loc = tuple[str | int, ...]
Positions = Mapping[Loc, tuple[int, int]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (key path, line, column), what, and the fix."""

    key: str | None
    problem: str
    fix: str
    line: int | None = None
    column: int | None = None

    def render(self) -> str:
        where = [self.key] if self.key else []
        if self.line is not None:
            where.append(f"line {self.line}, column {self.column}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"  - {prefix}{self.problem}\n    fix: {self.fix}"


class ConfigError(ValueError):
    """A config that cannot be used; the message lists every problem found, each with its fix."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        header = f"invalid config {source} ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(p.render() for p in self.problems)]))


def key_path(loc: Loc) -> str:
    """`('slurm', 'selfplay', 'time')` -> `slurm.selfplay.time`; list items as `variants[1]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problems_from_validation(
    errors: Sequence[ErrorDetails],
    root: type[BaseModel],
    positions: Positions,
    *,
    old_keys: Mapping[str, str] | None = None,
) -> list[Problem]:
    """One Problem per pydantic error, with line and column where the YAML gave them.

    `old_keys` maps key paths of an older format (list indices left out) to their fix: such an
    unknown key gets that fix instead of a spelling suggestion.
    """
    problems = []
    item_locs = [tuple(error["loc"]) for error in errors]
    for error in errors:
        loc: Loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in item_locs
        ):
            continue  # pydantic counts only the valid items; the item errors already say what is wrong
        problem, fix, loc = _explain(error, loc, root, old_keys or {})
        line, column = _position(loc, positions)
        problems.append(Problem(key_path(loc) or None, problem, fix, line, column))
    # File order reads best next to the file; problems about keys the file lacks come last.
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def _position(loc: Loc, positions: Positions) -> tuple[int | None, int | None]:
    # A key missing from the file (a default, or a required key left out) is reported at its
    # closest ancestor that the file does contain.
    for end in range(len(loc), 0, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return None, None


def _explain(
    error: ErrorDetails, loc: Loc, root: type[BaseModel], old_keys: Mapping[str, str]
) -> tuple[str, str, Loc]:
    kind = error["type"]
    value = error["input"]
    ctx = error.get("ctx", {})
    name = str(loc[-1]) if loc else "value"
    field = field_at(root, loc)
    if kind == "value_error" and isinstance(ctx.get("error"), InvalidValue):
        invalid: InvalidValue = ctx["error"]
        if invalid.key:
            loc = loc + tuple(invalid.key.split("."))
        return invalid.problem, invalid.fix, loc
    if kind == "extra_forbidden":
        old = old_keys.get(".".join(str(part) for part in loc if isinstance(part, str)))
        if old is not None:
            return (
                f"unknown key '{name}', a key of the old RingRift loop",
                f"{old}; see docs/migrating.md",
                loc,
            )
        valid = valid_keys(root, loc[:-1])
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'?" if close else f"remove it; valid keys here: {', '.join(valid)}"
        return f"unknown key '{name}'", fix, loc
    if kind == "missing":
        return "required key is missing", f"add {name}: {_example(field)}", loc
    if kind == "literal_error":
        options = _literal_options(field)
        close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
        listed = ", ".join(str(o) for o in options)
        fix = f"did you mean {close[0]}? valid values: {listed}" if close else f"use one of {listed}"
        return f"{describe_value(value)} is not one of {listed}", fix, loc
    if kind in ("model_type", "dict_type") and loc and isinstance(loc[-1], int):
        return (
            f"expected a mapping of 'key: value' pairs, got {describe_value(value)}",
            "write the list item as {key: value, ...}",
            loc,
        )
    simple = _SIMPLE.get(kind)
    if simple is not None:
        expected, fix = simple
        return (
            f"expected {expected}, got {describe_value(value)}",
            fix.format(name=name, example=_example(field)),
            loc,
        )
    bound = _BOUNDS.get(kind)
    if bound is not None:
        words, ctx_key = bound
        limit = ctx[ctx_key]
        return (
            f"must be {words} {limit:g}, got {describe_value(value)}",
            f"use a value {words} {limit:g}",
            loc,
        )
    if kind == "too_short":
        return (
            f"needs at least {ctx['min_length']} item(s), got {ctx['actual_length']}",
            f"list at least {ctx['min_length']} item(s), e.g. {name}: {_example(field)}",
            loc,
        )
    if kind == "string_too_short":
        return "must not be empty", f"write a value, e.g. {name}: {_example(field)}", loc
    if kind == "finite_number":
        return f"must be a finite number, got {describe_value(value)}", "write a finite number", loc
    return error["msg"], f"see docs/config.md for the valid values of {key_path(loc) or 'the config'}", loc


_SIMPLE: dict[str, tuple[str, str]] = {
    "int_type": ("a whole number", "write a whole number without quotes, e.g. {name}: {example}"),
    "float_type": ("a number", "write a number without quotes, e.g. {name}: {example}"),
    "bool_type": ("true or false", "write true or false (yes, no, on and off are not booleans here)"),
    "string_type": ("text", "quote the value, e.g. {name}: {example}"),
    "tuple_type": ("a list", "write a YAML list, one '- item' line per entry, e.g. {name}: {example}"),
    "list_type": ("a list", "write a YAML list, one '- item' line per entry, e.g. {name}: {example}"),
    "model_type": ("a section of 'key: value' lines", "indent the section's keys under '{name}:'"),
    "dict_type": ("a section of 'key: value' lines", "indent the section's keys under '{name}:'"),
}
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def describe_value(value: Any) -> str:
    """How a value read from YAML is named in messages: `the text 'ten'`, `a list`."""
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a section (mapping)"
    return type(value).__name__


def _example(field: FieldInfo | None) -> str:
    """A value to show in a fix: the field's default, in YAML flow style."""
    options = _literal_options(field)
    if options and (field is None or field.default is PydanticUndefined):
        return " or ".join(str(option) for option in options)
    if field is None or field.default is PydanticUndefined or field.default is None:
        return "<value>"
    default = field.default
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, str):
        return f'"{default}"'
    if isinstance(default, tuple):
        return "[" + ", ".join(str(item) for item in default) + "]" if default else "[<item>]"
    if isinstance(default, BaseModel):
        return "<section>"
    return str(default)


def field_at(root: type[BaseModel], loc: Loc) -> FieldInfo | None:
    """The field a location points to, walking through sections and list items."""
    model: Any = root
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(unwrap(field.annotation)) if field is not None else ()
            model = unwrap(args[0]) if args else None
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        model = unwrap(field.annotation)
    return field


def valid_keys(root: type[BaseModel], loc: Loc) -> list[str]:
    if not loc:
        return list(root.model_fields)
    field = field_at(root, loc)
    model = unwrap(field.annotation) if field is not None else None
    if isinstance(loc[-1], int) and field is not None:
        args = typing.get_args(model)
        model = unwrap(args[0]) if args else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _literal_options(field: FieldInfo | None) -> list[Any]:
    annotation = unwrap(field.annotation) if field is not None else None
    return list(typing.get_args(annotation)) if typing.get_origin(annotation) is typing.Literal else []
