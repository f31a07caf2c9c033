"""Auxiliary training targets read off a game's final position (KataGo's dense signals).

An outcome is one noisy label per game; the final position says much more about why it ended.
Two targets, both RELATIVE to the player to move at the sample (slot 0 = mover, slot k = the
k-th seat after it in turn order, as the value head):

* ownership: per grid cell (`encoding.board_grid`), 0 when the cell is not collapsed territory
  at the end (or lies off the board), else 1 + the slot of the seat it is collapsed to;
* score: per slot, the two victory measures of rules.md (2.1): the share of the board's cells
  the seat holds as territory (`cells / board cells`, in [0, 1]) and its credited eliminated
  rings as a share of the ring-elimination threshold V (clipped to [0, 1]; 1 = that victory).
"""

from __future__ import annotations

import numpy as np

from ringrift_hpc.ai.encoding import board_grid
from ringrift_hpc.rules import GameState

SCORE_MEASURES = ("territory", "eliminated_rings")


def final_ownership(final: GameState) -> np.ndarray:
    """[H*W] int8: the ABSOLUTE seat each grid cell is collapsed to at the end, 0 for none."""
    grid = board_grid(final.geo.board)
    owner = np.zeros(grid.height * grid.width, dtype=np.int8)
    codes = np.asarray(final.cells, dtype=np.int64)
    collapsed = codes < 0
    owner[grid.pos[collapsed]] = -codes[collapsed]
    return owner


def final_scores(final: GameState) -> np.ndarray:
    """[2, N] float32 in [0, 1]: territory share and eliminated-ring share per ABSOLUTE seat."""
    n = final.num_players
    owner = np.asarray(final.cells, dtype=np.int64)
    territory = np.bincount(-owner[owner < 0], minlength=n + 1)[1:]
    eliminated = np.asarray(final.eliminated[1 : n + 1], dtype=np.float64)
    return np.stack(
        (territory / final.geo.n, np.minimum(eliminated / final.params.victory_rings, 1.0))
    ).astype(np.float32)


def aux_targets(final: GameState, to_move: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ownership [K, H, W] int8 and score [K, 2, N] float32 for samples whose movers are the
    seats `to_move` [K] (1..N), both relative to each sample's mover."""
    n = final.num_players
    grid = board_grid(final.geo.board)
    seat = final_ownership(final).astype(np.int64)
    # Seat s seen from mover m sits in slot (s - m) mod N; label = slot + 1, 0 stays none.
    slot = (seat[None, :] - to_move[:, None]) % n + 1
    ownership = np.where(seat[None, :] > 0, slot, 0).astype(np.int8)
    scores = final_scores(final)
    seats = (np.arange(n)[None, :] + (to_move[:, None] - 1)) % n  # [K, N] seat index per slot
    relative = scores[:, seats].transpose(1, 0, 2)
    return ownership.reshape(-1, grid.height, grid.width), np.ascontiguousarray(relative)
