"""The base of every P2P wire document: a strict, frozen pydantic model whose errors name the field.

Peers run separately installed copies of ringrift-hpc, so a message is untrusted input: a
wrong type must be refused with the message kind and the field, never half-applied. A
document is parsed once, where it arrives (route or client), and inner code takes the model.

Messages that travel between nodes carry `v`, the wire version: 1 today, and 1 when a peer
of an older release leaves it out. The URL prefix /v1 stays the API's version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import ErrorDetails, PydanticCustomError

from ringrift_hpc.config.base import unwrap

WIRE_VERSION: Final = 1

_M = TypeVar("_M", bound="WireModel")


class WireError(ValueError):
    """A peer's message is malformed; the text names the message kind and the field."""


def expected(phrase: str) -> WrapValidator:
    """Report any failure of the checks before it as "must be `phrase`" (put it last in `Annotated`)."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("wire_field", "must be {expected}", {"expected": phrase}) from None

    return WrapValidator(check)


def list_as_tuple(value: Any) -> Any:
    # JSON has lists only; a tuple field takes one (strict mode would refuse it).
    return tuple(value) if isinstance(value, list) else value


Count = Annotated[int, Field(ge=0), expected("an integer >= 0")]
Positive = Annotated[int, Field(ge=1), expected("an integer >= 1")]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False), expected("a positive number")]
Finite = Annotated[float, Field(allow_inf_nan=False), expected("a finite number")]
Flag = Annotated[bool, expected("true or false")]
Text = Annotated[str, expected("a string")]
Name = Annotated[str, Field(min_length=1), expected("a non-empty string")]
OptionalName = Annotated[str | None, Field(min_length=1), expected("a non-empty string or null")]
Names = Annotated[
    tuple[Annotated[str, Field(min_length=1)], ...],
    BeforeValidator(list_as_tuple),
    expected("a list of non-empty strings"),
]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$"), expected("64 lower-case hex digits (a sha256)")]
Version = Annotated[
    Literal[1],
    expected(f"{WIRE_VERSION} (the wire version of this ringrift-hpc; run the same version on every node)"),
]


class WireModel(BaseModel):
    """A wire document: unknown fields refused, no type coercion, immutable.

    `WHAT` names the document in errors ("vote request: field 'term' must be ...").
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    WHAT: ClassVar[str] = "message"

    @classmethod
    def from_json(cls: type[_M], data: object, what: str | None = None) -> _M:
        """`data` (a decoded JSON value) as this document, or WireError naming every bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise WireError(describe(cls, error, what or cls.WHAT)) from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def describe(model: type[BaseModel], error: ValidationError, what: str) -> str:
    """One line for all of a validation's errors: the field, what it must be, the value sent."""
    clauses = []
    listed: set[tuple[int | str, ...]] = set()
    for detail in error.errors():
        clause = _clause(detail)
        parent = tuple(detail["loc"][:-1])
        inner = _model_at(model, parent)
        if detail["type"] in ("missing", "extra_forbidden") and inner is not None and parent not in listed:
            # The fix for a missing or unknown field: the fields there are, once per object.
            listed.add(parent)
            clause += f" (the fields are {', '.join(inner.model_fields)})"
        clauses.append(clause)
    text = "; ".join(clauses)
    # A document's own check may name it already ("artifact entry 'variants/...': ...").
    return text if text.startswith(what) else f"{what}: {text}"


def _clause(detail: ErrorDetails) -> str:
    loc, kind, value = detail["loc"], detail["type"], detail["input"]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        where = f"{_where(loc)}: " if loc else ""
        return f"{where}expected a JSON object, got {type(value).__name__}"
    if not loc:
        return str(detail["msg"]).removeprefix("Value error, ")
    where = _where(loc)
    if kind == "missing":
        return f"{where} is missing"
    if kind == "extra_forbidden":
        parent = f"{_where(loc[:-1])}: " if len(loc) > 1 else ""
        return f"{parent}unknown field {loc[-1]!r}"
    if kind == "wire_field":
        return f"{where} {detail['msg']}, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return f"{where} must be a list, got {value!r}"
    return f"{where}: {str(detail['msg']).removeprefix('Value error, ')}"


def _where(loc: Sequence[int | str]) -> str:
    """('files', 'x', '[key]') -> "field 'files': key 'x'"; list items by number."""
    names = []
    for index, part in enumerate(loc):
        if part == "[key]":
            continue
        if index + 1 < len(loc) and loc[index + 1] == "[key]":
            names.append(f"key {part!r}")
        else:
            names.append(f"item {part}" if isinstance(part, int) else f"field {part!r}")
    return ": ".join(names)


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = unwrap(field.annotation) if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model
