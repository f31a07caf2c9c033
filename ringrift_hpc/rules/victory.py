"""Victory conditions, last-player-standing tracking and the final ranking (rules.md 13)."""

from __future__ import annotations

from ringrift_hpc.rules.placement import any_stack_can_act, has_placement
from ringrift_hpc.rules.state import COMPLETED, GAME_OVER, GameState, rings_anywhere

RING_ELIMINATION = "ring_elimination"
TERRITORY_CONTROL = "territory_control"
LAST_PLAYER_STANDING = "last_player_standing"
STALEMATE = "stalemate"
RESIGNATION = "resignation"
TIMEOUT = "timeout"


def territory_count(s: GameState, player: int) -> int:
    """Collapsed cells owned, counted on the board (the engines do not trust the counter)."""
    return s.collapsed[player].bit_count()


def real_action(s: GameState, player: int) -> bool:
    """A legal placement, move or capture, ignoring must-move (rules.md 13.4)."""
    if s.hand[player] > 0 and has_placement(s, player):
        return True
    return any_stack_can_act(s, player)


def finish(s: GameState, winner: int, reason: str) -> None:
    s.status = COMPLETED
    s.phase = GAME_OVER
    s.winner = winner
    s.victory_reason = reason
    s.must_move = -1
    s.chain_pos = -1
    s.pending_line = False
    s.pending_region = False


def check_victory(s: GameState) -> bool:
    """End the game if a victory condition holds (order of rules.md 13.6); True if it ended."""
    n = s.num_players
    seats = range(1, n + 1)
    mover = s.current
    order = [mover] + [p for p in seats if p != mover]
    for p in order:
        if s.eliminated[p] >= s.params.victory_rings:
            finish(s, p, RING_ELIMINATION)
            return True
    counts = [0] + [territory_count(s, p) for p in seats]
    total = sum(counts)
    for p in order:
        if counts[p] >= s.params.territory_minimum and counts[p] > total - counts[p]:
            finish(s, p, TERRITORY_CONTROL)
            return True
    all_stacks = s.control[0]
    if all_stacks:
        owners = [p for p in seats if s.control[p]]
        if len(owners) == 1:
            q = owners[0]
            if all(rings_anywhere(s, p) == 0 for p in seats if p != q):
                finish(s, q, LAST_PLAYER_STANDING)
                return True
        return False
    holders = [p for p in seats if s.hand[p] > 0]
    if not holders or not any(has_placement(s, p) for p in holders):
        finish(s, stalemate_winner(s), STALEMATE)
        return True
    return False


def stalemate_winner(s: GameState) -> int:
    """Bare-board ladder: territory, eliminations + hand, markers, then the last mover among
    the tied leaders, then the lowest seat (D16: PY's reading)."""
    seats = range(1, s.num_players + 1)

    def key(p: int) -> tuple[int, int, int]:
        return (territory_count(s, p), s.eliminated[p] + s.hand[p], s.markers[p].bit_count())

    best = max(key(p) for p in seats)
    leaders = [p for p in seats if key(p) == best]
    if s.last_mover in leaders:
        return s.last_mover
    return leaders[0]


def lps_turn_start(s: GameState) -> bool:
    """Round-based last-player-standing bookkeeping at the start of s.current's turn.

    Follows the code's algorithm (rules.md 13.4, D15): availability, not actions taken.
    Returns True if the game ended.
    """
    seats = range(1, s.num_players + 1)
    active = [p for p in seats if rings_anywhere(s, p) > 0]
    cur = s.current
    if cur not in active:
        return False
    mask = list(s.lps_mask)
    if s.lps_first == 0 or s.lps_first not in active:
        s.lps_first = cur
        mask = [-1] * len(mask)
        if s.lps_player not in active:
            s.lps_count = 0
            s.lps_player = 0
    elif cur == s.lps_first and any(v != -1 for v in mask):
        acting = [p for p in active if mask[p] == 1]
        if len(acting) == 1:
            if acting[0] == s.lps_player:
                s.lps_count += 1
            else:
                s.lps_player = acting[0]
                s.lps_count = 1
        else:
            s.lps_count = 0
            s.lps_player = 0
        mask = [-1] * len(mask)
    has_real = real_action(s, cur)
    mask[cur] = 1 if has_real else 0
    s.lps_mask = tuple(mask)
    if (
        s.lps_count >= s.params.lps_rounds
        and cur == s.lps_player
        and has_real
        and not any(real_action(s, p) for p in active if p != cur)
    ):
        finish(s, cur, LAST_PLAYER_STANDING)
        return True
    return False


def ranking(s: GameState) -> tuple[int, ...]:
    """Rank of every seat (index 0 = seat 1), 1 = best; full ties share a rank (1-2-2-4).

    Winner first; the others by territory, credited eliminations (plus rings in hand after a
    stalemate, the hand conversion), own markers, then later loss of the last ring (never
    beats any turn). A seat that resigned or timed out ranks last. On an unfinished game this
    is the current standing by the same keys.
    """
    seats = range(1, s.num_players + 1)
    hand_counts = s.victory_reason == STALEMATE
    quitter = s.last_mover if s.victory_reason in (RESIGNATION, TIMEOUT) else 0
    never = 1 << 30

    def key(p: int) -> tuple[bool, bool, int, int, int, int]:
        return (
            p == s.winner,
            p != quitter,
            territory_count(s, p),
            s.eliminated[p] + (s.hand[p] if hand_counts else 0),
            s.markers[p].bit_count(),
            s.out_turn[p] or never,
        )

    keys = {p: key(p) for p in seats}
    return tuple(1 + sum(1 for q in seats if keys[q] > keys[p]) for p in seats)
