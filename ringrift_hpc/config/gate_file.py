"""A promotion gate file: the SPRT and anchor settings kept apart from a run's config.

Sites that judge candidates by settings of their own (a stricter SPRT, other anchors) keep them
in such a file (`config/promotion_daemon.yaml` is the example) and pass it to
`ringrift-hpc promote --gate-config FILE`. Its `promotion` section has exactly the keys of a run
config's `promotion` section (docs/config.md); nothing else may appear in the file.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from .base import FrozenModel
from .gating import PromotionSection
from .loading import load_yaml_model

_START_FROM = "start from config/promotion_daemon.yaml (docs/promotion.md describes it)"


class GateFile(FrozenModel):
    """A promotion gate file: its version and the gate."""

    version: Literal[1] = Field(default=1, description="Gate file format version; only 1 exists.")
    promotion: PromotionSection = Field(
        description="The gate: SPRT against the best plus the anchor regression gate, keys as in a "
        "run config's `promotion` section."
    )


def load_gate_file(path: str | os.PathLike[str]) -> PromotionSection:
    """The gate of the file at `path`; ConfigError names the file, each key at fault and its fix."""
    return load_yaml_model(path, GateFile, start_from=_START_FROM).promotion
