"""A promotion decision: its own module, free of numpy, so `promote` and `status` start fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PromotionDecision:
    """Promote or reject, why, and the statistics it rests on."""

    promote: bool
    variant: str
    candidate: str
    best: str | None
    reasons: tuple[str, ...]  # why it was rejected; empty when promoted
    statistics: dict[str, Any]  # plain JSON: the SPRT state and the anchor results
