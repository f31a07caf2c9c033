"""Game variants (board × player count) as the config names them.

The config package keeps its own list of boards instead of importing the rules engine, so a
config can be checked on a login node without the game installed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import ValidationError, model_serializer, model_validator

from .base import FrozenModel, Int, InvalidValue
from .errors import describe_value

Board = Literal["square8", "square19", "hex8", "hexagonal"]
BOARDS: tuple[str, ...] = get_args(Board)
PLAYER_COUNTS: tuple[int, ...] = (2, 3, 4)

_NAME = re.compile(r"^(?P<board>[a-z0-9]+)_(?P<players>\d+)p$")
_NAME_FIX = "write <board>_<players>p, e.g. square8_2p, or a mapping {board: square8, players: 2}"


class Variant(FrozenModel):
    """One board with one player count; written in YAML as its name, e.g. `square8_2p`."""

    board: Board
    players: Int

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_variant_name(value)
        if not isinstance(value, Mapping):
            raise InvalidValue(f"expected a variant name, got {describe_value(value)}", _NAME_FIX)
        return value

    @model_validator(mode="after")
    def _players_in_range(self) -> Variant:
        if self.players not in PLAYER_COUNTS:
            raise InvalidValue(
                f"{self.board} is played by 2, 3 or 4 players, not {self.players}",
                f"use {self.board}_2p, {self.board}_3p or {self.board}_4p",
            )
        return self

    @model_serializer
    def _as_name(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """Canonical name, also the variant's directory in the run: `<board>_<players>p`."""
        return f"{self.board}_{self.players}p"

    def __str__(self) -> str:
        return self.name


def parse_variant_name(name: str) -> dict[str, Any]:
    """Split `square8_2p` into its fields; raise InvalidValue naming the fix otherwise."""
    match = _NAME.match(name)
    if match is None:
        raise InvalidValue(f"'{name}' is not a variant name", _NAME_FIX)
    board = match["board"]
    if board not in BOARDS:
        close = difflib.get_close_matches(board, BOARDS, n=1)
        hint = f"did you mean {close[0]}_{match['players']}p? " if close else ""
        raise InvalidValue(
            f"unknown board '{board}' in '{name}'",
            f"{hint}boards are {', '.join(BOARDS)}",
        )
    return {"board": board, "players": int(match["players"])}


class VariantNameError(ValueError):
    """A variant name read from outside the config (a file field, a CLI option) is not valid."""


def variant_from_name(name: object, *, where: str) -> Variant:
    """The variant `name` (e.g. `square8_2p`) found at `where`; `VariantNameError` says where,
    what is wrong and the fix."""
    if not isinstance(name, str):
        raise VariantNameError(f"{where}: expected a variant name, got {describe_value(name)}; {_NAME_FIX}")
    try:
        return Variant.model_validate(name)
    except ValidationError as error:
        cause = error.errors()[0].get("ctx", {}).get("error")
        if not isinstance(cause, InvalidValue):
            raise
        raise VariantNameError(f"{where}: {cause.problem}; {cause.fix}") from None
