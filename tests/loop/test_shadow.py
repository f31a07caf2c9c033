"""Shadow checks' pure logic: when one is due, what it plays, what its games say (weaker, cleared,
undecided, superseded, failed), and the rollback it writes, finished after a crash at any point."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError
from tiny_run import make_tiny_run

from ringrift_hpc.config import Config, EvaluationSection
from ringrift_hpc.loop import shadow
from ringrift_hpc.loop.events import ShadowResult
from ringrift_hpc.loop.state import VariantState
from ringrift_hpc.metrics import render_textfile
from ringrift_hpc.rating.best import promotion_history, read_best, record_decision, rollback
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.participants import parse_participant_id
from ringrift_hpc.rating.records import GameRecord, MatchGroup
from ringrift_hpc.store import RunLayout

V = "square8_2p"
A, B, C = (f"gumbel@8#{c * 64}" for c in "abc")
RANDOM = "random"
SECTION = Config().evaluation  # margin 30 Elo, 95% one-sided
CHECK = {"eval_id": shadow.eval_id(0), "best": B, "against": A}


def group(first: str, second: str, first_wins: int, seed: int = 0) -> MatchGroup:
    """One 2-player group, each seating once; `first` wins `first_wins` of its two games."""
    a, b = parse_participant_id(V, first), parse_participant_id(V, second)
    games = tuple(
        GameRecord(
            seats=seats,
            ranks=(1, 2) if (seats[0] == first) == (turn < first_wins) else (2, 1),
            moves=50,
            seed=turn,
            duration_s=1.0,
        )
        for turn, seats in enumerate(((first, second), (second, first)))
    )
    return MatchGroup(variant=a.variant, lineup=(a, b), opening_seed=seed, games=games)


def games(first: str, second: str, wins: int, total: int) -> list[MatchGroup]:
    """`total` games (an even number) of which `first` wins `wins`, spread over groups."""
    out = []
    for k in range(total // 2):
        won = min(2, max(0, wins - 2 * k))
        out.append(group(first, second, won, seed=k))
    return out


def anchors(best: str, against: str, total: int = 20) -> list[MatchGroup]:
    """Both beat the random anchor three games in four."""
    return games(best, RANDOM, total * 3 // 4, total) + games(against, RANDOM, total * 3 // 4, total)


def judge(groups: Sequence[MatchGroup], best_now: str | None = B, failure: str | None = None) -> ShadowResult:
    return shadow.judge(V, CHECK, best_now, groups, [RANDOM], SECTION, failure=failure)


def state(**fields: object) -> VariantState:
    base: dict[str, object] = {
        "best_participant": B,
        "best_model": "b" * 64,
        "shadow_against": A,
        "shadow_clock": 1000.0,
    }
    return VariantState(V, **{**base, **fields})  # type: ignore[arg-type]


def test_a_check_is_due_every_shadow_every_s_while_there_is_a_predecessor_and_none_runs() -> None:
    assert not shadow.due(state(), 1299.0, 300.0)
    assert shadow.due(state(), 1300.0, 300.0)
    assert shadow.next_due(state(), 300.0) == 1300.0
    assert not shadow.due(state(), 10**9, None)  # turned off
    assert not shadow.due(state(shadow_against=None), 10**9, 300.0)  # first model, or cleared
    running = {"eval_id": shadow.eval_id(0), "best": B, "against": A}
    assert not shadow.due(state(shadow_check=running), 10**9, 300.0)
    assert shadow.next_due(state(shadow_check=running), 300.0) is None


def test_the_predecessor_is_the_best_a_participant_replaced_when_it_was_last_promoted() -> None:
    history = [
        {"event": "promote", "candidate": A, "best": None},
        {"event": "promote", "candidate": B, "best": A},
        {"event": "reject", "candidate": C, "best": B},
        {"event": "rollback", "from": "b" * 64, "to": "a" * 64},
        {"event": "promote", "candidate": C, "best": A},
    ]
    assert shadow.predecessor(history, B) == A
    assert shadow.predecessor(history, C) == A
    assert shadow.predecessor(history, A) is None
    assert shadow.predecessor([], A) is None


def test_a_check_plays_best_and_predecessor_against_each_other_and_each_anchor_from_fresh_openings() -> None:
    config = Config()
    best, against = parse_participant_id(V, B), parse_participant_id(V, A)
    specs = shadow.shadow_specs(config, run_root="/run", variant=V, best=best, against=against, number=3)
    assert sorted(specs) == [
        "best-heuristic",
        "best-predecessor",
        "best-random",
        "predecessor-heuristic",
        "predecessor-random",
    ]
    assert {s.eval_id for s in specs.values()} == {"tournament-shadow-000003"}
    pair = specs["best-predecessor"].groups
    assert len(pair) == config.evaluation.shadow_groups_per_pair
    assert {p.id for g in pair for p in g.lineup} == {A, B}
    assert [g.lineup[0].id for g in pair[:2]] == [B, A]  # seats alternate from group to group
    assert {p.id for g in specs["predecessor-random"].groups for p in g.lineup} == {A, RANDOM}
    again = shadow.shadow_specs(config, run_root="/run", variant=V, best=best, against=against, number=4)
    assert not {g.seed for g in pair} & {g.seed for g in again["best-predecessor"].groups}
    assert shadow.is_shadow_task("tournament/square8_2p/tournament-shadow-000003/best-random")
    assert not shadow.is_shadow_task("tournament/square8_2p/tournament-0004/pair-000-001")
    assert not shadow.is_shadow_task("selfplay/square8_2p/000000/000003")


def test_a_best_that_loses_most_games_to_its_predecessor_is_weaker() -> None:
    result = judge(games(B, A, 3, 20) + anchors(B, A))
    assert result.verdict == "weaker"
    assert result.games == 20
    assert result.difference_elo is not None and result.upper_elo is not None
    assert result.difference_elo < result.upper_elo < -SECTION.shadow_rollback_margin_elo
    assert "weaker by more than 30 Elo" in result.detail and "over 20 games" in result.detail


def test_an_equal_best_is_never_rolled_back_and_is_cleared_once_the_games_are_enough() -> None:
    played: list[MatchGroup] = []
    verdicts = []
    for check in range(40):  # the evidence of one check after another accumulates
        played += games(B, A, 10, 20)
        verdicts.append(judge(played).verdict)
    assert "weaker" not in verdicts
    assert verdicts[0] == "undecided" and verdicts[-1] == "cleared"
    cleared = judge(played)
    assert cleared.lower_elo is not None and cleared.lower_elo > -SECTION.shadow_rollback_margin_elo


def test_a_slightly_weaker_best_within_the_margin_is_not_rolled_back() -> None:
    # 45% against the predecessor is about -35 Elo, but with 100 games nobody can be sure of -30.
    assert judge(games(B, A, 45, 100)).verdict == "undecided"


def test_only_games_of_the_best_its_predecessor_and_the_anchors_count() -> None:
    other = [*games(B, C, 0, 40), *games(C, A, 40, 40)]  # would make B look weak through C
    assert judge(games(B, A, 10, 20) + other).verdict == "undecided"
    assert judge(games(B, A, 10, 20) + other).games == 20


def test_a_check_without_its_games_or_of_a_replaced_best_is_not_judged() -> None:
    failed = judge(games(B, A, 0, 20), failure="match task x gave up")
    assert (failed.verdict, failed.detail, failed.difference_elo) == ("failed", "match task x gave up", None)
    assert judge(games(B, RANDOM, 10, 20)).verdict == "failed"  # no game against the predecessor
    assert judge(games(B, A, 0, 20), best_now=C).verdict == "superseded"


def _promote(layout: RunLayout, candidate: str, best: str | None) -> None:
    decision = PromotionDecision(
        promote=True, variant=V, candidate=candidate, best=best, reasons=(), statistics={}
    )
    record_decision(layout, decision)


def _weaker() -> ShadowResult:
    return judge(games(B, A, 0, 20) + anchors(B, A))


def test_the_rollback_returns_to_the_predecessor_and_a_second_call_changes_nothing(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    _promote(layout, A, None)
    _promote(layout, B, A)
    result = _weaker()
    shadow.apply_rollback(layout, V, result)
    best = read_best(layout, V)
    assert best is not None and best["participant"] == A
    history = promotion_history(layout, V)
    assert history[-1]["event"] == "rollback" and history[-1]["to"] == "a" * 64
    assert history[-1]["reason"].startswith(
        "automatic rollback after shadow check tournament-shadow-000000: "
    )
    shadow.apply_rollback(layout, V, result)
    assert promotion_history(layout, V) == history


def test_a_rollback_killed_between_the_history_and_best_json_is_finished(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    _promote(layout, A, None)
    _promote(layout, B, A)
    weak = layout.best(V).read_bytes()
    rollback(layout, V, to_model="a" * 64, reason="automatic rollback after shadow check ...")
    layout.best(V).write_bytes(weak)  # as if killed before best.json was replaced
    history = promotion_history(layout, V)
    shadow.apply_rollback(layout, V, _weaker())
    best = read_best(layout, V)
    assert best is not None and best["participant"] == A
    assert promotion_history(layout, V) == history  # finished, not recorded twice


def test_a_best_moved_on_by_someone_else_is_left_alone(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    _promote(layout, A, None)
    _promote(layout, B, A)
    _promote(layout, C, B)  # e.g. a user's promotion while no controller ran
    shadow.apply_rollback(layout, V, _weaker())
    best = read_best(layout, V)
    assert best is not None and best["participant"] == C


def test_a_pending_rollback_is_the_last_result_while_its_target_is_the_best() -> None:
    result = _weaker()
    last = {**result.model_dump(), "time": 5.0}
    assert shadow.pending_rollback(state(best_participant=A, last_shadow=last)) == result
    assert shadow.pending_rollback(state(best_participant=C, last_shadow=last)) is None
    undecided = {**judge(games(B, A, 10, 20)).model_dump(), "time": 5.0}
    assert shadow.pending_rollback(state(last_shadow=undecided)) is None
    assert shadow.pending_rollback(state()) is None


def test_the_metrics_have_one_series_per_variant_and_verdict() -> None:
    last = {**_weaker().model_dump(), "time": 5.0}
    variants = [
        state(shadow_checks=3, auto_rollbacks=1, last_shadow=last),
        VariantState("hex8_2p"),
    ]
    text = render_textfile(shadow.families(variants))
    assert 'ringrift_controller_automatic_rollbacks_total{variant="square8_2p"} 1' in text
    assert 'ringrift_controller_automatic_rollbacks_total{variant="hex8_2p"} 0' in text
    assert 'ringrift_controller_shadow_checks_total{variant="square8_2p"} 3' in text
    assert 'ringrift_controller_shadow_last_check_timestamp_seconds{variant="square8_2p"} 5' in text
    assert 'ringrift_controller_shadow_last_verdict{variant="square8_2p",verdict="weaker"} 1' in text
    assert 'ringrift_controller_shadow_last_verdict{variant="square8_2p",verdict="cleared"} 0' in text
    assert "hex8_2p" not in text.split("ringrift_controller_shadow_last_verdict", 1)[1].split("# HELP")[0]
    lines = [
        line for line in text.splitlines() if line.startswith("ringrift_controller_shadow_last_verdict{")
    ]
    assert len(lines) == len(shadow.VERDICTS)


def test_the_status_document_says_what_ran_what_is_next_and_the_rollbacks() -> None:
    doc = shadow.status_doc(state(shadow_checks=2, auto_rollbacks=1), 300.0)
    assert doc == {
        "against": A,
        "checking": None,
        "next_due": 1300.0,
        "checks": 2,
        "last": None,
        "automatic_rollbacks": 1,
    }
    json.dumps(doc)


@pytest.mark.parametrize("confidence", [0.5, 1.0])
def test_the_confidence_must_lie_above_one_half_and_below_one(confidence: float) -> None:
    with pytest.raises(ValidationError, match="shadow_confidence"):
        EvaluationSection.model_validate({"shadow_confidence": confidence})
