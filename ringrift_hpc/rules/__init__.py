"""RingRift rules engine: exact rules for every board and 2-4 players, reference JSON, speed.

Public interface (stable; other layers depend on it):

* `initial_state(board, num_players, *, rules_options=None)` -> `GameState`
* `legal_moves(state)` -> list of `Move` (memoised on the state; never empty while active)
* `apply_move(state, move)` -> new `GameState` (validating; raises `IllegalMoveError`)
* `apply_move_unchecked(state, move)` -> new `GameState` (search fast path, no validation)
* `is_terminal(state)`, `winner(state)` (seat or None), `ranking(state)` (rank per seat)
* `state_from_json(obj)` / `state_to_json(state)`: the reference serialized-state format
* `move_from_json(obj, state)` / `move_to_json(move)`: the reference move format
* `fingerprint(state)` -> `Fingerprint(text, hash)`: the cross-engine comparison key
* `BOARDS`, `Move`, `GameState`, `RulesOptions`, `IllegalMoveError`, `StateFormatError`

States are never mutated after they are returned. Seats are 1..N; after a pie-rule swap
(`state.swapped`) seat 1 is played by the identity that started as seat 2 and vice versa.

Other layers (encoders, search) may read `GameState` attributes directly; they are listed
with their meaning in `state.py` (cells are indices into `geometry(board)`, stacks are
bottom-first tuples, per-player lists are indexed by seat). Never write them. Rule choices
where the reference engines disagree are recorded in `docs/rules-decisions.md`.
"""

from __future__ import annotations

from ringrift_hpc.rules.apply import apply_move, apply_move_unchecked
from ringrift_hpc.rules.errors import IllegalMoveError, RulesError, StateFormatError
from ringrift_hpc.rules.fingerprint import Fingerprint, fingerprint
from ringrift_hpc.rules.game import initial_state, is_terminal, ranking, winner
from ringrift_hpc.rules.geometry import BOARDS, Geometry, geometry
from ringrift_hpc.rules.legal import legal_moves
from ringrift_hpc.rules.moves import MOVE_TYPES, Move
from ringrift_hpc.rules.serialization import (
    move_from_json,
    move_to_json,
    state_from_json,
    state_to_json,
)
from ringrift_hpc.rules.state import GameState, RulesOptions

__all__ = [
    "BOARDS",
    "MOVE_TYPES",
    "Fingerprint",
    "GameState",
    "Geometry",
    "IllegalMoveError",
    "Move",
    "RulesError",
    "RulesOptions",
    "StateFormatError",
    "apply_move",
    "apply_move_unchecked",
    "fingerprint",
    "geometry",
    "initial_state",
    "is_terminal",
    "legal_moves",
    "move_from_json",
    "move_to_json",
    "ranking",
    "state_from_json",
    "state_to_json",
    "winner",
]
