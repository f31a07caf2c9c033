"""Shadow checks through the controller against a fake executor and fake match results: a newly
promoted best that loses its shadow games to its predecessor is rolled back on the clock, with its
journal event, status line and metric; an equally strong best is kept and checked again on the
clock; a controller killed between the journaled rollback and `best.json` finishes it on restart."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_controller_fake import FakeExecutor, _controller
from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobState, JobStatus
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.events import Decision, DecisionRecorded
from ringrift_hpc.loop.shadow import SHADOW_ID_PREFIX
from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.loop.status import run_status, status_text
from ringrift_hpc.rating.best import promotion_history, read_best, record_decision
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.match_files import publish_match_file
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import GameRecord, MatchGroup
from ringrift_hpc.store import JournalWriter, RunLayout, release_lease, replay_journal

V = "square8_2p"
EVERY_S = 300.0
# Who wins game `turn` (0 or 1) of group `k` between two roles, from the first-named's side.
Outcome = Callable[[str, str, int, int], bool]


def _model(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _layout(tmp_path: Path) -> RunLayout:
    changes = {
        "evaluation": {
            "shadow_every_s": EVERY_S,
            "shadow_groups_per_pair": 10,
            "tournament_every_generations": 1000,  # no periodic tournament in the way
        }
    }
    return make_tiny_run(tmp_path / "run", generations=10, changes=changes)


def _promote(controller: Controller, name: str, best: str | None) -> str:
    """Promote model `name` as `_decide` does: journaled, recorded, confirmed."""
    model = _model(name)
    budget = controller.config.evaluation_simulations
    candidate = Participant(variant=V, kind="gumbel", budget=budget, model_id=model).id
    decision = PromotionDecision(
        promote=True, variant=V, candidate=candidate, best=best, reasons=(), statistics={}
    )
    controller.record(
        Decision(
            variant=V,
            candidate=candidate,
            model_id=model,
            best=best,
            promote=True,
            reasons=(),
            statistics={},
            eval_id=f"eval-{name}",
        )
    )
    record_decision(controller.layout, decision)
    controller.record(DecisionRecorded(variant=V, candidate=candidate))
    return candidate


def _shadow_specs(executor: FakeExecutor) -> list[MatchSpec]:
    return [
        spec
        for purpose, spec in executor.specs
        if purpose == "tournament" and spec.eval_id.startswith(SHADOW_ID_PREFIX)
    ]


def _play(
    controller: Controller,
    executor: FakeExecutor,
    specs: list[MatchSpec],
    roles: dict[str, str],
    wins: Outcome,
) -> None:
    """Publish each task's match file with the results `wins` dictates and end its job well."""
    for spec in specs:
        groups = []
        for k, plan in enumerate(spec.groups):
            a, b = plan.lineup
            games = tuple(
                GameRecord(
                    seats=(x.id, y.id),
                    ranks=(1, 2)
                    if wins(roles.get(x.id, x.kind), roles.get(y.id, y.kind), k, turn)
                    else (2, 1),
                    moves=40,
                    seed=turn,
                    duration_s=1.0,
                )
                for turn, (x, y) in enumerate(((a, b), (b, a)))
            )
            groups.append(MatchGroup(variant=a.variant, lineup=(a, b), opening_seed=plan.seed, games=games))
        publish_match_file(controller.layout, V, spec.eval_id, spec.task, groups)
        ref = controller.state.jobs[f"tournament/{V}/{spec.eval_id}/{spec.task}"].ref
        assert ref is not None
        executor.states[ref] = JobState(JobStatus.COMPLETED, exit_code=0)


def weakened(first: str, second: str, k: int, turn: int) -> bool:
    """The new best wins 3 of its 20 games against its predecessor; each beats random 3 times in 4."""
    if {first, second} == {"best", "previous"}:
        best_wins = k % 4 == 0 and turn == 0  # the first game of groups 0, 4 and 8
        return best_wins if first == "best" else not best_wins
    if second == "random":
        return (k + turn) % 4 != 0
    return not weakened(second, first, k, turn)


def equal(first: str, second: str, k: int, turn: int) -> bool:
    """Best and predecessor each win one game of every group; both beat random 3 times in 4."""
    if {first, second} == {"best", "previous"}:
        return turn == 0
    if second == "random":
        return (k + turn) % 4 != 0
    return not equal(second, first, k, turn)


def _start(controller: Controller) -> dict[str, str]:
    """A first tick, then `a` promoted and `b` promoted over it: participant id -> role."""
    controller.tick()
    previous = _promote(controller, "a", None)
    best = _promote(controller, "b", previous)
    return {best: "best", previous: "previous"}


def _run(tmp_path: Path) -> tuple[RunLayout, FakeExecutor, list[float], Controller, JournalWriter]:
    layout = _layout(tmp_path)
    executor = FakeExecutor()
    now = [1000.0]
    controller, journal = _controller(layout, executor, lambda: now[0])
    return layout, executor, now, controller, journal


def _records(layout: RunLayout, event: str) -> list[dict[str, Any]]:
    return [r for r in replay_journal(layout.journal).records if r.get("event") == event]


