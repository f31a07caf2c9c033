"""What a preempted training job resumes from: one atomically replaced file per job.

Every random choice of a training step (data order, symmetries) is derived from
(seed, step, rank) and the learning rate is a pure function of the step, so the model, the
optimizer state, the step and the recent losses are all the state there is: a job resumed
from step k continues exactly as the uninterrupted job would have after step k.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ringrift_hpc.store import atomic_write_bytes

FORMAT = "ringrift-hpc-train-state/1"


class TrainStateError(ValueError):
    """A resume file that cannot be used for this job."""


@dataclass(frozen=True)
class TrainState:
    """A training job after `step` optimizer steps."""

    job_key: str  # the spec's key: a file of another job is never resumed
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    recent_losses: tuple[tuple[float, float], ...]  # (policy, value) of the last steps, oldest first
    # (ownership, score) of the last steps while an auxiliary head is on, else empty.
    recent_aux_losses: tuple[tuple[float, float], ...] = ()


def save_train_state(path: Path, state: TrainState) -> None:
    """Replace the resume file atomically: a kill mid-write leaves the previous one."""
    buffer = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "job_key": state.job_key,
            "step": state.step,
            "model": {key: value.detach().cpu() for key, value in state.model.items()},
            "optimizer": state.optimizer,
            "recent_losses": [list(pair) for pair in state.recent_losses],
            "recent_aux_losses": [list(pair) for pair in state.recent_aux_losses],
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_train_state(path: Path, *, job_key: str) -> TrainState | None:
    """The resume state at `path`, or None when the job has not checkpointed yet."""
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        raise TrainStateError(
            f"{path}: the training resume file is unreadable ({type(error).__name__}: {error}); "
            "move it aside to restart this job from its parent model"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainStateError(
            f"{path}: not a {FORMAT} file (field 'format'); move it aside to restart this job"
        )
    if payload["job_key"] != job_key:
        raise TrainStateError(
            f"{path}: field 'job_key' is {payload['job_key']!r} but this job is {job_key!r}; "
            "the file belongs to another job: move it aside"
        )
    return TrainState(
        job_key=payload["job_key"],
        step=int(payload["step"]),
        model=payload["model"],
        optimizer=payload["optimizer"],
        recent_losses=tuple((float(p), float(v)) for p, v in payload["recent_losses"]),
        # Absent from files written before the auxiliary heads existed.
        recent_aux_losses=tuple((float(o), float(s)) for o, s in payload.get("recent_aux_losses", ())),
    )
