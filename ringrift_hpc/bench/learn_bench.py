"""Proof that the loop learns: a short selfplay/training loop on CPU, judged against fixed players.

`run_learn_bench` drives the real job functions in one process tree, sequentially by generation:

* Generation 0: `run_selfplay` with no model (the configured bootstrap player: its moves are the
  policy targets, the outcomes the value targets); `run_training` makes model 1 from seeded
  random weights.
* Generation g >= 1: `run_selfplay` with model g (Gumbel search at the selfplay budget), then
  `run_training` makes model g+1 from its parent model g over the replay window.
* After each training job the new model, searched at the selfplay budget, plays N-1 random and
  N-1 heuristic players in seat-rotated games (each seat of the model equally often); the
  first-place share gets a 95% Wilson interval, the mean rank is kept (see learn_scores).
* With `first_vs_last` and two models or more, the last model then plays N-1 copies of model 1,
  both searched alike, in `final_eval_games` seat-rotated games.

Jobs run in fresh child processes (selfplay tasks two at a time, one torch thread each), so the
CPU time of the loop is this process's plus its reaped children's (`resource.getrusage`). The
budget counts selfplay and training only; evaluation CPU is measured and reported apart. A
generation starts only while the budget left covers one more generation as costly as the last
search generation (after the bootstrap generation: while any budget is left).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic_core import to_jsonable_python

import ringrift_hpc
from ringrift_hpc.ai.players import HeuristicPlayer, Player, RandomPlayer, SearchPlayer, play_games
from ringrift_hpc.ai.search import SearchConfig
from ringrift_hpc.bench.learn_scores import Score, model_seats, score_games, summarize_seeds
from ringrift_hpc.bench.learn_settings import LearnSettings
from ringrift_hpc.bench.learn_targets import OPPONENTS, Target, judge, targets_for
from ringrift_hpc.config import Config, Variant, load_config
from ringrift_hpc.config.loading import parse_config
from ringrift_hpc.jobs.evaluate_players import load_evaluator
from ringrift_hpc.jobs.seeds import game_rng
from ringrift_hpc.jobs.selfplay import NO_MODEL, SelfplayResult, SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import run_training
from ringrift_hpc.jobs.train_spec import TrainResult, TrainSpec
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.rules import initial_state, ranking
from ringrift_hpc.store import RunLayout

SHIPPED_CONFIG = Path(ringrift_hpc.__file__).resolve().parents[1] / "config" / "unified_loop.yaml"
FIRST_MODEL = "model 1"


@dataclass(frozen=True)
class GenerationReport:
    """Model `generation`, trained from `parent` on data up to selfplay generation `generation - 1`."""

    generation: int
    model_id: str
    parent: str | None
    selfplay_games: int  # of the selfplay generation that fed this model
    selfplay_positions: int
    train_steps: int
    train_samples: int
    policy_loss: float
    value_loss: float
    cpu_minutes: float  # cumulative selfplay + training CPU when the model was published
    wall_minutes: float  # cumulative wall time of selfplay + training
    eval_cpu_minutes: float  # this generation's evaluation
    results: tuple[Score, ...]
    ownership_loss: float | None = None  # auxiliary losses; None while that head is off
    score_loss: float | None = None


@dataclass(frozen=True)
class LearnReport:
    settings: LearnSettings
    run_dir: str
    evaluated_player: str
    generations: tuple[GenerationReport, ...]
    first_vs_last: Score | None  # the last model against model 1; None when not played
    first_vs_last_cpu_minutes: float

    def verdicts(self) -> tuple[tuple[Target, Score, bool], ...]:
        """The variant's targets for the budget, judged on the last model's final games."""
        if not self.generations:
            return ()
        targets = targets_for(self.settings.variant, self.settings.budget_cpu_minutes)
        return judge(targets, self.generations[-1].results)

    def target_met(self) -> bool:
        """The last model had its final games and met every target."""
        return (
            bool(self.generations)
            and self.generations[-1].results[0].games >= self.settings.final_eval_games
            and all(met for _, _, met in self.verdicts())
        )

    def to_json(self) -> str:
        return json.dumps(to_jsonable_python(self), indent=2)


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have been waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_config(settings: LearnSettings, run_dir: Path, base: Path = SHIPPED_CONFIG) -> Config:
    """The shipped config with the bench's network, selfplay and training settings laid over it."""
    data = load_config(base).model_dump(mode="json")
    data["run"].update(
        name="learn-bench", root=str(run_dir), variants=[settings.variant.name], seed=settings.seed
    )
    data["network"].update(
        channels=settings.channels, blocks=settings.blocks, value_hidden=settings.value_hidden
    )
    data["selfplay"].update(
        simulations=settings.simulations,
        gumbel_actions=settings.gumbel_actions,
        opening_sample_moves=settings.opening_sample_moves,
        full_search_fraction=settings.full_search_fraction,
        fast_simulations=settings.fast_simulations,
        value_search_weight=settings.value_search_weight,
        bootstrap_player=settings.bootstrap_player,
        concurrent_games=settings.concurrent_games,
        device="cpu",
    )
    data["training"].update(
        samples_per_new_sample=settings.samples_per_new_sample,
        min_steps=settings.min_steps,
        max_steps=settings.max_steps,
        batch_size=settings.batch_size,
        lr=settings.lr,
        aux_ownership_weight=settings.aux_ownership_weight,
        aux_score_weight=settings.aux_score_weight,
        device="cpu",
        dataloader_workers=0,
    )
    data["training"]["replay_window"].update(
        min_samples=settings.window_min_samples, max_samples=settings.window_max_samples
    )
    return parse_config(data, source=f"{base} with the learn bench's settings")


