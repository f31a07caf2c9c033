"""`bench learn` machinery at a tiny budget (a 3-player run: the report's structure, the model
lineage, the match against model 1) and its pure parts: seats, scores, targets, seed summaries.

Learning itself is not asserted here (a few games and steps prove nothing); the bench run
recorded in docs/benchmarks.md is the proof.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringrift_hpc.bench import learn_bench
from ringrift_hpc.bench.learn_bench import (
    FIRST_MODEL,
    GenerationReport,
    LearnReport,
    bench_config,
    is_last_generation,
    plot_learning_curve,
    run_learn_bench,
)
from ringrift_hpc.bench.learn_scores import (
    Score,
    first_place_credit,
    model_seats,
    score_games,
    significantly_above_chance,
    summarize_seeds,
    wilson_interval,
)
from ringrift_hpc.bench.learn_settings import LearnSettings
from ringrift_hpc.bench.learn_targets import OPPONENTS, judge, targets_for
from ringrift_hpc.cli.app import app
from ringrift_hpc.cli.bench_learn import format_row, format_verdict
from ringrift_hpc.config.variants import variant_from_name
from ringrift_hpc.store import RunLayout, read_manifest

TINY = LearnSettings(
    variant=variant_from_name("square8_3p", where="TINY"),
    max_generations=2,
    bootstrap_games=2,
    games_per_generation=1,
    selfplay_tasks=1,
    simulations=2,
    eval_simulations=3,
    gumbel_actions=2,
    concurrent_games=2,
    min_steps=2,
    max_steps=2,
    batch_size=16,
    channels=8,
    blocks=1,
    value_hidden=8,
    eval_games=3,
    final_eval_games=6,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> LearnReport:
    return run_learn_bench(TINY, tmp_path_factory.mktemp("learn") / "run")


def test_each_model_is_trained_from_its_parent(report: LearnReport) -> None:
    layout = RunLayout(Path(report.run_dir))
    assert [g.generation for g in report.generations] == [1, 2]
    assert report.generations[0].parent is None
    assert report.generations[1].parent == report.generations[0].model_id
    for g in report.generations:
        meta = read_manifest(layout.model_weights(TINY.variant.name, g.model_id)).manifest.metadata
        assert meta["parent"] == g.parent
        assert meta["generation"] == g.generation
        assert meta["steps"] == g.train_steps == TINY.max_steps
    second = read_manifest(
        layout.model_weights(TINY.variant.name, report.generations[1].model_id)
    ).manifest.metadata
    trained_on = {name.split("/")[0] for name, _ in second["data"]}
    assert trained_on == {"000000", "000001"}  # the replay window spans both selfplay generations


def test_report_counts_games_and_cpu(report: LearnReport) -> None:
    first, last = report.generations
    assert first.selfplay_games == TINY.bootstrap_games
    assert last.selfplay_games == TINY.games_per_generation
    assert 0 < first.cpu_minutes < last.cpu_minutes
    assert first.wall_minutes > 0 and last.eval_cpu_minutes > 0
    for g, games in ((first, TINY.eval_games), (last, TINY.final_eval_games)):
        assert [r.opponent for r in g.results] == list(OPPONENTS)
        for r in g.results:
            assert r.games == games and 0 <= r.wins + r.draws <= games
            assert games <= r.rank_sum <= 3 * games
            assert (r.low, r.high) == wilson_interval(r.points, r.games)
    match = report.first_vs_last
    assert match is not None and match.opponent == FIRST_MODEL and match.games == TINY.final_eval_games
    assert report.first_vs_last_cpu_minutes > 0
    saved = json.loads((Path(report.run_dir) / "learn_bench.json").read_text())
    assert saved["generations"][1]["model_id"] == last.model_id
    assert saved["settings"]["variant"] == "square8_3p"
    assert saved["first_vs_last"]["games"] == TINY.final_eval_games
    assert "search at 3 simulations" in report.evaluated_player
    assert "full searches use 2" in report.evaluated_player
    assert format_row(last, 3).split()[0] == "2"
    verdict = format_verdict(report)
    assert verdict.endswith("NOT MET") != report.target_met()
    assert "last model vs model 1" in verdict and "chance 2.00" in verdict


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(190, 200)
    assert low == pytest.approx(0.9104, abs=1e-4) and high == pytest.approx(0.9726, abs=1e-4)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    assert wilson_interval(4, 4)[1] == 1.0 and wilson_interval(200, 200)[1] == 1.0  # never below the rate
    with pytest.raises(ValueError, match="games must be at least 1"):
        wilson_interval(0, 0)


def test_settings_and_config_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="final_eval_games must be a positive multiple of 2"):
        LearnSettings(final_eval_games=3)
    with pytest.raises(ValueError, match="eval_games must be a positive multiple of 3 .* got 40"):
        LearnSettings(variant=variant_from_name("square8_3p", where="test"))
    config = bench_config(TINY, tmp_path)
    assert (config.network.channels, config.selfplay.simulations, config.training.max_steps) == (8, 2, 2)
    assert config.run.variants[0] == TINY.variant
    assert (config.training.aux_ownership_weight, config.training.aux_score_weight) == (0.0, 0.0)
    aux = bench_config(dataclasses.replace(TINY, aux_ownership_weight=0.5, aux_score_weight=1.5), tmp_path)
    assert (aux.training.aux_ownership_weight, aux.training.aux_score_weight) == (0.5, 1.5)
    with pytest.raises(ValueError, match="aux_score_weight must be at least 0"):
        LearnSettings(aux_score_weight=-1.0)


def test_learning_curve_plot_is_a_png(report: LearnReport, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    plot_learning_curve([report, report], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_evaluated_player_searches_at_the_evaluation_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    played: list[tuple[Any, ...]] = []

    def fake_children(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]], workers: int) -> list[Any]:
        played.extend(args for _, args in calls)
        return [[(1, 2)] * len(args[-1]) for _, args in calls]  # every game a win of seat 1

    monkeypatch.setattr(learn_bench, "_in_children", fake_children)
    settings = LearnSettings(simulations=64, eval_simulations=128, gumbel_actions=8)
    scores = learn_bench.evaluate_model("w.pt", settings, 1, 4, 2, {"heuristic": "heuristic"})
    assert [s.games for s in scores] == [4]
    expected = {"simulations": 128, "gumbel_actions": 8, "decisive_moves": True}
    assert played and all(args[2] == expected for args in played)
    played.clear()
    plain = dataclasses.replace(settings, eval_decisive_moves=False)
    learn_bench.evaluate_model("w.pt", plain, 1, 4, 2, {"heuristic": "heuristic"})
    assert played and all(args[2]["decisive_moves"] is False for args in played)
    assert "decisive moves checked" not in learn_bench.evaluated_player_words(plain)


def test_budget_ends_the_run_before_a_generation_it_cannot_pay_for() -> None:
    settings = LearnSettings(budget_cpu_minutes=4.0, max_generations=5)
    assert not is_last_generation(1, settings, spent_s=142.0, next_cost_s=0.0)  # no search generation yet
    assert is_last_generation(2, settings, spent_s=208.0, next_cost_s=66.0)
    assert not is_last_generation(2, settings, spent_s=150.0, next_cost_s=66.0)
    assert is_last_generation(5, settings, spent_s=0.0, next_cost_s=0.0)
    assert is_last_generation(1, settings, spent_s=241.0, next_cost_s=0.0)


def test_the_command_refuses_a_bad_variant_before_running() -> None:
    result = CliRunner().invoke(app, ["bench", "learn", "--variant", "hex8_1p"], terminal_width=200)
    assert result.exit_code == 2
    assert "--variant: hex8 is played by 2, 3 or 4 players, not 1" in result.output


@pytest.mark.parametrize(("players", "games"), [(2, 4), (3, 6), (3, 201), (4, 8), (4, 200)])
def test_the_model_takes_each_seat_equally_often(players: int, games: int) -> None:
    seats = model_seats(games, players)
    assert len(seats) == games
    assert Counter(seats) == dict.fromkeys(range(players), games // players)


@pytest.mark.parametrize(("games", "players"), [(4, 3), (2, 4), (0, 2), (7, 2)])
def test_games_that_cannot_rotate_the_seats_are_refused(games: int, players: int) -> None:
    with pytest.raises(ValueError, match=f"use a positive multiple of {players}"):
        model_seats(games, players)


def test_first_places_and_ranks_are_scored_with_ties() -> None:
    assert first_place_credit((1, 2, 3), 0) == 1.0
    assert first_place_credit((2, 1, 3), 0) == 0.0
    assert first_place_credit((1, 1, 3), 1) == 0.5  # a shared first place is split
    assert first_place_credit((1, 1, 1, 4), 2) == pytest.approx(1 / 3)
    assert first_place_credit((1, 1), 0) == 0.0  # 2 players: a draw is no win, as before
    rankings = [(1, 2, 3), (3, 1, 2), (1, 1, 3), (2, 3, 1), (1, 2, 2), (1, 1, 1)]
    score = score_games("heuristic", rankings, [0, 1, 2, 0, 1, 2])
    # Model ranks: 1 (alone), 1 (alone), 3, 2, 2, 1 (three-way tie).
    assert (score.wins, score.draws, score.rank_sum, score.games) == (2, 1, 10, 6)
    assert score.points == pytest.approx(2 + 1 / 3)
    assert score.mean_rank == pytest.approx(10 / 6)
    assert (score.low, score.high) == wilson_interval(score.points, 6)
    two = score_games("random", [(1, 2), (1, 1), (2, 1), (2, 1)], [0, 1, 0, 1])
    assert (two.wins, two.draws, two.rate) == (2, 1, 0.5)
    with pytest.raises(ValueError, match="2 rankings for 1 seats"):
        score_games("random", [(1, 2), (2, 1)], [0])


def _score(opponent: str, points: int, games: int = 10, rank_sum: int = 20) -> Score:
    return Score(opponent, points, 0, points, rank_sum, games, *wilson_interval(points, games))


def test_seeds_are_summarized_by_median_and_range() -> None:
    finals = [
        (_score("random", 9, rank_sum=11), _score("heuristic", 4, rank_sum=20)),
        (_score("random", 10, rank_sum=10), _score("heuristic", 7, rank_sum=14)),
        (_score("random", 6, rank_sum=15), _score("heuristic", 5, rank_sum=19)),
    ]
    rand, heur = summarize_seeds(finals)
    assert (rand.opponent, rand.seeds, rand.median, rand.low, rand.high) == ("random", 3, 0.9, 0.6, 1.0)
    assert rand.median_mean_rank == pytest.approx(1.1)
    assert (heur.median, heur.low, heur.high) == (0.5, 0.4, 0.7)
    assert heur.median_mean_rank == pytest.approx(1.9)
    even = summarize_seeds(finals[:2])[1]
    assert even.median == pytest.approx(0.55)  # the mean of the middle two
    with pytest.raises(ValueError, match="different opponents"):
        summarize_seeds([finals[0], finals[1][::-1]])
    with pytest.raises(ValueError, match="no runs"):
        summarize_seeds([])


def _shares(variant: str, minutes: float) -> list[tuple[str, float, bool]]:
    targets = targets_for(variant_from_name(variant, where="test"), minutes)
    return [(t.opponent, t.share, t.strict) for t in targets]


def test_targets_depend_on_the_variant_and_the_budget() -> None:
    floor = [("random", 0.95, False), ("heuristic", 0.5, True)]
    assert _shares("square8_2p", 1.0) == floor
    assert _shares("square8_2p", 4.0) == [*floor, ("heuristic", 0.55, False)]
    assert _shares("square8_2p", 30.0) == [*floor, ("heuristic", 0.90, False)]
    assert _shares("hex8_2p", 4.0) == floor
    assert _shares("hex8_2p", 30.0) == [*floor, ("heuristic", 0.75, False)]
    assert _shares("square19_2p", 60.0) == floor
    chance3 = [("random", 1 / 3, True), ("heuristic", 1 / 3, True)]
    assert _shares("square8_3p", 4.0) == chance3
    assert _shares("square8_3p", 30.0) == [*chance3, ("heuristic", 0.55, False)]
    assert _shares("hexagonal_4p", 30.0) == [("random", 0.25, True), ("heuristic", 0.25, True)]


def test_verdicts_judge_the_final_scores() -> None:
    targets = targets_for(variant_from_name("square8_2p", where="test"), 4.0)
    judged = judge(targets, [_score("random", 19, games=20), _score("heuristic", 11, games=20)])
    assert [met for _, _, met in judged] == [True, True, True]  # 95%, 55% > 50%, 55% >= 55%
    judged = judge(targets, [_score("random", 18, games=20), _score("heuristic", 10, games=20)])
    assert [met for _, _, met in judged] == [False, False, False]  # 90%; 50% is not > 50%
    assert significantly_above_chance(_score(FIRST_MODEL, 150, games=200), players=2)
    assert not significantly_above_chance(_score(FIRST_MODEL, 110, games=200), players=2)
    assert significantly_above_chance(_score(FIRST_MODEL, 45, games=90), players=3)


def _fake_run(calls: list[LearnSettings]) -> Callable[..., LearnReport]:
    """Stands in for the loop: records the settings, reports made-up scores of 2 generations."""

    def run(
        settings: LearnSettings, run_dir: Path, *, on_generation: Callable[[GenerationReport], None]
    ) -> LearnReport:
        calls.append(settings)
        players = settings.variant.players
        generations = []
        for generation, games in ((1, settings.eval_games), (2, settings.final_eval_games)):
            seats = model_seats(games, players)
            # The model ends first in the games with an even index, last in the others.
            rankings = [
                tuple(1 if (s == seat) == (k % 2 == 0) else players for s in range(players))
                for k, seat in enumerate(seats)
            ]
            g = GenerationReport(
                generation,
                f"m{generation}",
                None,
                2,
                20,
                2,
                20,
                1.0,
                0.5,
                0.1 * generation,
                0.2,
                0.01,
                tuple(score_games(o, rankings, seats) for o in OPPONENTS),
            )
            on_generation(g)
            generations.append(g)
        return LearnReport(settings, str(run_dir), "made up", tuple(generations), None, 0.0)

    return run


@pytest.mark.parametrize(("variant", "games"), [("square8_3p", 201), ("hex8_2p", 200)])
def test_the_command_runs_each_seed_and_summarizes(
    variant: str, games: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[LearnSettings] = []
    monkeypatch.setattr(learn_bench, "run_learn_bench", _fake_run(calls))
    out = tmp_path / "runs.json"
    args = ["bench", "learn", "--variant", variant, "--seeds", "2", "--seed", "5", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path / "run")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert [c.seed for c in calls] == [5, 6]
    assert {c.variant.name for c in calls} == {variant}
    assert calls[0].final_eval_games == games  # the default, rounded up to rotate the seats
    assert "seed 6: targets for" in result.output
    assert "seed 6: last model vs model 1: not played" in result.output  # the made-up runs have none
    assert "summary over 2 seeds" in result.output and "vs heuristic: median" in result.output
    assert ("median mean rank" in result.output) == variant.endswith("3p")
    saved = json.loads(out.read_text())
    assert [r["settings"]["seed"] for r in saved["runs"]] == [5, 6]
    assert saved["runs"][1]["run_dir"] == str(tmp_path / "run" / "seed-6")
    assert [s["opponent"] for s in saved["summary"]] == list(OPPONENTS)


def test_the_command_passes_the_training_knobs_and_prints_the_auxiliary_losses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[LearnSettings] = []
    monkeypatch.setattr(learn_bench, "run_learn_bench", _fake_run(calls))
    args = ["bench", "learn", "--aux-ownership-weight", "0.5", "--aux-score-weight", "2"]
    args += ["--samples-per-new-sample", "16", "--eval-simulations", "96", "--no-eval-decisive-moves"]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path / "run")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert (calls[0].aux_ownership_weight, calls[0].aux_score_weight) == (0.5, 2.0)
    assert calls[0].samples_per_new_sample == 16.0
    assert (calls[0].eval_simulations, calls[0].simulations) == (96, LearnSettings().simulations)
    assert not calls[0].eval_decisive_moves and "decisive moves checked" not in result.output
    assert "o loss  s loss" in result.output
    plain = CliRunner().invoke(
        app, ["bench", "learn", "--run-dir", str(tmp_path / "plain")], terminal_width=200
    )
    assert plain.exit_code == 0 and "o loss" not in plain.output
    g = dataclasses.replace(_generation(), ownership_loss=0.25, score_loss=None)
    assert format_row(g, 2).split()[-2:] == ["0.250", "-"]
    assert format_row(dataclasses.replace(g, ownership_loss=None), 2) == format_row(_generation(), 2)


def _generation() -> GenerationReport:
    scores = tuple(score_games(o, [(1, 2)], (0,)) for o in OPPONENTS)
    return GenerationReport(1, "m1", None, 2, 20, 2, 20, 1.0, 0.5, 0.1, 0.2, 0.01, scores)


def test_the_command_refuses_games_that_cannot_rotate_the_seats() -> None:
    result = CliRunner().invoke(
        app, ["bench", "learn", "--variant", "square8_4p", "--final-eval-games", "202"], terminal_width=200
    )
    assert result.exit_code == 2
    assert "final_eval_games must be a positive multiple of 4" in result.output
