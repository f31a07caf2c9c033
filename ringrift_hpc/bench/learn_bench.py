"""Proof that the loop learns: a short selfplay/training loop on CPU, judged against fixed players.

`run_learn_bench` drives the real job functions in one process tree, sequentially by generation:

* Generation 0: `run_selfplay` with no model (the configured bootstrap player: its moves are the
  policy targets, the outcomes the value targets); `run_training` makes model 1 from seeded
  random weights.
* Generation g >= 1: `run_selfplay` with model g (Gumbel search at the selfplay budget), then
  `run_training` makes model g+1 from its parent model g over the replay window.
* After each training job the new model, searched at the selfplay budget, plays the random and
  the heuristic player with seats alternated; win rates get 95% Wilson intervals.

Jobs run in fresh child processes (selfplay tasks two at a time, one torch thread each), so the
CPU time of the loop is this process's plus its reaped children's (`resource.getrusage`). The
budget counts selfplay and training only; evaluation CPU is measured and reported apart. A
generation starts only while the budget left covers one more generation as costly as the last
search generation (after the bootstrap generation: while any budget is left).
"""

from __future__ import annotations

import json
import math
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
from ringrift_hpc.bench.learn_settings import TARGET_VS_HEURISTIC, TARGET_VS_RANDOM, LearnSettings
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
WILSON_Z = 1.959964  # two-sided 95%
OPPONENTS = ("random", "heuristic")


@dataclass(frozen=True)
class WinRate:
    opponent: str
    wins: int
    draws: int
    games: int
    low: float  # 95% Wilson interval of the win rate
    high: float

    @property
    def rate(self) -> float:
        return self.wins / self.games


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
    results: tuple[WinRate, ...]


@dataclass(frozen=True)
class LearnReport:
    settings: LearnSettings
    run_dir: str
    evaluated_player: str
    generations: tuple[GenerationReport, ...]

    def target_met(self) -> bool:
        """The last model beat random in >= 95% and heuristic in > 50% of the final games."""
        if not self.generations:
            return False
        last = {r.opponent: r for r in self.generations[-1].results}
        return (
            last["random"].games >= self.settings.final_eval_games
            and last["random"].rate >= TARGET_VS_RANDOM
            and last["heuristic"].rate > TARGET_VS_HEURISTIC
        )

    def to_json(self) -> str:
        return json.dumps(to_jsonable_python(self), indent=2)


def wilson_interval(wins: int, games: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    if games < 1:
        raise ValueError(f"wilson_interval: games must be at least 1, got {games}")
    p = wins / games
    denominator = 1 + z * z / games
    centre = (p + z * z / (2 * games)) / denominator
    half = z * math.sqrt(p * (1 - p) / games + z * z / (4 * games * games)) / denominator
    # The interval always holds p; clamping to it removes rounding (4 of 4 gives high < 1.0 otherwise).
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


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
        c_scale=settings.c_scale,
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
    return (
        f"the network with Gumbel search at {settings.simulations} simulations "
        f"({settings.gumbel_actions} root moves), as in selfplay"
    )


def play_match(
    weights: str, variant: Variant, search: Mapping[str, Any], opponent: str, seeds: Sequence[int]
) -> tuple[int, int]:
    """(wins, draws) of the searched model against `opponent`, one game per seed; the model takes
    seat 1 in games with an even index and seat 2 in the others."""
    board, players = variant.board, variant.players
    evaluator = load_evaluator(Path(weights), board, players, device="cpu", max_batch=1024)
    model: Player = SearchPlayer(evaluator, SearchConfig(**search))
    other: Player = RandomPlayer() if opponent == "random" else HeuristicPlayer()
    wins = draws = 0
    for seat_of_model in (0, 1):
        mine = [s for k, s in enumerate(seeds) if k % 2 == seat_of_model]
        if not mine:
            continue
        seats = [model, other] if seat_of_model == 0 else [other, model]
        finals = play_games(seats, [initial_state(board, players) for _ in mine], [game_rng(s) for s in mine])
        for final in finals:
            ranks = ranking(final)
            if ranks[seat_of_model] == 1 and ranks.count(1) == 1:
                wins += 1
            elif ranks.count(1) == players:
                draws += 1
    return wins, draws


def evaluate_model(
    weights: str, settings: LearnSettings, generation: int, games: int, workers: int
) -> tuple[WinRate, ...]:
    """The model against each opponent, `games` games each, played in `workers` child processes."""
    search = {
        "simulations": settings.simulations,
        "gumbel_actions": settings.gumbel_actions,
        "c_scale": settings.c_scale,
    }
    calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    for opponent in OPPONENTS:
        rng = np.random.default_rng([settings.seed, generation, OPPONENTS.index(opponent)])
        seeds = [int(s) for s in rng.integers(0, 2**62, size=games)]
        # Pairs of seeds stay together so each worker alternates seats evenly.
        for part in np.array_split(np.arange(games // 2), workers):
            chunk = [seeds[2 * k + j] for k in part for j in (0, 1)]
            if chunk:
                calls.append((play_match, (weights, settings.variant, search, opponent, chunk)))
    outcomes = _in_children(calls, workers)
    results = []
    for opponent in OPPONENTS:
        mine = [o for (_, args), o in zip(calls, outcomes, strict=True) if args[3] == opponent]
        wins, draws = sum(w for w, _ in mine), sum(d for _, d in mine)
        results.append(WinRate(opponent, wins, draws, games, *wilson_interval(wins, games)))
    return tuple(results)


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
        results = evaluate_model(trained.weights, settings, generation + 1, games, settings.selfplay_tasks)
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
        )
        reports.append(report)
        if on_generation is not None:
            on_generation(report)
        parent = trained.model_id
        if final:
            break
    report_all = LearnReport(settings, str(layout.root), evaluated_player_words(settings), tuple(reports))
    (layout.root / "learn_bench.json").write_text(report_all.to_json())
    return report_all


def plot_learning_curve(report: LearnReport, path: Path) -> None:
    """Win rate against each opponent per generation, with 95% intervals, over budgeted CPU-minutes
    (a PNG). matplotlib is imported here, where it is used."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=120)
    x = [g.cpu_minutes for g in report.generations]
    for opponent, marker in zip(OPPONENTS, ("o", "s"), strict=True):
        rates = [next(r for r in g.results if r.opponent == opponent) for g in report.generations]
        y = [r.rate for r in rates]
        below = [r.rate - r.low for r in rates]
        above = [r.high - r.rate for r in rates]
        axes.errorbar(x, y, yerr=[below, above], marker=marker, capsize=3, label=f"vs {opponent}")
    axes.axhline(TARGET_VS_RANDOM, linestyle=":", color="grey")
    axes.axhline(TARGET_VS_HEURISTIC, linestyle="--", color="grey")
    axes.set_xlabel("CPU-minutes of selfplay + training (evaluation not counted)")
    axes.set_ylabel("win rate (95% Wilson interval)")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"{report.settings.variant}: {report.evaluated_player}", fontsize=8)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
