"""Reading a Config from a YAML file or a mapping, and writing it back as YAML."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, Positions, Problem, problems_from_validation
from .legacy import LEGACY_KEYS
from .root import Config
from .yaml_io import dump_yaml, parse_yaml

ModelT = TypeVar("ModelT", bound=BaseModel)

_START_FROM = "start from config/unified_loop.yaml (docs/config.md lists every key)"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the config file at ``path``; raise ConfigError listing every problem."""
    return load_yaml_model(path, Config, start_from=_START_FROM)


def load_yaml_model(path: str | os.PathLike[str], root: type[ModelT], *, start_from: str) -> ModelT:
    """Read the YAML file at ``path`` and validate it as ``root``; raise ConfigError listing every
    problem. ``start_from`` is the fix offered for an empty or shapeless file."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError(
            source, [Problem(None, "the file does not exist", f"check the path, or {start_from}")]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            source, [Problem(None, "this is a directory, not a file", "name the YAML file itself")]
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            source, [Problem(None, f"the file is not UTF-8 text ({error.reason})", "save it as UTF-8")]
        ) from error
    except OSError as error:
        raise ConfigError(
            source, [Problem(None, f"cannot read the file: {error.strerror}", "check its permissions")]
        ) from error
    data, positions = parse_yaml(text, source)
    if data is None:
        raise ConfigError(source, [Problem(None, "the file is empty", start_from)])
    return _validate(data, source, positions, root, start_from)


def parse_config(mapping: Mapping[str, Any], *, source: str) -> Config:
    """Validate an already-parsed mapping; ``source`` names it in error messages."""
    return _validate(mapping, source, {}, Config, _START_FROM)


def dump_config(config: Config) -> str:
    """YAML text of every key of ``config``; loading it gives a Config equal to ``config``."""
    return dump_yaml(config.model_dump(mode="json"))


def _validate(data: Any, source: str, positions: Positions, root: type[ModelT], start_from: str) -> ModelT:
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise ConfigError(
            source,
            [
                Problem(
                    None,
                    f"the top level is {kind}, not a mapping of sections",
                    f"write 'key: value' lines; {start_from}",
                )
            ],
        )
    try:
        return root.model_validate(data)
    except ValidationError as error:
        # Keys of the old RingRift loop's unified_loop.yaml only make sense in a run config.
        old_keys = LEGACY_KEYS if root is Config else None
        problems = problems_from_validation(
            error.errors(include_url=False), root, positions, old_keys=old_keys
        )
        raise ConfigError(source, problems) from None
