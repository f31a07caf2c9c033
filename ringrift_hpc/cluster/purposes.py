"""The one vocabulary of jobs: what a job is for (its purpose), and what it runs on.

Every layer names a job by its purpose: the loop's journal, ``JobRef``, the scheduler's job
name, P2P job documents, the ``worker`` command, metrics labels and accounting. A purpose runs
on the Slurm resources of its resource kind (the config's ``slurm.<kind>`` sections): a
tournament plays matches, so it runs on the evaluation resources. A match task's id
(``MatchTaskId``) names its purpose, variant, evaluation and match file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
# The purposes whose jobs play matches, each task writing one match file.
_MATCH_PURPOSES: tuple[Purpose, ...] = ("evaluate", "tournament")


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


@dataclass(frozen=True)
class MatchTaskId:
    """The identity ``<purpose>/<variant>/<evaluation id>/<name>`` of a job that plays matches.

    Only evaluations and tournaments have such ids: selfplay and training name their tasks
    otherwise. The variant is an opaque string here (this layer knows nothing of the game).
    """

    purpose: Purpose
    variant: str
    eval_id: str
    name: str

    @classmethod
    def parse(cls, task: str) -> MatchTaskId:
        """``task``'s parts; ``ValueError`` naming it and the form it should have."""
        parts = task.split("/")
        if len(parts) != 4 or not all(parts) or parts[0] not in _MATCH_PURPOSES:
            raise ValueError(
                f"task id {task!r} is not a match task's <purpose>/<variant>/<evaluation id>/<name>"
                f" with purpose {' or '.join(_MATCH_PURPOSES)}"
            )
        purpose, variant, eval_id, name = parts
        return cls(check_purpose(purpose), variant, eval_id, name)

    def __str__(self) -> str:
        return f"{self.purpose}/{self.variant}/{self.eval_id}/{self.name}"


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
