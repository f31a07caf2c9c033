"""Sections of the learning core: network size, selfplay search and training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Bool, Float, Int, InvalidValue, Section

Device = Literal["auto", "cpu", "cuda"]
_DEVICE = "Where the network runs: `cuda`, `cpu`, or `auto` (cuda when a GPU is visible)."


class NetworkSection(Section):
    """Size of the residual policy/value network (stored in every checkpoint)."""

    channels: Int = Field(default=64, ge=1, description="Channels of every residual block.")
    blocks: Int = Field(default=6, ge=1, description="Number of residual blocks (depth).")
    value_hidden: Int = Field(default=128, ge=1, description="Width of the value head's hidden layer.")


class SelfplaySection(Section):
    """Selfplay tasks: Gumbel search budget, games per task, and how many tasks run at once."""

    simulations: Int = Field(default=64, ge=1, description="Search simulations per move (the search budget).")
    gumbel_actions: Int = Field(
        default=16, ge=1, description="Actions sampled at the root by Gumbel-top-k before sequential halving."
    )
    c_visit: Float = Field(
        default=50.0, gt=0, description="`c_visit` of the completed-Q transform (Gumbel MuZero)."
    )
    c_scale: Float = Field(
        default=1.0, gt=0, description="`c_scale` of the completed-Q transform (Gumbel MuZero)."
    )
    opening_sample_moves: Int = Field(
        default=4, ge=0, description="Opening moves per game sampled from the improved policy, for diversity."
    )
    full_search_fraction: Float = Field(
        default=1.0,
        gt=0,
        le=1,
        description=(
            "Share of moves searched at `simulations` and kept as training samples; the others are "
            "searched at `fast_simulations` and are not samples (KataGo's playout cap randomization: "
            "more games, so more value targets, per CPU-hour)."
        ),
    )
    fast_simulations: Int = Field(
        default=4, ge=1, description="Simulations of the cheap searches (see `full_search_fraction`)."
    )
    value_search_weight: Float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Weight of the searched root value in a sample's value target; the game's outcome has "
            "the rest (0: outcome only)."
        ),
    )
    bootstrap_player: Literal["random", "heuristic"] = Field(
        default="heuristic", description="Who plays generation 0, before any model exists."
    )
    games_per_task: Int = Field(
        default=64, ge=1, description="Games one selfplay task plays before it publishes its shard."
    )
    tasks_in_flight: Int = Field(
        default=8,
        ge=1,
        description="Selfplay tasks kept queued or running for the whole run, shared by the curriculum.",
    )
    yield_to_training_and_evaluation: Bool = Field(
        default=False,
        description=(
            "Count the variant's queued or running training and evaluation tasks against its "
            "selfplay share: on a machine with a fixed number of slots (the local executor) they "
            "then start as soon as a selfplay task ends instead of queueing behind new selfplay, "
            "so a decision comes minutes sooner. Leave off where they run on other nodes (Slurm)."
        ),
    )
    concurrent_games: Int = Field(
        default=32,
        ge=1,
        description="Games one task plays at once, sharing one batched network call per simulation step.",
    )
    max_batch_size: Int = Field(
        default=1024,
        ge=1,
        description="Most positions in one network call; larger requests are split (memory bound).",
    )
    device: Device = Field(default="auto", description=_DEVICE)
    walltime_margin_s: Int = Field(
        default=300,
        ge=0,
        description="Stop starting games when the Slurm walltime is this near; flush and exit cleanly.",
    )


class ReplayWindow(Section):
    """Samples a training job reads: the newest `window(N)` of all `N` samples, growing sub-linearly.

    `window(N) = N` while `N <= min_samples`, else
    `min_samples * (1 + growth * ((N / min_samples) ** exponent - 1) / exponent)`, capped at `max_samples`
    (the KataGo rule).
    """

    min_samples: Int = Field(
        default=250_000, ge=1, description="Window size below which all samples are used."
    )
    max_samples: Int = Field(default=5_000_000, ge=1, description="Largest window.")
    exponent: Float = Field(
        default=0.75, gt=0, le=1, description="Growth exponent of the window beyond `min_samples`."
    )
    growth: Float = Field(default=0.4, ge=0, description="Growth factor of the window beyond `min_samples`.")

    @model_validator(mode="after")
    def _ordered(self) -> ReplayWindow:
        if self.max_samples < self.min_samples:
            raise InvalidValue(
                f"max_samples ({self.max_samples}) is below min_samples ({self.min_samples})",
                "make max_samples at least min_samples",
                key="max_samples",
            )
        return self


class TrainingSection(Section):
    """When to train and how: trigger, replay window, steps and optimizer."""

    trigger_samples: Int = Field(
        default=100_000,
        ge=1,
        description="New selfplay samples since the last training that trigger the next one.",
    )
    bootstrap_trigger_samples: Int | None = Field(
        default=None,
        ge=1,
        description="The trigger while the bootstrap player still plays selfplay (no model promoted "
        "yet); null uses `trigger_samples`. Its games are cheap, and the first model learns from them alone.",
    )
    parent: Literal["best", "latest"] = Field(
        default="best",
        description=(
            "What a training starts from: `best`, the promoted model, or `latest`, the last model "
            "any training made, promoted or not (AlphaGo Zero's continuous training: a generation "
            "too small to pass the gate alone still adds to the next; selfplay always plays the "
            "best). A promotion or rollback by hand or by a shadow check restarts it from the best."
        ),
    )
    samples_per_new_sample: Float = Field(
        default=4.0,
        gt=0,
        description="Samples trained per new sample: a job runs `new_samples * this / batch_size` steps, "
        "clamped to [min_steps, max_steps].",
    )
    min_steps: Int = Field(default=100, ge=1, description="Fewest optimizer steps of one training job.")
    max_steps: Int = Field(default=20_000, ge=1, description="Most optimizer steps of one training job.")
    batch_size: Int = Field(
        default=256, ge=1, description="Samples per optimizer step (summed over all GPUs)."
    )
    optimizer: Literal["adamw", "sgd"] = Field(
        default="adamw", description="`adamw`, or `sgd` with momentum."
    )
    lr: Float = Field(default=1e-3, gt=0, description="Peak learning rate of the cosine schedule.")
    warmup_steps: Int = Field(default=100, ge=0, description="Linear warm-up steps before the cosine decay.")
    momentum: Float = Field(default=0.9, ge=0, lt=1, description="Momentum of `sgd` (unused by `adamw`).")
    weight_decay: Float = Field(default=1e-4, ge=0, description="Decoupled weight decay.")
    grad_clip: Float | None = Field(
        default=1.0, gt=0, description="Clip the gradient norm to this; null disables clipping."
    )
    value_loss_weight: Float = Field(
        default=1.0, gt=0, description="Weight of the value loss next to the policy loss."
    )
    aux_ownership_weight: Float = Field(
        default=0.0,
        ge=0,
        description="Weight of the auxiliary ownership loss (KataGo): per cell cross-entropy against who "
        "owns it as territory at the game's end. Positive: the network gets the ownership head (training "
        "only; a parent without it gets a fresh one, search never runs it); 0: off.",
    )
    aux_score_weight: Float = Field(
        default=0.0,
        ge=0,
        description="Weight of the auxiliary score loss: squared error of each seat's final territory "
        "and eliminated-ring shares. Positive: the network gets the score head (as for "
        "`aux_ownership_weight`); 0: off.",
    )
    validation_fraction: Float = Field(
        default=0.05, ge=0, lt=0.5, description="Share of the window held out to report validation losses."
    )
    checkpoint_every_steps: Int = Field(
        default=500, ge=1, description="Steps between checkpoints a preempted job resumes from."
    )
    symmetry_augmentation: Bool = Field(
        default=True, description="Apply a random board symmetry to each sample at load time."
    )
    device: Device = Field(default="auto", description=_DEVICE)
    bf16: Bool = Field(default=True, description="bf16 autocast on GPU (ignored on CPU).")
    dataloader_workers: Int = Field(
        default=2,
        ge=0,
        description="Threads building the next batches while a step runs; 0 builds them inline.",
    )
    replay_window: ReplayWindow = Field(default=ReplayWindow(), description="Replay window.")

    @model_validator(mode="after")
    def _steps_ordered(self) -> TrainingSection:
        if self.max_steps < self.min_steps:
            raise InvalidValue(
                f"max_steps ({self.max_steps}) is below min_steps ({self.min_steps})",
                "make max_steps at least min_steps",
                key="max_steps",
            )
        return self
