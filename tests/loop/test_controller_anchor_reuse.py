"""The anchor gate through the controller: a best that played its anchor games (as a candidate,
or in an earlier evaluation) is measured by them again instead of replaying them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from test_controller_fake import FakeExecutor, _controller
from test_controller_shadow import V, _model, _promote
from tiny_run import make_tiny_run

from ringrift_hpc.rating.match_files import publish_match_file
from ringrift_hpc.rating.participants import Participant, parse_participant_id
from ringrift_hpc.rating.records import GameRecord, MatchGroup


def test_a_best_that_played_its_anchor_gate_does_not_replay_it(tmp_path: Path) -> None:
    """Batch 0 plays the anchor gate for the best only where the run holds too few of its games."""
    layout = make_tiny_run(tmp_path / "run", changes={"evaluation": {"tournament_every_generations": 1000}})
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        best = _promote(controller, "first", None)
        v = controller.state.variants[V]
        candidate = replace(v, phase="evaluate", candidate=_model("second"), eval_id="eval-second")
        controller._submit_evaluation(candidate, 0)
        first_tasks = {spec.task for purpose, spec in executor.specs if purpose == "evaluate"}
        assert "anchor-random-best-000" in first_tasks  # no game of the best yet: played
        earlier = [
            MatchGroup(
                variant=lineup[0].variant,
                lineup=lineup,
                opening_seed=k,
                games=tuple(
                    GameRecord(seats=seats, ranks=(1, 2), moves=40, seed=turn, duration_s=1.0)
                    for turn, seats in enumerate(((lineup[0].id, lineup[1].id), (lineup[1].id, lineup[0].id)))
                ),
            )
            for k in range(2)
            for lineup in [(parse_participant_id(V, best), Participant(variant=V, kind="random"))]
        ]
        publish_match_file(layout, V, "eval-first", "anchor-random-candidate-000", earlier)
        controller.tick()
        executor.specs.clear()
        controller._submit_evaluation(replace(candidate, eval_id="eval-third"), 0)
    tasks = {spec.task for purpose, spec in executor.specs if purpose == "evaluate"}
    assert tasks == {t for t in first_tasks if "-best-" not in t}
