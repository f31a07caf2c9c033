"""What the learn bench runs; apart from the bench, which imports torch, so that
`ringrift-hpc bench learn --help` and the other commands start fast (targets: learn_targets)."""

from __future__ import annotations

from dataclasses import dataclass

from ringrift_hpc.config import Variant


@dataclass(frozen=True)
class LearnSettings:
    """What the bench runs; the defaults are the configuration recorded in docs/benchmarks.md."""

    variant: Variant = Variant(board="square8", players=2)
    budget_cpu_minutes: float = 4.0  # selfplay + training CPU; evaluation is not counted
    max_generations: int = 20
    channels: int = 32
    blocks: int = 4
    value_hidden: int = 64
    bootstrap_player: str = "heuristic"
    bootstrap_games: int = 400
    games_per_generation: int = 128  # search selfplay games per generation, split over the tasks
    selfplay_tasks: int = 2  # child processes playing at once
    simulations: int = 64  # selfplay's full searches
    # The evaluated player searches deeper than selfplay's full searches, as a player does in a
    # match (docs/benchmarks.md: at 64 model 1 and the last model score 12-14 points less).
    eval_simulations: int = 128
    gumbel_actions: int = 8
    # The evaluated player checks for decisive moves (SearchConfig.decisive_moves): it wins when
    # it can within its turn and does not allow the opponent such a win (docs/benchmarks.md,
    # the methods table's decisive-moves row). Selfplay searches without the check.
    eval_decisive_moves: bool = True
    opening_sample_moves: int = 4
    full_search_fraction: float = 0.25  # playout cap randomization: the rest are cheap searches
    fast_simulations: int = 16
    value_search_weight: float = 0.0
    aux_ownership_weight: float = 0.0  # training.aux_ownership_weight: 0 = no ownership head
    aux_score_weight: float = 0.0  # training.aux_score_weight: 0 = no score head
    # Games a selfplay task plays at once: with the playout cap only a quarter of them run the full
    # search, so at 16 its network calls held ~4 positions; 64 made the same games ~1.6x cheaper
    # (docs/benchmarks.md, the methods table's concurrency row).
    concurrent_games: int = 64
    samples_per_new_sample: float = 4.0
    min_steps: int = 100
    max_steps: int = 1500
    batch_size: int = 128
    lr: float = 2.0e-3
    window_min_samples: int = 30_000
    window_max_samples: int = 60_000
    eval_games: int = 40  # per opponent after each intermediate generation
    final_eval_games: int = 200  # per opponent for the last model
    first_vs_last: bool = True  # the last model plays model 1, final_eval_games games (2+ models)
    seed: int = 0

    def __post_init__(self) -> None:
        positive = (
            "max_generations",
            "channels",
            "blocks",
            "value_hidden",
            "bootstrap_games",
            "games_per_generation",
            "selfplay_tasks",
            "simulations",
            "eval_simulations",
            "fast_simulations",
            "gumbel_actions",
            "concurrent_games",
            "min_steps",
            "max_steps",
            "batch_size",
        )
        problems = [
            f"{name} must be at least 1, got {getattr(self, name)}"
            for name in positive
            if getattr(self, name) < 1
        ]
        for name in ("eval_games", "final_eval_games"):
            games = getattr(self, name)
            players = self.variant.players
            if games < players or games % players:
                problems.append(
                    f"{name} must be a positive multiple of {players} (the model takes each of the "
                    f"{players} seats equally often), got {games}"
                )
        for name in ("aux_ownership_weight", "aux_score_weight"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be at least 0, got {getattr(self, name)}")
        if not self.budget_cpu_minutes > 0:
            problems.append(f"budget_cpu_minutes must be positive, got {self.budget_cpu_minutes}")
        if self.games_per_generation < self.selfplay_tasks or self.bootstrap_games < self.selfplay_tasks:
            problems.append("bootstrap_games and games_per_generation must be at least selfplay_tasks")
        if problems:
            raise ValueError("invalid learn bench settings:\n  " + "\n  ".join(problems))
