"""Batched Gumbel root search with max-n value vectors (Danihelka et al. 2022, "Policy improvement
by planning with Gumbel", Gumbel MuZero).

At the root, Gumbel-top-k picks `m` moves from the network prior and sequential halving spends
the budget on them; the move played is the surviving one with the highest `g + logit + σ(q̂)`.
The training target is the improved policy `softmax(logits + σ(completed Q))` over every legal
move, where unvisited moves take the mixed value approximation. Below the root the move is the
deterministic rule of the paper, `argmax(π' - N / (1 + ΣN))`.

Values are vectors in absolute seat order (the `Evaluator` contract). Every node is judged from
the seat to move AT THAT NODE (max-n); RingRift often lets one seat move several times in a
row, so nothing here assumes alternation. A tree edge is a move plus the forced single moves
that follow it (bookkeeping), so the network never sees a position with one legal move.

Many games share one `evaluator.evaluate` call per simulation step: each game descends to one
leaf, the leaves that need a network judgement are evaluated together, then each game backs
its leaf value up. The trees are mutable for speed; the public functions return frozen results.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ringrift_hpc.ai.decisive import Decisive, decisive_move
from ringrift_hpc.ai.evaluation import Evaluation, Evaluator, outcome_values
from ringrift_hpc.ai.turns import play_forced
from ringrift_hpc.rules import GameState, Move, apply_move_unchecked, is_terminal, legal_moves

# Floor of a prior before the log, so a move the network rules out keeps a finite logit.
_MIN_PRIOR = 1e-12
# Smallest spread of Q values that is rescaled to [0, 1]; below it all moves look equal.
_MIN_Q_SPREAD = 1e-8


@dataclass(frozen=True)
class SearchConfig:
    """Knobs of the search; the selfplay spec takes them from the config's `selfplay` section."""

    simulations: int = 64
    """Simulations per searched move (the budget)."""
    gumbel_actions: int = 16
    """Moves Gumbel-top-k considers at the root before sequential halving."""
    c_visit: float = 50.0
    """`c_visit` of the completed-Q transform σ."""
    c_scale: float = 1.0
    """`c_scale` of the completed-Q transform σ."""
    opening_sample_moves: int = 0
    """In the first this-many turns of a game (`GameState.turn_number`), the move is sampled from
    the improved policy instead of taken from sequential halving, for diversity."""
    decisive_moves: bool = False
    """Check for decisive moves (`ai.decisive`): a root with a move that wins within its turn
    plays it unsearched, and a considered move after which the opponent has one is a proven
    loss. Costs a one-ply scan of the root and of each considered move's position."""

    def __post_init__(self) -> None:
        for name in ("simulations", "gumbel_actions"):
            if getattr(self, name) < 1:
                raise ValueError(f"search config: {name} = {getattr(self, name)} must be at least 1")
        for name in ("c_visit", "c_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"search config: {name} = {getattr(self, name)} must be positive")
        if self.opening_sample_moves < 0:
            raise ValueError(
                f"search config: opening_sample_moves = {self.opening_sample_moves} must be 0 or more"
            )


@dataclass(frozen=True)
class SearchResult:
    """The outcome of searching one position.

    A forced position (one legal move) is not searched: `forced` is set, `policy` is one-hot,
    `visits` is zero and `root_value` is None; it is not a training target.
    """

    move: Move  # the move to play
    moves: tuple[Move, ...]  # legal_moves(state), the order of the arrays below
    policy: np.ndarray  # [len(moves)] float32: the improved policy (the training target)
    visits: np.ndarray  # [len(moves)] int64: root visit counts
    root_value: np.ndarray | None  # [num_players] float32, absolute seats: the searched value
    forced: bool = False
    sampled: bool = False  # the move was sampled from the policy (opening diversity)


@dataclass
class SearchTimings:
    """Seconds spent per part, accumulated over calls (an instrument for the bench)."""

    rules: float = 0.0  # legal_moves and apply_move_unchecked
    network: float = 0.0  # evaluator.evaluate
    total: float = 0.0  # everything in `search`
    evaluations: int = 0  # positions judged by the evaluator
    calls: int = 0  # evaluator calls

    @property
    def search(self) -> float:
        """Tree work: everything that is neither rules nor network."""
        return max(0.0, self.total - self.rules - self.network)


class Node:
    """A position in a tree, with the statistics of its moves for ITS seat to move.

    `terminal` nodes hold the outcome in `net_value` and have no moves. Per move `a`, filled in
    by `expand` and `record`: `child_visits[a]`, `child_values[a]` (sum of backed-up value
    vectors, absolute seats) and, kept in step for speed, `q[a]` (the mean value for this node's
    seat, 0 while unvisited) plus the running sums the mixed value approximation needs.
    """

    __slots__ = (
        "child_values",
        "child_visits",
        "children",
        "cursor",
        "logits",
        "max_visits",
        "moves",
        "net_value",
        "order",
        "prior_mass",
        "prior_visited",
        "priors",
        "q",
        "seat",
        "state",
        "terminal",
        "total",
        "visited",
        "weighted",
    )

    def __init__(self, state: GameState) -> None:
        self.state = state
        self.seat = state.current - 1  # index into value vectors of the seat to move here
        self.terminal = is_terminal(state)
        self.moves: list[Move] = [] if self.terminal else legal_moves(state)
        self.net_value: np.ndarray = outcome_values(state).astype(np.float64) if self.terminal else _EMPTY
        self.total = 0.0  # sum of child visits
        self.max_visits = 0.0
        self.prior_visited = 0.0  # prior mass of visited moves
        self.weighted = 0.0  # sum over visited moves of prior * q

    def expand(self, evaluation: Evaluation) -> None:
        """Take the evaluator's priors and value vector for this position."""
        n = len(self.moves)
        players = self.state.num_players
        priors = np.asarray(evaluation.priors, dtype=np.float64)
        if priors.shape != (n,):
            raise ValueError(
                f"evaluator returned {priors.shape[0] if priors.ndim == 1 else priors.shape} priors for "
                f"{self.state!r} with {n} legal moves; priors must follow legal_moves(state)"
            )
        values = np.asarray(evaluation.values, dtype=np.float64)
        if values.shape != (players,):
            raise ValueError(
                f"evaluator returned values of shape {values.shape} for a {players}-player "
                "position; give one value per seat in absolute seat order"
            )
        self.priors = priors
        self.logits = np.log(np.maximum(priors, _MIN_PRIOR))
        self.net_value = values
        self.children: list[Node | None] = [None] * n
        # One allocation for all per-move statistics: [visits, q, value sums per seat].
        table = np.zeros((n, players + 2))
        self.child_visits = table[:, 0]
        self.q = table[:, 1]
        self.child_values = table[:, 2:]
        self.visited: list[int] = []  # moves with a visit, in the order of their first visit
        self.order: list[int] | None = None  # moves by descending prior, built on first use
        self.cursor = 0  # position in `order` before which every move has been visited
        self.prior_mass = 0.0  # sum of the floored priors, exp(logits)

    def record(self, action: int, value: np.ndarray) -> None:
        """Back up one value vector through move `action`."""
        visits = float(self.child_visits[action]) + 1.0
        self.child_visits[action] = visits
        row = self.child_values[action]
        row += value
        q = float(row[self.seat]) / visits
        prior = float(self.priors[action])
        if visits == 1.0:
            self.prior_visited += prior
            self.weighted += prior * q
            self.visited.append(action)
        else:
            self.weighted += prior * (q - float(self.q[action]))
        self.q[action] = q
        self.total += 1.0
        self.max_visits = max(self.max_visits, visits)

    def mixed_value(self) -> float:
        """The mixed value approximation: the network value blended with the visited moves' Q
        weighted by their priors (Danihelka et al. 2022, appendix D)."""
        v = float(self.net_value[self.seat])
        if self.total == 0:
            return v
        return (v + self.total * self.weighted / max(self.prior_visited, _MIN_PRIOR)) / (1.0 + self.total)

    def best_unvisited(self) -> int:
        """The unvisited move with the highest prior (the lowest index among equals); -1 if none."""
        order = self.order
        if order is None:
            order = self.order = np.argsort(-self.logits, kind="stable").tolist()
            self.prior_mass = float(np.exp(self.logits).sum())
        visits = self.child_visits
        cursor = self.cursor
        while cursor < len(order) and visits[order[cursor]] > 0:
            cursor += 1
        self.cursor = cursor
        return order[cursor] if cursor < len(order) else -1

    def value(self) -> np.ndarray:
        """Mean of the network value and every backed-up value vector (absolute seats)."""
        out: np.ndarray = (self.net_value + self.child_values.sum(axis=0)) / (1.0 + self.total)
        return out


_EMPTY = np.zeros(0)


def completed_q(node: Node) -> np.ndarray:
    """Q of every move for the seat to move at `node`; unvisited moves get the mixed value."""
    out: np.ndarray = np.where(node.child_visits > 0, node.q, node.mixed_value())
    return out


def sigma_scale(max_visits: float, config: SearchConfig, lo: float, hi: float) -> float:
    """The slope of σ(q̂) = (c_visit + max N) * c_scale * (q - lo) / (hi - lo), the paper's monotone
    transform of Q rescaled from [lo, hi] to [0, 1]; 0 when every Q is the same."""
    if hi - lo <= _MIN_Q_SPREAD:
        return 0.0
    return (config.c_visit + max_visits) * config.c_scale / (hi - lo)


def improved_policy(node: Node, config: SearchConfig) -> np.ndarray:
    """softmax(logits + σ(completed Q)) over the node's legal moves."""
    q = completed_q(node)
    scale = sigma_scale(node.max_visits, config, float(q.min()), float(q.max()))
    # σ's offset (-lo) is the same for every move, so the softmax does not need it.
    z = node.logits + scale * q if scale else node.logits
    e: np.ndarray = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


def select_nonroot(node: Node, config: SearchConfig) -> int:
    """The deterministic interior choice: argmax of π'(a) - N(a) / (1 + ΣN), π' = `improved_policy`.

    Computed over the visited moves and one unvisited move: every unvisited move has N = 0 and
    the same completed Q (the mixed value), so among them the highest prior scores best, and
    their share of the softmax is their prior mass times one factor.
    """
    visited = node.visited
    fresh = node.best_unvisited()
    q_of, n_of, logits = node.q, node.child_visits, node.logits
    qs = [float(q_of[a]) for a in visited]
    mixed = node.mixed_value()
    bounds = [*qs, mixed] if fresh >= 0 else qs
    lo, hi = min(bounds), max(bounds)
    scale = sigma_scale(node.max_visits, config, lo, hi)
    # Softmax weights relative to exp(scale * hi), so no exponent is positive.
    weights = [math.exp(float(logits[a]) + scale * (q - hi)) for a, q in zip(visited, qs)]
    norm = sum(weights)
    # Only with an unvisited move is the mixed value among the bounds (so mixed <= hi here).
    fresh_factor = math.exp(scale * (mixed - hi)) if fresh >= 0 else 0.0
    if fresh >= 0:
        norm += max(0.0, node.prior_mass - sum(math.exp(float(logits[a])) for a in visited)) * fresh_factor
    denominator = 1.0 + node.total
    best, best_score = -1, -math.inf
    for a, w in zip(visited, weights):
        score = w / norm - float(n_of[a]) / denominator
        if score > best_score or (score == best_score and a < best):
            best, best_score = a, score
    if fresh >= 0:
        score = math.exp(float(logits[fresh])) * fresh_factor / norm
        if score > best_score or (score == best_score and fresh < best):
            best = fresh
    return best


def halving_schedule(considered: int, simulations: int) -> list[int]:
    """For each simulation, the visit count a root move must have to be chosen by it.

    Sequential halving: ceil(log2 m) phases share the budget; each phase visits each surviving
    move equally often, then keeps the better half (never fewer than two).
    """
    if considered <= 1:
        return list(range(simulations))
    phases = math.ceil(math.log2(considered))
    schedule: list[int] = []
    counts = [0] * considered
    alive = considered
    while len(schedule) < simulations:
        rounds = max(1, simulations // (phases * alive))
        for _ in range(rounds):
            for i in range(alive):
                schedule.append(counts[i])
                counts[i] += 1
        alive = max(2, alive // 2)
    return schedule[:simulations]


_Path = list[tuple[Node, int]]  # (node, move index) from the root down


@dataclass
class _Game:
    """One root being searched: its tree, the root's Gumbel draw, and the considered moves'
    visits and Q as plain floats (m is small; numpy costs more), kept in step by `sync`."""

    root: Node
    rng: np.random.Generator
    considered: list[int]  # indices of the Gumbel-top-k moves
    slot: dict[int, int]  # move index -> position in `considered`
    base: list[float]  # gumbel + logit of each considered move
    schedule: list[int]
    visits: list[float]
    q: list[float]

    def sync(self, action: int) -> None:
        """Copy the root's statistics of `action` after a backup through it."""
        i = self.slot[action]
        self.visits[i] = float(self.root.child_visits[action])
        self.q[i] = float(self.root.q[action])


def _best_root(game: _Game, config: SearchConfig, wanted: float | None) -> int:
    """The considered move with the best root score g + logit + σ(q̂) among those with `wanted`
    visits (None: the most visited); the first such move on equal scores.

    Only considered moves are ever visited, so the others all hold the mixed value, which
    enters only the rescaling bounds.
    """
    visits = game.visits
    if wanted is None or wanted not in visits:
        wanted = max(visits) if wanted is None else min(visits)
    root = game.root
    mixed = root.mixed_value()
    cq = [q if v > 0 else mixed for q, v in zip(game.q, visits)]
    lo, hi = min(cq), max(cq)
    if len(cq) < len(root.moves):
        lo, hi = min(lo, mixed), max(hi, mixed)
    scale = sigma_scale(root.max_visits, config, lo, hi)
    best, best_score = 0, -math.inf
    for i, (b, v, q) in enumerate(zip(game.base, visits, cq)):
        if v == wanted:
            score = b + scale * (q - lo)
            if score > best_score:
                best, best_score = i, score
    return game.considered[best]


def _select_root(game: _Game, step: int, config: SearchConfig) -> int:
    return _best_root(game, config, float(game.schedule[step]))


def _child(node: Node, action: int, timings: SearchTimings, *, proven: bool = False) -> Node:
    """The child through `action`, made on first use; with `proven`, a position where the seat
    to move has a decisive move becomes the terminal position of that move's line."""
    child = node.children[action]
    if child is None:
        t0 = time.perf_counter()
        state = play_forced(apply_move_unchecked(node.state, node.moves[action]))
        found = decisive_move(state) if proven else None
        child = Node(state if found is None else found.final)
        timings.rules += time.perf_counter() - t0
        node.children[action] = child
    return child


def _backup(game: _Game, path: _Path, value: np.ndarray) -> None:
    for node, action in path:
        node.record(action, value)
    game.sync(path[0][1])


def _descend(game: _Game, step: int, config: SearchConfig, timings: SearchTimings) -> tuple[_Path, Node]:
    """Walk to a leaf: a terminal node or one just created (not yet judged)."""
    node = game.root
    path: _Path = []
    action = _select_root(game, step, config)
    while True:
        path.append((node, action))
        fresh = node.children[action] is None
        node = _child(node, action, timings, proven=config.decisive_moves and len(path) == 1)
        if node.terminal or fresh:
            return path, node
        action = select_nonroot(node, config)


def _evaluate(evaluator: Evaluator, nodes: list[Node], timings: SearchTimings) -> None:
    if not nodes:
        return
    t0 = time.perf_counter()
    evaluations = evaluator.evaluate([n.state for n in nodes])
    timings.network += time.perf_counter() - t0
    timings.calls += 1
    timings.evaluations += len(nodes)
    if len(evaluations) != len(nodes):
        raise ValueError(f"evaluator returned {len(evaluations)} evaluations for {len(nodes)} positions")
    for node, evaluation in zip(nodes, evaluations):
        node.expand(evaluation)


def _start(root: Node, rng: np.random.Generator, config: SearchConfig) -> _Game:
    gumbel = rng.gumbel(size=len(root.moves))
    m = min(config.gumbel_actions, len(root.moves))
    keys = gumbel + root.logits
    considered = [int(k) for k in np.argsort(-keys, kind="stable")[:m]]
    base = [float(keys[k]) for k in considered]
    return _Game(
        root,
        rng,
        considered,
        {k: i for i, k in enumerate(considered)},
        base,
        halving_schedule(m, config.simulations),
        [0.0] * m,
        [0.0] * m,
    )


def _proven_loss(node: Node | None, seat: int) -> bool:
    return node is not None and node.terminal and float(node.net_value[seat]) <= -1.0


def _escape(root: Node, considered: list[int]) -> int | None:
    """When every considered move is a proven loss: the unconsidered move of highest prior after
    which the opponent has no decisive move, if any (the prior's top-k missed it)."""
    if not all(_proven_loss(root.children[a], root.seat) for a in considered):
        return None
    tried = set(considered)
    for action in np.argsort(-root.logits, kind="stable").tolist():
        if action in tried:
            continue
        state = play_forced(apply_move_unchecked(root.state, root.moves[action]))
        if is_terminal(state):
            if float(outcome_values(state)[root.seat]) > -1.0:
                return int(action)
            continue
        if state.current - 1 == root.seat or decisive_move(state) is None:
            return int(action)
    return None


def _result(game: _Game, config: SearchConfig) -> SearchResult:
    root = game.root
    policy = improved_policy(root, config)
    sampled = root.state.turn_number <= config.opening_sample_moves
    escape = _escape(root, game.considered) if config.decisive_moves else None
    if escape is not None:
        action = escape
    elif sampled:
        action = int(game.rng.choice(len(policy), p=policy))
    else:
        action = _best_root(game, config, None)
    return SearchResult(
        move=root.moves[action],
        moves=tuple(root.moves),
        policy=policy.astype(np.float32),
        visits=root.child_visits.astype(np.int64),
        root_value=root.value().astype(np.float32),
        sampled=sampled,
    )


def _decisive_result(moves: list[Move], found: Decisive) -> SearchResult:
    policy = np.zeros(len(moves), dtype=np.float32)
    policy[found.move_index] = 1.0
    return SearchResult(
        move=moves[found.move_index],
        moves=tuple(moves),
        policy=policy,
        visits=np.zeros(len(moves), dtype=np.int64),
        root_value=outcome_values(found.final).astype(np.float32),
    )


def _forced_result(move: Move) -> SearchResult:
    return SearchResult(
        move=move,
        moves=(move,),
        policy=np.ones(1, dtype=np.float32),
        visits=np.zeros(1, dtype=np.int64),
        root_value=None,
        forced=True,
    )


def search(
    states: Sequence[GameState],
    evaluator: Evaluator,
    config: SearchConfig,
    rngs: Sequence[np.random.Generator],
    *,
    timings: SearchTimings | None = None,
) -> list[SearchResult]:
    """Search every position together: one evaluator call for the roots, then at most one per
    simulation step (none when every leaf of the step is terminal).

    Game i draws its Gumbel noise (and opening samples) from `rngs[i]` only, so a game's result
    does not depend on which other games share the batch.
    """
    if len(rngs) != len(states):
        raise ValueError(
            f"search: {len(states)} states but {len(rngs)} random generators; give one per state"
        )
    timings = timings if timings is not None else SearchTimings()
    with _collector_paused():
        return _search(states, evaluator, config, rngs, timings)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if it runs) for the duration of a search.

    The trees are acyclic (reference counting frees them), but each collection pass walks every
    live object, and many games' growing trees made those passes about 10-15% of the CPU time
    of a 64-game search step. Cycles made meanwhile are collected after the search.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _search(
    states: Sequence[GameState],
    evaluator: Evaluator,
    config: SearchConfig,
    rngs: Sequence[np.random.Generator],
    timings: SearchTimings,
) -> list[SearchResult]:
    t_start = time.perf_counter()
    results: list[SearchResult | None] = [None] * len(states)
    roots: list[tuple[int, Node]] = []
    t0 = time.perf_counter()
    for i, state in enumerate(states):
        if is_terminal(state):
            raise ValueError(f"search: state {i} ({state!r}) is finished; there is nothing to choose")
        moves = legal_moves(state)
        found = decisive_move(state) if config.decisive_moves and len(moves) > 1 else None
        if len(moves) == 1:
            results[i] = _forced_result(moves[0])
        elif found is not None:
            results[i] = _decisive_result(moves, found)
        else:
            roots.append((i, Node(state)))
    timings.rules += time.perf_counter() - t0
    _evaluate(evaluator, [node for _, node in roots], timings)
    games = [(i, _start(node, rngs[i], config)) for i, node in roots]
    for step in range(config.simulations if games else 0):
        pending: list[tuple[_Game, _Path, Node]] = []
        for _, game in games:
            path, leaf = _descend(game, step, config, timings)
            if leaf.terminal:
                _backup(game, path, leaf.net_value)
            else:
                pending.append((game, path, leaf))
        _evaluate(evaluator, [leaf for _, _, leaf in pending], timings)
        for game, path, leaf in pending:
            _backup(game, path, leaf.net_value)
    for i, game in games:
        results[i] = _result(game, config)
    timings.total += time.perf_counter() - t_start
    return [r for r in results if r is not None]
