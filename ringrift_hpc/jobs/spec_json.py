"""Reading a job spec (a frozen dataclass) back from its JSON, and the checks specs share.

`spec_fields` refuses invalid JSON, a document that is not an object, unknown and missing
fields and fields of the wrong JSON type, each naming the source, the field and the fix. The
JSON type each field takes comes from the dataclass's own annotations, so a spec lists its
fields once. What a value must satisfy beyond its type is the spec's `__post_init__`, which
starts from `job_problems` (the run directory, variant, bounds and device of a job).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable
from typing import Any

from ringrift_hpc.config.variants import parse_variant_name

DEVICES = ("auto", "cpu", "cuda")

# JSON type(s) a field of each annotated type accepts, and how an error message says so.
_JSON_TYPES: dict[Any, tuple[tuple[type, ...], str]] = {
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    str: ((str,), "a string"),
    tuple: ((list,), "a list"),
    list: ((list,), "a list"),
    dict: ((dict,), "an object"),
}


def spec_fields(
    cls: type[Any], text: str, *, source: str, error: type[ValueError] = ValueError
) -> dict[str, Any]:
    """The fields of `cls` read from `text` (a `to_json` document of it), checked by name and type.

    Raises `error`, whose message starts with `source` (the file's name where there is one).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(f"{source}: not valid JSON ({problem}); write it with {cls.__name__}.to_json") from None
    if not isinstance(data, dict):
        raise error(f"{source}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}")
    known = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise error(f"{source}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(known)}")
    missing = [
        name
        for name, field in known.items()
        if field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        and name not in data
    ]
    if missing:
        raise error(f"{source}: missing field(s) {', '.join(missing)}; every {cls.__name__} names them")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        wanted, words, optional = _json_type(hints[name])
        if value is None and optional:
            continue
        # bool is an int to Python but not a count or a seed to a spec.
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise error(f"{source}: field {name!r} is {value!r}; it must be {words}")
    return data


def _json_type(hint: Any) -> tuple[tuple[type, ...], str, bool]:
    """(accepted JSON types, their name in words, whether null is accepted) of an annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) != 1:
            raise TypeError(f"spec field type {hint} is not one JSON type (or that type or None)")
        wanted, words, _ = _json_type(members[0])
        return wanted, f"{words} or null" if optional else words, optional
    base = typing.get_origin(hint) or hint
    if base not in _JSON_TYPES:
        raise TypeError(f"spec field type {hint} has no JSON counterpart in spec_fields")
    wanted, words = _JSON_TYPES[base]
    return wanted, words, False


def job_problems(
    spec: Any, *, at_least_one: Iterable[str] = (), at_least_zero: Iterable[str] = ()
) -> list[str]:
    """What is wrong with `spec`'s `run_root`, `variant` and `device`, and the named numeric fields."""
    problems = []
    if not os.path.isabs(spec.run_root):
        problems.append(f"run_root {spec.run_root!r} must be absolute (jobs may start in another directory)")
    try:
        parse_variant_name(spec.variant)
    except ValueError as error:
        problems.append(f"variant: {error}")
    problems.extend(
        f"{name} = {getattr(spec, name)} must be at least 1"
        for name in at_least_one
        if getattr(spec, name) < 1
    )
    problems.extend(
        f"{name} = {getattr(spec, name)} must be 0 or more"
        for name in at_least_zero
        if getattr(spec, name) < 0
    )
    if spec.device not in DEVICES:
        problems.append(f"device {spec.device!r} must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    return problems
