"""Shared building blocks of the config models: the frozen base class and strict scalar types."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Strict, model_validator

# Strict scalars: YAML `true` must not become 1 and `2.5` must not be truncated to 2.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


class FrozenModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


class Section(FrozenModel):
    """A mapping of keys in the YAML; written empty (`slurm:` with every key commented out) it takes all defaults."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return {} if value is None else value


class InvalidValue(ValueError):
    """An impossible value found by a validator, with the fix to print.

    ``key`` names the offending field when a check spans several fields of one section, so the
    error points at that field instead of at the whole section.
    """

    def __init__(self, problem: str, fix: str, *, key: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.key = key


def unwrap(annotation: Any) -> Any:
    """The model or plain type inside `Annotated[...]` and `X | None` annotations."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def is_nullable(annotation: Any) -> bool:
    """Whether an annotation admits None (`X | None`)."""
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )
