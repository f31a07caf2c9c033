"""The kinds of Slurm resources a job runs on: a module of its own, free of pydantic, so that
`cluster.purposes` (and through it every CLI command) can name them without building the
config's models."""

from __future__ import annotations

from typing import Literal

JobKind = Literal["selfplay", "train", "evaluate"]