def test_a_best_that_loses_its_shadow_games_to_its_predecessor_is_rolled_back(tmp_path: Path) -> None:
    layout, executor, now, controller, journal = _run(tmp_path)
    with journal:
        roles = _start(controller)
        best, previous = sorted(roles, key=lambda p: roles[p])
        now[0] += EVERY_S - 1
        controller.tick()
        assert _shadow_specs(executor) == []  # not due yet
        now[0] += 1
        controller.tick()
        specs = _shadow_specs(executor)
        assert sorted(s.task for s in specs) == ["best-predecessor", "best-random", "predecessor-random"]
        assert run_status(layout)["variants"][V]["shadow"]["checking"] == f"{SHADOW_ID_PREFIX}000000"
        generation = controller.state.variants[V].generation
        _play(controller, executor, specs, roles, weakened)
        controller.tick()  # ingests the match files, judges, rolls back
        # `a` was the first model: nothing to check it against, so no further check comes.
        now[0] += 10 * EVERY_S
        controller.tick()
    assert len(_shadow_specs(executor)) == 3

    doc = read_best(layout, V)
    assert doc is not None and doc["participant"] == previous
    v = controller.state.variants[V]
    assert (v.best_participant, v.generation, v.auto_rollbacks) == (previous, generation + 1, 1)
    (record,) = _records(layout, "shadow_rollback")
    assert record["result"]["verdict"] == "weaker" and record["result"]["best"] == best
    assert record["to_model"] == _model("a") and record["result"]["games"] == 20
    assert "weaker by more than 30 Elo" in record["result"]["detail"]
    history = promotion_history(layout, V)
    assert history[-1]["event"] == "rollback" and history[-1]["from"] == _model("b")
    assert f"shadow check {SHADOW_ID_PREFIX}000000" in history[-1]["reason"]
    # The rollback is the state's own change: no best_changed follows it.
    assert _records(layout, "best_changed") == []
    # Replaying the journal gives the same state.
    folded = replay_state([V], replay_journal(layout.journal).records)
    assert folded.variants[V] == v

    status = run_status(layout)
    shadow = status["variants"][V]["shadow"]
    assert shadow["automatic_rollbacks"] == 1 and shadow["last"]["verdict"] == "weaker"
    text = status_text(status)
    assert (
        "  shadow check: last " in text and "weaker, rolled back" in text and "automatic rollbacks: 1" in text
    )
    prom = layout.metrics_file("controller").read_text()
    assert f'ringrift_controller_automatic_rollbacks_total{{variant="{V}"}} 1\n' in prom
    assert f'ringrift_controller_shadow_last_verdict{{variant="{V}",verdict="weaker"}} 1\n' in prom


def test_an_equally_strong_best_is_kept_and_checked_again_on_the_clock(tmp_path: Path) -> None:
    layout, executor, now, controller, journal = _run(tmp_path)
    with journal:
        roles = _start(controller)
        best = next(p for p, role in roles.items() if role == "best")
        now[0] += EVERY_S
        controller.tick()
        _play(controller, executor, _shadow_specs(executor), roles, equal)
        controller.tick()
        (checked,) = _records(layout, "shadow_checked")
        assert checked["result"]["verdict"] == "undecided" and checked["result"]["games"] == 20
        now[0] += EVERY_S
        controller.tick()  # the next check, EVERY_S after the first one started
        second = _shadow_specs(executor)[3:]
        assert {s.eval_id for s in second} == {f"{SHADOW_ID_PREFIX}000001"}
        _play(controller, executor, second, roles, equal)
        controller.tick()
    doc = read_best(layout, V)
    assert doc is not None and doc["participant"] == best
    last = _records(layout, "shadow_checked")[-1]["result"]
    assert last["verdict"] == "undecided" and last["games"] == 40  # both checks' games count
    assert _records(layout, "shadow_rollback") == [] and controller.state.variants[V].auto_rollbacks == 0
    assert "automatic rollbacks: 0" in status_text(run_status(layout))
    prom = layout.metrics_file("controller").read_text()
    assert f'ringrift_controller_automatic_rollbacks_total{{variant="{V}"}} 0\n' in prom
    assert f'ringrift_controller_shadow_checks_total{{variant="{V}"}} 2\n' in prom


def test_a_rollback_journaled_before_a_crash_is_finished_on_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, executor, now, controller, journal = _run(tmp_path)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed before best.json was written")

    with journal:
        roles = _start(controller)
        previous = next(p for p, role in roles.items() if role == "previous")
        now[0] += EVERY_S
        controller.tick()
        _play(controller, executor, _shadow_specs(executor), roles, weakened)
        monkeypatch.setattr("ringrift_hpc.loop.shadow.rollback", killed)
        with pytest.raises(KeyboardInterrupt):
            controller.tick()
        monkeypatch.undo()
    assert len(_records(layout, "shadow_rollback")) == 1
    doc = read_best(layout, V)
    assert doc is not None and doc["participant"] != previous  # journaled, not yet written
    release_lease(controller.lease.lease, clock=lambda: now[0])

    restarted, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        restarted.recover_decisions()
        restarted.tick()
    doc = read_best(layout, V)
    assert doc is not None and doc["participant"] == previous
    assert [r["event"] for r in promotion_history(layout, V)] == ["promote", "promote", "rollback"]
    assert _records(layout, "best_changed") == [] and len(_records(layout, "shadow_rollback")) == 1
    assert restarted.state.variants[V].best_participant == previous
