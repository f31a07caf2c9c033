"""The one vocabulary of jobs: what a job is for (its purpose), and what it runs on.

Every layer names a job by its purpose: the loop's journal, ``JobRef``, the scheduler's job
name, P2P job documents, the ``worker`` command, metrics labels and accounting. A purpose runs
on the Slurm resources of its resource kind (the config's ``slurm.<kind>`` sections): a
tournament plays matches, so it runs on the evaluation resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from ringrift_hpc.config.job_kinds import JobKind

Purpose = Literal["selfplay", "train", "evaluate", "tournament"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

_RESOURCE_KIND: Mapping[Purpose, JobKind] = {
    "selfplay": "selfplay",
    "train": "train",
    "evaluate": "evaluate",
    "tournament": "evaluate",
}


# The evaluation ids of tournaments start with this; every other match file is an evaluation's.
TOURNAMENT_ID_PREFIX = "tournament-"
# Those of the controller's shadow checks (a tournament of the best against its predecessor).
SHADOW_ID_PREFIX = f"{TOURNAMENT_ID_PREFIX}shadow-"


def match_purpose(eval_id: str) -> Purpose:
    """The purpose of the job that played the match files of evaluation `eval_id`."""
    return "tournament" if eval_id.startswith(TOURNAMENT_ID_PREFIX) else "evaluate"


def check_purpose(value: object, *, what: str = "job purpose") -> Purpose:
    """``value`` as a purpose; ``ValueError`` naming it and the purposes there are."""
    for purpose in PURPOSES:
        if value == purpose:
            return purpose
    raise ValueError(f"{what} {value!r} is not one of {', '.join(PURPOSES)}")


def resource_kind(purpose: Purpose) -> JobKind:
    """The ``slurm.<kind>`` section whose resources jobs of ``purpose`` get."""
    return _RESOURCE_KIND[purpose]


def job_name(run_name: str, purpose: Purpose) -> str:
    """The scheduler's job name of a run's jobs of one purpose, e.g. ``rr-main-selfplay``.

    ``squeue --name``, ``sacct --name`` and ``scancel --name`` select a run's jobs by it. Before
    tournaments had their own name ("rr-main-tournament") they ran as "rr-main-evaluate", so the
    names of all purposes cover the jobs of earlier versions too.
    """
    return f"{run_name}-{purpose}"
