"""The shape check of JSON objects that come from peers: exactly the expected fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class JsonFieldError(ValueError):
    """A peer's JSON document is not an object, or lacks or adds fields."""


def check_fields(
    data: Any, names: tuple[str, ...], what: str, *, error: type[ValueError] = JsonFieldError
) -> Mapping[str, Any]:
    """``data`` as a mapping with exactly the fields ``names``; ``error`` naming the odd ones."""
    if not isinstance(data, Mapping):
        raise error(f"{what} must be a JSON object with the fields {', '.join(names)}, got {data!r}")
    unknown = sorted(set(data) - set(names))
    missing = [name for name in names if name not in data]
    if unknown or missing:
        problems = ([f"unknown field(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing field(s) {', '.join(missing)}"] if missing else []
        )
        raise error(f"{what} {dict(data)!r}: {'; '.join(problems)}; the fields are {', '.join(names)}")
    return data