def _one_thread_worker() -> None:
    # run_selfplay sizes its torch threads from SLURM_CPUS_PER_TASK: one thread per worker process.
    os.environ["SLURM_CPUS_PER_TASK"] = "1"
    torch.set_num_threads(1)


def _in_children(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], workers: int) -> list[Any]:
    """Run each call in a fresh spawned process, `workers` at a time; the pool is shut down (its
    processes reaped) before returning, so their CPU shows in RUSAGE_CHILDREN."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread_worker) as pool:
        futures: list[Future[Any]] = [pool.submit(function, *args) for function, args in calls]
        return [future.result() for future in futures]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def _selfplay_specs(
    config: Config, settings: LearnSettings, run_dir: Path, generation: int, model: str
) -> list[SelfplaySpec]:
    games = settings.bootstrap_games if model == NO_MODEL else settings.games_per_generation
    specs = []
    for task, count in enumerate(_split(games, settings.selfplay_tasks)):
        spec = SelfplaySpec.from_config(
            config,
            run_root=run_dir,
            variant=settings.variant.name,
            generation=generation,
            task_index=task,
            model_id=model,
        )
        specs.append(spec.replace(games=count))
    return specs


def _train_spec(
    config: Config,
    settings: LearnSettings,
    run_dir: Path,
    generation: int,
    parent: str | None,
    new_samples: int,
) -> TrainSpec:
    return TrainSpec.from_config(
        config,
        run_root=run_dir,
        variant=settings.variant,
        parent_model=parent,
        generation=generation,
        new_samples=new_samples,
        seed=settings.seed + generation,
    )


def is_last_generation(model: int, settings: LearnSettings, spent_s: float, next_cost_s: float) -> bool:
    """Whether model `model` ends the run: the last allowed, or the budget cannot pay for one more
    generation costing `next_cost_s` CPU seconds."""
    return model >= settings.max_generations or spent_s + next_cost_s > settings.budget_cpu_minutes * 60


def evaluated_player_words(settings: LearnSettings) -> str:
    decisive = ", decisive moves checked" if settings.eval_decisive_moves else ""
    return (
        f"the network with Gumbel search at {settings.eval_simulations} simulations "
        f"({settings.gumbel_actions} root moves{decisive}); selfplay's full searches use {settings.simulations}"
    )


def _opponent(spec: str, variant: Variant, search: SearchConfig) -> Player:
    if spec == "random":
        return RandomPlayer()
    if spec == "heuristic":
        return HeuristicPlayer()
    evaluator = load_evaluator(Path(spec), variant.board, variant.players, device="cpu", max_batch=1024)
    return SearchPlayer(evaluator, search)


def play_match(
    weights: str, variant: Variant, search: Mapping[str, Any], opponent: str, games: Sequence[tuple[int, int]]
) -> list[tuple[int, ...]]:
    """The final ranking of each game (seed, seat of the model, 0-based): the searched model at
    its seat, `opponent` (random, heuristic, or a model's weights searched alike) at all others."""
    board, players = variant.board, variant.players
    config = SearchConfig(**search)
    model: Player = SearchPlayer(
        load_evaluator(Path(weights), board, players, device="cpu", max_batch=1024), config
    )
    other = _opponent(opponent, variant, config)
    rankings: dict[int, tuple[int, ...]] = {}
    for seat in range(players):
        mine = [k for k, (_, s) in enumerate(games) if s == seat]
        if not mine:
            continue
        seats = [model if k == seat else other for k in range(players)]
        starts = [initial_state(board, players) for _ in mine]
        finals = play_games(seats, starts, [game_rng(games[k][0]) for k in mine])
        rankings.update(zip(mine, (ranking(f) for f in finals), strict=True))
    return [rankings[k] for k in range(len(games))]


def evaluate_model(
    weights: str,
    settings: LearnSettings,
    stream: int,
    games: int,
    workers: int,
    opponents: Mapping[str, str],
) -> tuple[Score, ...]:
    """The model against each opponent (label: random, heuristic or weights), `games`
    seat-rotated games each, played in `workers` child processes; `stream` keeps the games' seeds
    apart: the model's generation, 0 for the match against model 1."""
    search = {
        "simulations": settings.eval_simulations,
        "gumbel_actions": settings.gumbel_actions,
        "decisive_moves": settings.eval_decisive_moves,
    }
    seats = model_seats(games, settings.variant.players)
    calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    labels: list[str] = []  # of each call; a label's calls hold its games in order
    for index, (label, spec) in enumerate(opponents.items()):
        rng = np.random.default_rng([settings.seed, stream, index])
        played = list(zip((int(s) for s in rng.integers(0, 2**62, size=games)), seats, strict=True))
        for part in np.array_split(np.arange(games), workers):
            if len(part):
                chunk = [played[k] for k in part]
                calls.append((play_match, (weights, settings.variant, search, spec, chunk)))
                labels.append(label)
    outcomes: list[list[tuple[int, ...]]] = _in_children(calls, workers)
    return tuple(
        score_games(
            label,
            [r for of, outcome in zip(labels, outcomes, strict=True) if of == label for r in outcome],
            seats,
        )
        for label in opponents
    )


def run_learn_bench(
    settings: LearnSettings,
    run_dir: Path,
    *,
    on_generation: Callable[[GenerationReport], None] | None = None,
) -> LearnReport:
    """Run the loop in `run_dir` (created; an existing run must have the same config) until the
    CPU budget or `max_generations` is reached; `on_generation` sees each report as it is made."""
    run_dir = run_dir.resolve()
    config = bench_config(settings, run_dir)
    init_run(run_dir, config, source="the learn bench")
    layout = RunLayout(run_dir)
    spent_cpu = spent_wall = 0.0
    last_cost = 0.0
    parent: str | None = None
    weights: list[str] = []
    reports: list[GenerationReport] = []
    for generation in range(settings.max_generations):
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        model = parent or NO_MODEL
        played: list[SelfplayResult] = _in_children(
            [
                (run_selfplay, (spec,))
                for spec in _selfplay_specs(config, settings, run_dir, generation, model)
            ],
            settings.selfplay_tasks,
        )
        positions = sum(r.positions for r in played)
        spec = _train_spec(config, settings, run_dir, generation + 1, parent, positions)
        trained: TrainResult = _in_children([(run_training, (spec,))], 1)[0]
        cost = cpu_seconds() - cpu0
        spent_cpu += cost
        spent_wall += time.monotonic() - wall0
        # The next generation is expected to cost what the last search generation did; the
        # bootstrap generation (heuristic games, first long training) says nothing about that.
        if generation:
            last_cost = cost
        final = is_last_generation(generation + 1, settings, spent_cpu, last_cost)
        cpu1 = cpu_seconds()
        games = settings.final_eval_games if final else settings.eval_games
        weights.append(trained.weights)
        results = evaluate_model(
            trained.weights,
            settings,
            generation + 1,
            games,
            settings.selfplay_tasks,
            dict(zip(OPPONENTS, OPPONENTS)),
        )
        report = GenerationReport(
            generation=generation + 1,
            model_id=trained.model_id,
            parent=parent,
            selfplay_games=sum(r.games for r in played),
            selfplay_positions=positions,
            train_steps=trained.steps,
            train_samples=trained.samples,
            policy_loss=trained.train_policy_loss,
            value_loss=trained.train_value_loss,
            cpu_minutes=spent_cpu / 60,
            wall_minutes=spent_wall / 60,
            eval_cpu_minutes=(cpu_seconds() - cpu1) / 60,
            results=results,
            ownership_loss=trained.train_ownership_loss,
            score_loss=trained.train_score_loss,
        )
        reports.append(report)
        if on_generation is not None:
            on_generation(report)
        parent = trained.model_id
        if final:
            break
    first_vs_last: Score | None = None
    cpu2 = cpu_seconds()
    if settings.first_vs_last and len(weights) >= 2:
        (first_vs_last,) = evaluate_model(
            weights[-1],
            settings,
            0,
            settings.final_eval_games,
            settings.selfplay_tasks,
            {FIRST_MODEL: weights[0]},
        )
    report_all = LearnReport(
        settings,
        str(layout.root),
        evaluated_player_words(settings),
        tuple(reports),
        first_vs_last,
        (cpu_seconds() - cpu2) / 60,
    )
    (layout.root / "learn_bench.json").write_text(report_all.to_json())
    return report_all


def seeds_json(reports: Sequence[LearnReport]) -> str:
    """All runs and, per opponent, the summary of their final scores over the seeds."""
    summary = summarize_seeds([r.generations[-1].results for r in reports])
    return json.dumps(to_jsonable_python({"runs": reports, "summary": summary}), indent=2)


def plot_learning_curve(reports: Sequence[LearnReport], path: Path) -> None:
    """First-place share (the win rate with 2 players) against each opponent per generation over
    budgeted CPU-minutes, one curve per run (seed); 95% intervals when there is one run; the
    targets as grey lines (a PNG). matplotlib is imported here, where it is used."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    first = reports[0]
    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=120)
    for opponent, marker, colour in zip(OPPONENTS, ("o", "s"), ("tab:blue", "tab:orange"), strict=True):
        for k, report in enumerate(reports):
            x = [g.cpu_minutes for g in report.generations]
            scores = [next(r for r in g.results if r.opponent == opponent) for g in report.generations]
            y = [r.rate for r in scores]
            errors = [[r.rate - r.low for r in scores], [r.high - r.rate for r in scores]]
            axes.errorbar(
                x,
                y,
                yerr=errors if len(reports) == 1 else None,
                marker=marker,
                color=colour,
                alpha=1.0 if len(reports) == 1 else 0.6,
                capsize=3,
                label=f"vs {opponent}" if k == 0 else None,
            )
    for target in targets_for(first.settings.variant, first.settings.budget_cpu_minutes):
        axes.axhline(target.share, linestyle=":" if target.opponent == "random" else "--", color="grey")
    axes.set_xlabel("CPU-minutes of selfplay + training (evaluation not counted)")
    axes.set_ylabel("first-place share" + (" (95% Wilson interval)" if len(reports) == 1 else ""))
    axes.set_ylim(0, 1.02)
    seeds = f", {len(reports)} seeds" if len(reports) > 1 else ""
    axes.set_title(f"{first.settings.variant}{seeds}: {first.evaluated_player}", fontsize=8)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
