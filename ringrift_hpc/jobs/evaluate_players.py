"""The player behind each rating participant, networks loaded and checked against their ids.

Kinds: `random` and `heuristic` (no network, no budget), `policy` (the network's prior, no
budget) and `gumbel` (the network searched at the participant's budget). A participant whose
kind, budget and model do not fit together is refused before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ringrift_hpc.ai.checkpoint import (
    CheckpointHeader,
    load_checkpoint,
    read_header,
)
from ringrift_hpc.ai.net_evaluator import NetEvaluator
from ringrift_hpc.ai.players import (
    HeuristicPlayer,
    Player,
    PolicyPlayer,
    RandomPlayer,
    SearchPlayer,
)
from ringrift_hpc.ai.search import SearchConfig
from ringrift_hpc.rating.participants import Participant

PLAYER_KINDS = ("random", "heuristic", "policy", "gumbel")
_WITHOUT_NETWORK = ("random", "heuristic")


class ParticipantKindError(ValueError):
    """A participant this code cannot play (unknown kind, budget or model that does not fit)."""


@dataclass(frozen=True)
class SearchKnobs:
    """The search settings besides the budget, shared by every searching participant of a match."""

    gumbel_actions: int = 16
    c_visit: float = 50.0
    c_scale: float = 1.0
    decisive_moves: bool = False

    def config(self, simulations: int) -> SearchConfig:
        return SearchConfig(
            simulations=simulations,
            gumbel_actions=self.gumbel_actions,
            c_visit=self.c_visit,
            c_scale=self.c_scale,
            opening_sample_moves=0,
            decisive_moves=self.decisive_moves,
        )


def check_playable(participant: Participant) -> None:
    """Refuse a participant whose kind, budget and model do not fit together."""
    kind = participant.kind
    if kind not in PLAYER_KINDS:
        raise ParticipantKindError(
            f"participant {participant}: kind {kind!r} cannot be played; use one of {', '.join(PLAYER_KINDS)}"
        )
    if kind in _WITHOUT_NETWORK and (participant.model_id is not None or participant.budget):
        raise ParticipantKindError(
            f"participant {participant}: a {kind} player has neither model nor budget; write just {kind!r}"
        )
    if kind not in _WITHOUT_NETWORK and participant.model_id is None:
        raise ParticipantKindError(f"participant {participant}: a {kind} player needs a model (#<sha256>)")
    if kind == "policy" and participant.budget:
        raise ParticipantKindError(
            f"participant {participant}: the policy player does not search; drop the @{participant.budget}"
        )
    if kind == "gumbel" and not participant.budget:
        raise ParticipantKindError(
            f"participant {participant}: a gumbel player needs a budget, e.g. gumbel@64#<sha256>"
        )


def load_evaluator(path: Path, board: str, players: int, *, device: str, max_batch: int) -> NetEvaluator:
    """A network evaluator for `path`, refused unless it was made for this variant and code version."""
    expected = CheckpointHeader.current(board, players, read_header(path).net_config)
    return NetEvaluator(load_checkpoint(path, expected), device=device, max_batch=max_batch)


def build_players(
    participants: Sequence[Participant],
    board: str,
    players: int,
    *,
    model_file: Callable[[str], Path],
    knobs: SearchKnobs,
    device: str,
    max_batch: int,
) -> dict[str, Player]:
    """One player per participant id; each network is loaded once, however many participants share it."""
    for participant in participants:
        check_playable(participant)
    evaluators: dict[str, NetEvaluator] = {}
    out: dict[str, Player] = {}
    for participant in participants:
        if participant.kind == "random":
            out[participant.id] = RandomPlayer()
            continue
        if participant.kind == "heuristic":
            out[participant.id] = HeuristicPlayer()
            continue
        model = participant.model_id
        assert model is not None  # check_playable: network kinds have a model
        if model not in evaluators:
            evaluators[model] = load_evaluator(
                model_file(model), board, players, device=device, max_batch=max_batch
            )
        if participant.kind == "policy":
            out[participant.id] = PolicyPlayer(evaluators[model], model_id=model)
        else:
            out[participant.id] = SearchPlayer(
                evaluators[model], knobs.config(participant.budget), model_id=model
            )
    return out
