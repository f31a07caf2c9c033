"""Reading a peer's JSON message: every field checked for presence and type, errors naming it.

Peers run separately installed copies of ringrift-hpc, so a message is untrusted input: a
wrong type must be refused with the message kind and the field, never half-applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


class WireError(ValueError):
    """A peer's message is malformed; the text names the message kind and the field."""


def message(data: object, what: str) -> Mapping[str, object]:
    """`data` as a JSON object, or WireError."""
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise WireError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def exact_fields(
    data: object, names: Sequence[str], what: str, *, error: type[ValueError] = WireError
) -> Mapping[str, object]:
    """`data` as a JSON object with exactly the fields `names`; `error` names the odd ones."""
    if not isinstance(data, Mapping):
        raise error(f"{what} must be a JSON object with the fields {', '.join(names)}, got {data!r}")
    unknown = sorted(str(k) for k in data if k not in names)
    missing = [name for name in names if name not in data]
    if unknown or missing:
        problems = ([f"unknown field(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing field(s) {', '.join(missing)}"] if missing else []
        )
        raise error(f"{what} {dict(data)!r}: {'; '.join(problems)}; the fields are {', '.join(names)}")
    return data


def _field(doc: Mapping[str, object], name: str, what: str) -> object:
    if name not in doc:
        raise WireError(f"{what}: field {name!r} is missing")
    return doc[name]


def _bad(what: str, name: str, expected: str, value: object) -> WireError:
    return WireError(f"{what}: field {name!r} must be {expected}, got {value!r}")


def get_int(doc: Mapping[str, object], name: str, what: str, *, minimum: int = 0) -> int:
    value = _field(doc, name, what)
    # bool is an int subclass; a peer sending true for a term is a bug, not the term 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(what, name, f"an integer >= {minimum}", value)
    return value


def get_float(doc: Mapping[str, object], name: str, what: str) -> float:
    value = _field(doc, name, what)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(what, name, "a finite number", value)
    return float(value)


def get_bool(doc: Mapping[str, object], name: str, what: str) -> bool:
    value = _field(doc, name, what)
    if not isinstance(value, bool):
        raise _bad(what, name, "true or false", value)
    return value


def get_str(doc: Mapping[str, object], name: str, what: str, *, empty: bool = False) -> str:
    value = _field(doc, name, what)
    if not isinstance(value, str) or (not empty and not value):
        raise _bad(what, name, "a string" if empty else "a non-empty string", value)
    return value


def get_optional_str(doc: Mapping[str, object], name: str, what: str) -> str | None:
    if _field(doc, name, what) is None:
        return None
    return get_str(doc, name, what)


def get_object(doc: Mapping[str, object], name: str, what: str) -> Mapping[str, object]:
    return message(_field(doc, name, what), f"{what}: field {name!r}")


def get_str_tuple(doc: Mapping[str, object], name: str, what: str) -> tuple[str, ...]:
    value = _field(doc, name, what)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(what, name, "a list of non-empty strings", value)
    return tuple(value)
