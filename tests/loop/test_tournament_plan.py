"""The tournament planning the controller and `ringrift-hpc tournament` share: entrants and specs."""

from __future__ import annotations

from typing import Any

from ringrift_hpc.config import Config
from ringrift_hpc.config.gating import AnchorGate
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.loop.policies import tournament_tasks
from ringrift_hpc.loop.tournament_plan import entrants, recent_bests, tournament_specs
from ringrift_hpc.rating.participants import Participant, parse_participant_id

V = "square8_2p"
A, B, C = (f"gumbel@8#{c * 64}" for c in "abc")


def installed(event: str, participant: str) -> dict[str, Any]:
    return {"event": event, "best_document": {"participant": participant}}


# A promoted, B promoted, a rejection, rolled back to A, C promoted: newest first C, A, B.
HISTORY = (
    installed("promote", A),
    installed("promote", B),
    {"event": "reject", "candidate": "x"},
    installed("rollback", A),
    installed("promote", C),
)


def config(anchors: tuple[str, ...] = ("random", "heuristic"), recent: int = 2) -> Config:
    base = Config()
    return base.model_copy(
        update={
            "evaluation": base.evaluation.model_copy(
                update={"tournament_recent_bests": recent, "tournament_groups_per_pair": 3}
            ),
            "promotion": base.promotion.model_copy(
                update={"anchors": tuple(AnchorGate.model_validate({"player": p}) for p in anchors)}
            ),
        }
    )


def ids(people: tuple[Participant, ...] | list[Participant]) -> list[str]:
    return [p.id for p in people]


def test_recent_bests_are_the_latest_distinct_installed_bests() -> None:
    assert ids(recent_bests(HISTORY, V, 2)) == [C, A]
    assert ids(recent_bests(HISTORY, V, 5)) == [C, A, B]
    assert recent_bests(HISTORY, V, 0) == [] and recent_bests((), V, 3) == []


def test_entrants_are_chosen_recent_bests_and_the_configured_anchors_once_each() -> None:
    chosen = [parse_participant_id(V, "policy#" + "d" * 64), parse_participant_id(V, C)]
    people = entrants(config(), V, HISTORY, chosen=chosen)
    assert people == tuple(sorted(people))
    assert sorted(ids(people)) == sorted([A, C, "policy#" + "d" * 64, "random", "heuristic"])
    only_random = entrants(config(anchors=("random",)), V, HISTORY, recent=3)
    assert sorted(ids(only_random)) == sorted([A, B, C, "random"])
    assert ids(entrants(config(anchors=()), V, HISTORY, recent=0)) == []


def test_tournament_specs_are_the_round_robin_of_the_entrants_with_the_run_settings() -> None:
    cfg = config()
    specs = tournament_specs(cfg, HISTORY, run_root="/run", variant=V, eval_id="tournament-0004", seed=7)
    rounds = tournament_tasks(entrants(cfg, V, HISTORY), 3, seed=7)
    assert list(specs) == list(rounds) and len(specs) == 6  # 4 entrants: A, C, random, heuristic
    for task, spec in specs.items():
        assert spec == MatchSpec.from_config(
            cfg, run_root="/run", variant=V, eval_id="tournament-0004", task=task, groups=rounds[task]
        )
        assert spec.task == task and spec.groups == rounds[task] and spec.eval_id == "tournament-0004"
        assert spec.concurrent_games == cfg.evaluation.concurrent_games
        assert spec.device == cfg.evaluation.device
        assert spec.opening_moves == cfg.selfplay.opening_sample_moves


def test_no_tournament_without_two_entrants() -> None:
    lone = (installed("promote", A),)
    assert tournament_specs(config(anchors=()), lone, run_root="/r", variant=V, eval_id="t", seed=0) == {}
