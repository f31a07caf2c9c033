"""A resolver of test functions for executor tests: the spec of a job is the call to make.

Executors run ``resolve(purpose)(spec)``; with ``resolve_calls`` that is ``run_call(call)``,
``call.fn(*call.args)``, so a test submits any function of its own as a job of any purpose.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # no stubs; comes with submitit

from ringrift_hpc.cluster.purposes import Purpose

# The jobs' Python cannot import this module, so what it defines travels by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]


def call(fn: Callable[..., Any], *args: Any) -> Call:
    return Call(fn, args)


def run_call(spec: Call) -> Any:
    return spec.fn(*spec.args)


def resolve_calls(purpose: Purpose) -> Callable[[Any], Any]:
    return run_call
