"""Strict frozen models for the documents jobs exchange (job specs and what they hold).

`StrictModel` is a config `FrozenModel` (unknown keys refused, immutable) whose constructor
raises the model's own error class with messages in the words of a spec file: the field, the
value and what it must be. `SpecModel` adds a format version and the `to_json` / `from_json`
pair every job spec offers. Validators report several problems at once by raising
`SpecProblems`; a single problem of a more specific kind (say a `CrossVariantError`) is raised
as that kind.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, Field, Strict, ValidationError, field_validator
from pydantic_core import ErrorDetails
from typing_extensions import Self

from .base import FrozenModel, Int, InvalidValue, is_nullable, unwrap
from .errors import field_at, key_path, valid_keys

SPEC_VERSION = 1  # the format version this code writes and reads


def _absolute(path: str) -> str:
    if not os.path.isabs(path):
        raise InvalidValue(
            "must be absolute",
            "give the full path of the run directory (jobs may start in another directory)",
        )
    return path


RunRoot = Annotated[str, Strict(), AfterValidator(_absolute)]  # a job's run directory

InitT = TypeVar("InitT", bound=Callable[..., None])

# What a value of the wrong JSON type must be instead, by pydantic error type.
_TYPE_WORDS = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
}


def keyword_init(init: InitT) -> InitT:
    """Mark a model's `__init__` that only renames or translates: pydantic then validates nested
    data (a dict inside a spec) directly instead of calling it with the data as keywords."""
    init.__pydantic_base_init__ = True  # type: ignore[attr-defined]
    return init


class SpecError(ValueError):
    """A spec (or a part of one) that cannot be used; the message names each field and the fix."""


class SpecProblems(ValueError):
    """Several problems found by one validator, each a finished sentence naming its field."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class StrictModel(FrozenModel):
    """A frozen model that refuses bad input with `error_class` (see the module docstring)."""

    error_class: ClassVar[type[ValueError]] = SpecError
    what: ClassVar[str] = "spec"  # how messages name a document of this class

    @keyword_init
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as problem:
            raise type(self).refusal(problem) from None

    @classmethod
    def checked(cls, data: Any, *, source: str | None = None) -> Self:
        """`model_validate(data)`, refusing bad data with `error_class` whose message starts with `source`."""
        try:
            return cls.model_validate(data)
        except ValidationError as problem:
            raise cls.refusal(problem, source=source) from None

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated like any new instance."""
        return type(self)(**{**dict(self), **changes})

    @classmethod
    def refusal(cls, error: ValidationError, *, source: str | None = None) -> ValueError:
        """The exception to raise for `error`: one message listing every problem."""
        details = error.errors()
        problems = spec_problems(cls, details)
        single = _domain_error(details)
        kind = type(single) if single is not None and len(problems) == 1 else cls.error_class
        if len(problems) == 1:
            prefix = f"{source}: " if source else ("" if single is not None else f"invalid {cls.what}: ")
            return kind(prefix + problems[0])
        head = f"{source}: invalid {cls.what}" if source else f"invalid {cls.what}"
        return kind(f"{head}:\n  " + "\n  ".join(problems))


class SpecModel(StrictModel):
    """A job spec: a versioned JSON document (`to_json` / `from_json`).

    `spec_version` is written by `to_json`; a file without it predates versions (version 1).
    """

    json_indent: ClassVar[int | None] = 2
    # Fields added after specs were first written: left out of the JSON while None, so a spec
    # that does not use them reads and is named (its key) exactly as before they existed.
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    spec_version: Int = Field(default=SPEC_VERSION)

    @field_validator("spec_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != SPEC_VERSION:
            raise InvalidValue(
                f"is format version {version}, but this code reads version {SPEC_VERSION}",
                f"run the ringrift-hpc that wrote it, or write the spec again with {cls.__name__}.to_json",
            )
        return version

    def to_json(self) -> str:
        return self._dump(self.model_dump(mode="json"))

    def content_json(self) -> str:
        """`to_json` without the format version: what names a job by its content."""
        return self._dump(self.model_dump(mode="json", exclude={"spec_version"}))

    def _dump(self, doc: dict[str, Any]) -> str:
        omitted = {name for name in self.omitted_when_none if doc.get(name) is None}
        kept = {name: value for name, value in doc.items() if name not in omitted}
        return json.dumps(kept, indent=self.json_indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> Self:
        """Parse `to_json` output; every problem is refused by field, naming `source`."""
        source = source or cls.what
        try:
            data = json.loads(text)
        except json.JSONDecodeError as problem:
            raise cls.error_class(
                f"{source}: not valid JSON ({problem}); write it with {cls.__name__}.to_json"
            ) from None
        if not isinstance(data, dict):
            raise cls.error_class(
                f"{source}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}"
            )
        return cls.checked(data, source=source)


def spec_problems(model: type[StrictModel], errors: list[ErrorDetails]) -> list[str]:
    """One sentence per problem pydantic found in data for `model`.

    Unknown and missing fields are gathered into one sentence per place. A document with
    unknown fields is most likely another kind of document, so only those are reported; else
    missing fields alone, else every problem with a value.
    """
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    missing: dict[tuple[str | int, ...], list[str]] = {}
    problems: list[str] = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif error["type"] == "missing":
            missing.setdefault(loc[:-1], []).append(str(loc[-1]))
        else:
            problems.extend(_problem(model, error, loc))
    if unknown:
        return [
            f"{_at(where)}unknown field(s) {', '.join(sorted(names))}; "
            f"the fields are {_field_names(model, where)}"
            for where, names in unknown.items()
        ]
    if missing:
        return [
            f"{_at(where)}missing field(s) {', '.join(names)}; {_missing_fix(model, where)}"
            for where, names in missing.items()
        ]
    return problems


def _problem(model: type[StrictModel], error: ErrorDetails, loc: tuple[str | int, ...]) -> list[str]:
    kind = error["type"]
    value = error["input"]
    path = key_path(loc) or "value"
    ctx = error.get("ctx", {})
    cause = ctx.get("error")
    if isinstance(cause, InvalidValue):
        return [f"{path} {value!r}: {cause.problem}; {cause.fix}"]
    if isinstance(cause, ValueError):
        # A spec's own validators name their fields; a nested model's problems need its place.
        where = _at(loc) if len(loc) > 1 else ""
        found = cause.problems if isinstance(cause, SpecProblems) else (str(cause),)
        return [f"{where}{problem}" for problem in found]
    field = field_at(model, loc)
    if kind in _TYPE_WORDS:
        nullable = field is not None and is_nullable(field.annotation)
        words = _TYPE_WORDS[kind] + (" or null" if nullable else "")
        return [f"field {path!r} is {value!r}; it must be {words}"]
    if kind == "greater_than_equal":
        bound = ctx["ge"]
        return [f"{path} = {value!r} must be {'0 or more' if bound == 0 else f'at least {bound}'}"]
    if kind == "greater_than":
        return [f"{path} = {value!r} must be greater than {ctx['gt']}"]
    if kind == "literal_error" and field is not None:
        options = [str(option) for option in typing.get_args(unwrap(field.annotation))]
        return [f"{path} {value!r} must be {', '.join(options[:-1])} or {options[-1]}"]
    if kind == "finite_number":
        return [f"{path} = {value!r} must be a finite number"]
    return [f"{path} {value!r}: {error['msg']}"]


def _domain_error(errors: list[ErrorDetails]) -> ValueError | None:
    """The exception a validator raised when it is of a more specific kind than a plain problem."""
    if len(errors) != 1:
        return None
    cause = errors[0].get("ctx", {}).get("error")
    plain = (SpecProblems, InvalidValue, SpecError)
    if isinstance(cause, ValueError) and type(cause) is not ValueError and not isinstance(cause, plain):
        return cause
    return None


def _field_names(model: type[StrictModel], where: tuple[str | int, ...]) -> str:
    names = valid_keys(model, where)
    # The format version comes last: a reader looks for the job's own fields first.
    return ", ".join([n for n in names if n != "spec_version"] + [n for n in names if n == "spec_version"])


def _missing_fix(model: type[StrictModel], where: tuple[str | int, ...]) -> str:
    return f"the fields are {_field_names(model, where)}" if where else f"every {model.__name__} names them"


def _at(loc: tuple[str | int, ...]) -> str:
    return f"{key_path(loc)}: " if loc else ""
