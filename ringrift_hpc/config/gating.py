"""Sections deciding what is better: evaluation, the promotion gate and the curriculum."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Bool, Float, Int, InvalidValue, Section
from .learning import Device


class EvaluationSection(Section):
    """Evaluation tasks: seat-rotated game groups, the periodic rating tournament and the shadow checks."""

    simulations: Int | None = Field(
        default=None,
        ge=1,
        description="Search simulations per move in evaluation games; null uses `selfplay.simulations`.",
    )
    decisive_moves: Bool = Field(
        default=False,
        description="Searching players in evaluation games check for decisive moves: a move that wins "
        "within the mover's turn is played, and a move that allows the opponent one is avoided "
        "(docs/benchmarks.md, the learning methods table: about +8-10 points against the heuristic at 128 "
        "simulations). Selfplay searches without the check.",
    )
    groups_per_task: Int = Field(
        default=8,
        ge=1,
        description="Game groups one evaluation task plays (a group seats every participant in every seat).",
    )
    tasks_per_batch: Int = Field(
        default=4, ge=1, description="Evaluation tasks submitted together before the SPRT is updated."
    )
    concurrent_games: Int = Field(default=16, ge=1, description="Games one evaluation task plays at once.")
    device: Device = Field(default="auto", description="Where the network runs: `cuda`, `cpu`, or `auto`.")
    tournament_every_generations: Int = Field(
        default=5,
        ge=1,
        description="Generations between rating tournaments among recent bests and the anchors.",
    )
    tournament_recent_bests: Int = Field(
        default=8, ge=1, description="Recent best models that enter a rating tournament."
    )
    tournament_groups_per_pair: Int = Field(
        default=10, ge=1, description="Game groups per pair of participants in a rating tournament."
    )
    confidence: Float = Field(
        default=0.95, gt=0, lt=1, description="Level of the rating confidence intervals."
    )
    rating_zero: Literal["random", "heuristic"] = Field(
        default="random",
        description="The player pinned at 0 Elo on the leaderboards. A model that always beats random "
        "has no upper bound on its rating above random, so its interval is wide; with `heuristic` "
        "models are rated against the player they are measured against, and their intervals shrink "
        "with the anchor games.",
    )
    shadow_every_s: Float | None = Field(
        default=300.0,
        gt=0,
        description="Seconds between shadow checks: the best replays its predecessor and the anchors, and is "
        'rolled back when it proves weaker (docs/controller.md, "Shadow evaluation"); null turns them off.',
    )
    shadow_groups_per_pair: Int = Field(
        default=4, ge=1, description="Game groups per pair of participants in one shadow check."
    )
    shadow_rollback_margin_elo: Float = Field(
        default=30.0,
        ge=0,
        description="Elo by which the best must be weaker than its predecessor for an automatic rollback.",
    )
    shadow_confidence: Float = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="One-sided confidence that the best is weaker by more than the margin before it is rolled "
        "back; a best is cleared (no more checks) once as sure it is not.",
    )


class SprtSection(Section):
    """Sequential probability ratio test of candidate against best, on game groups."""

    elo0: Float = Field(default=0.0, description="Elo gain of the null hypothesis (candidate no better).")
    elo1: Float = Field(
        default=30.0, description="Elo gain of the alternative (candidate better); above `elo0`."
    )
    alpha: Float = Field(
        default=0.05, gt=0, lt=1, description="False-accept rate: promoting a candidate that is not better."
    )
    beta: Float = Field(
        default=0.1, gt=0, lt=1, description="False-reject rate: rejecting a candidate that is better."
    )
    min_groups: Int = Field(default=20, ge=1, description="Game groups played before the test may decide.")
    max_groups: Int = Field(
        default=800,
        ge=1,
        description="Game groups after which an undecided test rejects the candidate. Too low a cap costs "
        "power: with elo1 30 and 30% draws, a cap of 400 rejects 22% of real +30 Elo candidates (beta 0.1); "
        "800 keeps the false-reject rate at beta (`tests/rating/test_rating_sprt.py`).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SprtSection:
        if self.elo1 <= self.elo0:
            raise InvalidValue(
                f"elo1 ({self.elo1:g}) must be greater than elo0 ({self.elo0:g})",
                "set elo1 above elo0, e.g. elo0: 0 and elo1: 30",
                key="elo1",
            )
        if self.max_groups < self.min_groups:
            raise InvalidValue(
                f"max_groups ({self.max_groups}) is below min_groups ({self.min_groups})",
                "make max_groups at least min_groups",
                key="max_groups",
            )
        return self


class AnchorGate(Section):
    """One fixed opponent of the regression gate, played at the selfplay search budget."""

    player: Literal["random", "heuristic"] = Field(description="The anchor player.")
    groups: Int = Field(default=20, ge=1, description="Game groups the candidate plays against this anchor.")
    min_score: Float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Lowest score (0 to 1, draws half) the candidate may have against the anchor.",
    )
    max_score_drop: Float | None = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Most the candidate's score may fall below the current best's against this anchor; "
        "null skips the comparison.",
    )


class PromotionSection(Section):
    """The one promotion gate: SPRT against the best, plus the regression gate against anchors."""

    sprt: SprtSection = Field(default=SprtSection(), description="Candidate-versus-best test.")
    anchors: tuple[AnchorGate, ...] = Field(
        default=(
            AnchorGate(player="random", groups=20, min_score=0.5, max_score_drop=0.1),
            AnchorGate(player="heuristic", groups=20, min_score=0.0, max_score_drop=0.1),
        ),
        description="Regression gate: every anchor must pass for a promotion.",
    )

    @field_validator("anchors")
    @classmethod
    def _distinct(cls, anchors: tuple[AnchorGate, ...]) -> tuple[AnchorGate, ...]:
        players = [a.player for a in anchors]
        repeated = sorted({p for p in players if players.count(p) > 1})
        if repeated:
            raise InvalidValue(
                f"anchor {', '.join(repeated)} listed more than once", "list each anchor player once"
            )
        return anchors


class CurriculumSection(Section):
    """How selfplay capacity is shared among variants.

    Each variant's weight grows when its rating improves slowly or it has little data; weights are
    relative to an equal share (1.0) and clamped to `[min_weight, max_weight]`.
    """

    enabled: Bool = Field(default=True, description="Adapt weights; false shares selfplay capacity equally.")
    min_weight: Float = Field(
        default=0.5, gt=0, le=1, description="Lowest weight of a variant (1.0 = equal share)."
    )
    max_weight: Float = Field(
        default=2.0, ge=1, description="Highest weight of a variant (1.0 = equal share)."
    )
    smoothing: Float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of the previous weight kept at each update (exponential smoothing).",
    )
    lookback_generations: Int = Field(
        default=5, ge=1, description="Generations over which a variant's rating progress is measured."
    )
    data_share: Float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Blend between data scarcity (1) and slow rating progress (0) in the weights.",
    )
