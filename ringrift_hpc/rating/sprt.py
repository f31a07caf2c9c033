"""Sequential probability ratio test of a candidate against the best, on game groups.

Sample. One game group (seat-rotated, one opening) is one sample; its score is the candidate's
share of comparisons won against the baseline's seats over the group, ties half, in [0, 1].
With 2 players this is fishtest's pentanomial pair (0, 1/4, 1/2, 3/4, 1); with 3-4 players it
is the same idea over all rotations. Rotating seats cancels the first-mover advantage, and
scoring the group rather than the game captures the correlation between its games.

Hypotheses, on the logistic Elo scale of the ratings: the candidate's expected group score is
s0 = L(elo0) (H0, not better) or s1 = L(elo1) (H1, better), L(e) = 1 / (1 + 10^(-e/400)).
(Under Plackett-Luce the expected share of pairwise comparisons won is L(elo) for any player
count, so one scale serves 2-4 players.)

Statistic: the generalized log-likelihood ratio under the normal approximation with the
empirical mean x and variance v of the N group scores (fishtest's GSPRT):

    LLR = N * (s1 - s0) * (2x - s0 - s1) / (2v)

v is regularized with one pseudo-group of the largest possible variance (1/4),
v = (N * v_hat + 1/4) / (N + 1): a streak of identical group scores (v_hat = 0) cannot make
the ratio infinite, and the effect vanishes as N grows.

Decision (Wald bounds): accept H1 when LLR >= log((1 - beta) / alpha), reject when
LLR <= log(beta / (1 - alpha)), otherwise continue; nothing is decided before `min_groups`,
and at `max_groups` a test that has not accepted rejects: a candidate is only promoted on
evidence, never for running out of games.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ringrift_hpc.config.gating import SprtSection
from ringrift_hpc.rating.records import MatchGroup

Status = Literal["accept", "reject", "continue"]
ACCEPT: Status = "accept"
REJECT: Status = "reject"
CONTINUE: Status = "continue"
_CODES: tuple[Status, ...] = (CONTINUE, ACCEPT, REJECT)  # decision codes 0, 1, 2
PRIOR_VARIANCE = 0.25  # variance of the pseudo-group: the largest a score in [0, 1] can have

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SprtError(ValueError):
    """The test cannot be run on this input (no groups, a score outside [0, 1], bad parameters)."""


def expected_score(elo: float) -> float:
    """The expected score of a player `elo` above its opponent (logistic Elo)."""
    return float(1.0 / (1.0 + 10.0 ** (-elo / 400.0)))


@dataclass(frozen=True)
class SprtParams:
    """The test's configuration (see `SprtSection`)."""

    elo0: float
    elo1: float
    alpha: float
    beta: float
    min_groups: int
    max_groups: int

    def __post_init__(self) -> None:
        if not self.elo1 > self.elo0:
            raise SprtError(f"elo1 ({self.elo1:g}) must be greater than elo0 ({self.elo0:g})")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1):
            raise SprtError(
                f"alpha ({self.alpha:g}) and beta ({self.beta:g}) must lie strictly between 0 and 1"
            )
        if not 1 <= self.min_groups <= self.max_groups:
            raise SprtError(f"need 1 <= min_groups ({self.min_groups}) <= max_groups ({self.max_groups})")

    @classmethod
    def from_section(cls, section: SprtSection) -> SprtParams:
        return cls(
            elo0=section.elo0,
            elo1=section.elo1,
            alpha=section.alpha,
            beta=section.beta,
            min_groups=section.min_groups,
            max_groups=section.max_groups,
        )

    @property
    def lower_bound(self) -> float:
        return math.log(self.beta / (1.0 - self.alpha))

    @property
    def upper_bound(self) -> float:
        return math.log((1.0 - self.beta) / self.alpha)


@dataclass(frozen=True)
class SprtResult:
    """The state of the test after `groups` groups."""

    status: Status
    llr: float
    lower_bound: float
    upper_bound: float
    groups: int
    mean: float  # mean group score of the candidate
    variance: float  # regularized variance of one group score
    capped: bool  # decided (rejected) because `max_groups` was reached
    params: SprtParams

    @property
    def elo_estimate(self) -> float:
        """The Elo difference whose expected score is the observed mean (clipped at +-1000)."""
        mean = min(max(self.mean, 1e-3), 1 - 1e-3)
        return max(-1000.0, min(1000.0, -400.0 * math.log10(1.0 / mean - 1.0)))

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["elo_estimate"] = round(self.elo_estimate, 2)
        return doc


def llr_from_sums(
    groups: FloatArray | float, total: FloatArray | float, squares: FloatArray | float, s0: float, s1: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(LLR, mean, regularized variance) from the count, sum and sum of squares of group scores.

    Works elementwise on arrays, so the simulation harness runs this very function.
    """
    n = np.asarray(groups, dtype=np.float64)
    mean = np.asarray(total, dtype=np.float64) / n
    raw = np.maximum(np.asarray(squares, dtype=np.float64) / n - mean * mean, 0.0)
    variance = (n * raw + PRIOR_VARIANCE) / (n + 1.0)
    llr = n * (s1 - s0) * (2.0 * mean - s0 - s1) / (2.0 * variance)
    return llr, mean, variance


def decision_codes(llr: FloatArray, groups: FloatArray | IntArray, params: SprtParams) -> IntArray:
    """Elementwise decision: 0 continue, 1 accept, 2 reject (see the module docstring)."""
    n = np.asarray(groups)
    ready = n >= params.min_groups
    accept = ready & (llr >= params.upper_bound)
    reject = ready & ~accept & ((llr <= params.lower_bound) | (n >= params.max_groups))
    return np.where(accept, 1, np.where(reject, 2, 0)).astype(np.int64)


def sprt_test(scores: Sequence[float], params: SprtParams) -> SprtResult:
    """Run the test on the group scores played so far (in their pre-registered order)."""
    if not scores:
        raise SprtError(
            "the SPRT got zero game groups: an evaluation without games is an error, never a pass"
        )
    values = np.asarray(scores, dtype=np.float64)
    if not np.all((values >= 0.0) & (values <= 1.0)):
        raise SprtError(
            f"group scores must lie in [0, 1]; got {values[(values < 0) | (values > 1)][:3].tolist()}"
        )
    groups = values.size
    llr, mean, variance = llr_from_sums(
        groups,
        float(values.sum()),
        float(values @ values),
        expected_score(params.elo0),
        expected_score(params.elo1),
    )
    code = int(decision_codes(llr, np.asarray(groups), params))
    status = _CODES[code]
    return SprtResult(
        status=status,
        llr=float(llr),
        lower_bound=params.lower_bound,
        upper_bound=params.upper_bound,
        groups=groups,
        mean=float(mean),
        variance=float(variance),
        capped=status == REJECT and params.lower_bound < float(llr) < params.upper_bound,
        params=params,
    )


def group_score(group: MatchGroup, candidate: str, baseline: str) -> float:
    """The candidate's share of comparisons won against the baseline's seats in `group`."""
    points, comparisons = group.head_to_head(candidate, baseline)
    if comparisons == 0:
        raise SprtError(
            f"{group.variant} group with lineup {[p.id for p in group.lineup]} does not seat both "
            f"{candidate} and {baseline}; only candidate-versus-baseline groups enter the SPRT"
        )
    return points / comparisons
