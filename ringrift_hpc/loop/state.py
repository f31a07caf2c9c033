"""The controller's state as a fold of its journal: `apply_event(state, event) -> state`.

Every decision the controller makes is first a journal record; the state is nothing but those
records folded in order (`replay_state`), so `state.json` is a snapshot that can always be
rebuilt from `journal.jsonl`. Jobs are keyed by the identity of the work they do (variant,
generation and task index for selfplay; the evaluation and task name for matches), not by the
scheduler's id, so a resubmission replaces its failed attempt and a submission whose
`submitted` record never landed (the controller died in between) stays visible as an orphan.

The journal's events are listed in `loop.events`; `FOLD` holds one handler per event type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

from ringrift_hpc.cluster.executor import JobRef, JobStatus
from ringrift_hpc.cluster.purposes import SHADOW_ID_PREFIX, MatchTaskId, Purpose
from ringrift_hpc.loop.events import (
    BestChanged,
    Coordinator,
    Decision,
    DecisionRecorded,
    Error,
    EvaluationFailed,
    EvaluationStarted,
    Event,
    IntentTask,
    JobCancelled,
    JobEnded,
    JournalEvent,
    Leaderboard,
    MatchIngested,
    ModelIngested,
    Quarantined,
    RequestHandled,
    ShadowChecked,
    ShadowRollback,
    ShadowStarted,
    ShardIngested,
    SubmitIntent,
    SubmitRefused,
    Submitted,
    Tick,
    TournamentStarted,
    TrainingFailed,
    TrainingStarted,
    UnknownEvent,
    read_events,
)
from ringrift_hpc.store.journal import gc_paused

Phase = Literal["collect", "train", "evaluate"]
_T = TypeVar("_T")
RECENT = 20  # recent errors and quarantined artifacts kept in the snapshot


@dataclass(frozen=True)
class JobRecord:
    """One unit of work and its latest attempt."""

    task: str  # identity, e.g. "selfplay/square8_2p/000000/000003"
    purpose: Purpose
    variant: str
    spec: str  # the spec JSON, for resubmission
    attempt: int  # 0 for the first submission
    ref: JobRef | None  # None: intent journaled, submission not confirmed
    # intent, pending, running, failed (awaiting retry), error (gave up), deferred (refused by
    # the scheduler, submitted again at retry_at), refused (refused too often) or completed
    # (ended well; kept while the variant awaits its artifact, see `awaits_artifact`)
    status: str
    retry_at: float | None = None
    error: str = ""
    not_counted: bool = False  # failed under HALT or lost with its node: the rerun is not a retry
    lost: int = 0  # times its node failed or it was preempted (`policies.MAX_LOST_RERUNS`)
    refusals: int = 0  # times the scheduler refused this attempt's submission
    ended_at: float | None = None  # when a completed job's end was journaled
    # A match task whose file was ingested while it still ran: its end then leaves nothing awaited.
    match_ingested: bool = False

    @property
    def in_flight(self) -> bool:
        """Submitted (or about to be) and not yet finished or given up."""
        return self.status in ("intent", "pending", "running", "unknown", "failed", "deferred")

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "purpose": self.purpose,
            "variant": self.variant,
            "attempt": self.attempt,
            "ref": self.ref.to_json() if self.ref else None,
            "status": self.status,
            "retry_at": self.retry_at,
            "error": self.error,
        }


@dataclass(frozen=True)
class VariantState:
    """Where one variant is in its cycle (see `variant_machine`)."""

    variant: str
    generation: int = 0  # changes of the best model; 0 plays the bootstrap player
    best_model: str | None = None
    best_participant: str | None = None
    decisions: int = 0  # candidates promoted or rejected
    promotions: int = 0
    samples_total: int = 0
    samples_at_training: int = 0  # samples_total when the last training was started
    shards: int = 0
    next_task: int = 0  # next selfplay task index (never reused)
    phase: Phase = "collect"
    train_key: str | None = None
    candidate: str | None = None
    # The last model a training made (the parent of the next with `training.parent: latest`).
    trained_model: str | None = None
    eval_id: str | None = None
    eval_batches: int = 0
    tournaments_at: int = 0  # `decisions` when the last tournament started
    last_decision: dict[str, Any] | None = None
    decision_history: tuple[bool, ...] = ()  # promoted? per decision, oldest first
    # Shadow checks (`loop.shadow`): the participant the best is checked against (its predecessor;
    # None: no predecessor, or the best was cleared), when the clock to the next check started
    # (the best's installation or the last check's start), the check in flight ({eval_id, best,
    # against}), checks started, the last result and the automatic rollbacks.
    shadow_against: str | None = None
    shadow_clock: float | None = None
    shadow_check: dict[str, str] | None = None
    shadow_checks: int = 0
    last_shadow: dict[str, Any] | None = None
    auto_rollbacks: int = 0

    @property
    def samples_since_training(self) -> int:
        return self.samples_total - self.samples_at_training

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "generation": self.generation,
            "best_model": self.best_model,
            "best_participant": self.best_participant,
            "decisions": self.decisions,
            "promotions": self.promotions,
            "samples_total": self.samples_total,
            "samples_since_training": self.samples_since_training,
            "shards": self.shards,
            "next_task": self.next_task,
            "phase": self.phase,
            "train_key": self.train_key,
            "candidate": self.candidate,
            "eval_id": self.eval_id,
            "eval_batches": self.eval_batches,
            "tournaments_at": self.tournaments_at,
            "last_decision": self.last_decision,
        }


@dataclass(frozen=True)
class RunState:
    """Everything the controller knows, folded from the journal."""

    variants: Mapping[str, VariantState]
    jobs: Mapping[str, JobRecord] = field(default_factory=dict)
    ingested: int = 0  # artifacts ingested (which ones: `loop.ingest.ArtifactIndex`)
    quarantined: tuple[dict[str, Any], ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    events: int = 0

    @classmethod
    def empty(cls, variants: Iterable[str]) -> RunState:
        return cls(variants={name: VariantState(name) for name in variants})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ringrift-hpc.state",
            "format_version": 1,
            "variants": {name: v.to_json() for name, v in self.variants.items()},
            "jobs": [job.to_json() for job in sorted(self.jobs.values(), key=lambda j: j.task)],
            "ingested": self.ingested,
            "quarantined": list(self.quarantined),
            "errors": list(self.errors),
            "events": self.events,
        }


def replace(obj: _T, /, **changes: Any) -> _T:
    """`dataclasses.replace` for the state's classes (frozen, nothing checked in `__init__`)
    without calling `__init__`: a restart folds a million events, several replaces each."""
    if not changes.keys() <= obj.__dict__.keys():
        raise TypeError(f"{type(obj).__name__} has no field {sorted(changes.keys() - obj.__dict__.keys())}")
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


def _variant(state: RunState, name: str) -> VariantState:
    return state.variants.get(name, VariantState(name))


def _with_variant(state: RunState, updated: VariantState) -> RunState:
    return replace(state, variants={**state.variants, updated.variant: updated})


def _with_jobs(state: RunState, changes: Mapping[str, JobRecord | None]) -> RunState:
    jobs = dict(state.jobs)
    for task, job in changes.items():
        if job is None:
            jobs.pop(task, None)
        else:
            jobs[task] = job
    return replace(state, jobs=jobs)


def _add_error(state: RunState, entry: dict[str, Any]) -> RunState:
    return replace(state, errors=(*state.errors, entry)[-RECENT:])


def train_task(variant: str, job_key: str | None) -> str:
    """The task identity of the training job `job_key` of `variant`."""
    return f"train/{variant}/{job_key}"


def awaits_artifact(state: RunState, job: JobRecord) -> bool:
    """The variant's phase waits on what `job` publishes: the current training's model or a
    match file of the current evaluation. Such a job is kept when it completes, so that an
    artifact seen after the job's end (a shared filesystem's lag) is not taken for a failure."""
    v = _variant(state, job.variant)
    if job.purpose == "train":
        return v.phase == "train" and job.task == train_task(v.variant, v.train_key)
    if job.purpose == "evaluate":
        return v.phase == "evaluate" and job.task.startswith(f"evaluate/{v.variant}/{v.eval_id}/")
    if job.purpose != "tournament":
        return False
    eval_id = MatchTaskId.parse(job.task).eval_id
    if eval_id.startswith(SHADOW_ID_PREFIX):  # the current shadow check's games
        return v.shadow_check is not None and eval_id == v.shadow_check["eval_id"]
    # The leaderboard's games: kept until the file is ingested (`_match_ingested`); a job whose
    # file was ingested before its end was seen is not kept (`_job_ended`).
    return True


def _drop_completed(state: RunState, variant: str, purpose: Purpose, *, keep: str | None = None) -> RunState:
    """Forget the completed jobs of `variant` and `purpose` (but those of evaluation ids starting
    with `keep`, which only match purposes have): their phase ended."""
    done = [
        t
        for t, j in state.jobs.items()
        if j.variant == variant
        and j.purpose == purpose
        and j.status == "completed"
        and not (keep is not None and MatchTaskId.parse(t).eval_id.startswith(keep))
    ]
    return _with_jobs(state, dict.fromkeys(done)) if done else state


def _selfplay_index(task: str) -> int:
    return int(task.rsplit("/", 1)[1])


def _submit_intent(state: RunState, e: SubmitIntent) -> RunState:
    def record(task: IntentTask) -> JobRecord:
        new = JobRecord(task.task, e.purpose, e.variant, task.spec, task.attempt, None, "intent")
        earlier = state.jobs.get(task.task)
        # A rerun remembers how often the task was lost before, and that its file is ingested.
        return (
            new if earlier is None else replace(new, lost=earlier.lost, match_ingested=earlier.match_ingested)
        )

    jobs = {t.task: record(t) for t in e.tasks}
    state = _with_jobs(state, jobs)
    v = _variant(state, e.variant)
    started = e.started  # set on a first submission, absent on retries
    if e.purpose == "selfplay":
        top = max(_selfplay_index(t.task) for t in e.tasks)
        v = replace(v, next_task=max(v.next_task, top + 1))
    elif e.purpose == "train" and isinstance(started, TrainingStarted):
        v = replace(v, phase="train", train_key=started.job_key, samples_at_training=started.samples_total)
    elif e.purpose == "evaluate" and isinstance(started, EvaluationStarted):
        v = replace(v, eval_id=started.eval_id, eval_batches=started.batch + 1)
    elif e.purpose == "tournament" and isinstance(started, TournamentStarted):
        v = replace(v, tournaments_at=started.decisions)
        state = _drop_completed(state, v.variant, "tournament", keep=SHADOW_ID_PREFIX)
    elif e.purpose == "tournament" and isinstance(started, ShadowStarted):
        check = {"eval_id": started.eval_id, "best": started.best, "against": started.against}
        v = replace(v, shadow_check=check, shadow_checks=v.shadow_checks + 1, shadow_clock=e.time)
    return _with_variant(state, v)


def _submitted(state: RunState, e: Submitted) -> RunState:
    changes: dict[str, JobRecord | None] = {}
    for task, ref in zip(e.tasks, e.refs):
        job = state.jobs.get(task)
        if job is not None:
            changes[task] = replace(job, ref=ref, status="pending", retry_at=None)
    return _with_jobs(state, changes)


def _submit_refused(state: RunState, e: SubmitRefused) -> RunState:
    gave_up = e.retry_at is None
    changes: dict[str, JobRecord | None] = {}
    for task in e.tasks:
        job = state.jobs.get(task)
        if job is not None and job.ref is None:
            status = "refused" if gave_up else "deferred"
            changes[task] = replace(
                job, status=status, refusals=e.attempt, retry_at=e.retry_at, error=e.error
            )
    state = _with_jobs(state, changes)
    if gave_up:
        more = f" and {len(e.tasks) - 1} more" if len(e.tasks) > 1 else ""
        error = f"refused by the scheduler {e.attempt} times: {e.error}"
        state = _add_error(state, {"task": f"{e.tasks[0]}{more}", "error": error, "time": e.time})
    return state


def _job_ended(state: RunState, e: JobEnded) -> RunState:
    job = state.jobs.get(e.task)
    if job is None:
        return state
    if e.status is JobStatus.COMPLETED:
        kept = replace(job, status="completed", retry_at=None, ended_at=e.time)
        awaited = awaits_artifact(state, job) and not job.match_ingested
        return _with_jobs(state, {job.task: kept if awaited else None})
    gave_up = e.retry_at is None
    lost = e.status is JobStatus.LOST
    updated = replace(
        job,
        status="error" if gave_up else "failed",
        retry_at=e.retry_at,
        error=e.error or "",
        not_counted=e.halted or e.lost_rerun,
        lost=job.lost + lost,
    )
    state = _with_jobs(state, {job.task: updated})
    if gave_up:
        state = _add_error(state, {"task": job.task, "error": updated.error, "time": e.time})
    return state


def _job_cancelled(state: RunState, e: JobCancelled) -> RunState:
    return _with_jobs(state, {e.task: None})


def _ingested(state: RunState, e: ShardIngested | ModelIngested | MatchIngested) -> RunState:
    return replace(state, ingested=state.ingested + 1)


def _match_ingested(state: RunState, e: MatchIngested) -> RunState:
    state = _ingested(state, e)
    task = str(MatchTaskId("tournament", e.variant, e.eval_id, PurePosixPath(e.path).stem))
    job = state.jobs.get(task)
    if job is None:
        return state
    return _with_jobs(state, {task: None if job.status == "completed" else replace(job, match_ingested=True)})


def _shard_ingested(state: RunState, e: ShardIngested) -> RunState:
    state = _ingested(state, e)
    v = _variant(state, e.variant)
    return _with_variant(state, replace(v, samples_total=v.samples_total + e.samples, shards=v.shards + 1))


def _model_ingested(state: RunState, e: ModelIngested) -> RunState:
    state = _ingested(state, e)
    v = _variant(state, e.variant)
    if v.phase != "train" or e.job_key != v.train_key:
        return state
    state = _drop_completed(state, v.variant, "train")
    return _with_variant(
        state,
        replace(
            v, phase="evaluate", candidate=e.model_id, trained_model=e.model_id, eval_id=None, eval_batches=0
        ),
    )


def _quarantined(state: RunState, e: Quarantined) -> RunState:
    entry = {"variant": e.variant, "path": e.path, "reason": e.reason, "time": e.time}
    return replace(state, quarantined=(*state.quarantined, entry)[-RECENT:])


def _training_failed(state: RunState, e: TrainingFailed) -> RunState:
    v = _variant(state, e.variant)
    state = _add_error(state, {"variant": v.variant, "error": e.error, "time": e.time})
    state = _drop_completed(state, v.variant, "train")
    return _with_variant(state, replace(v, phase="collect", train_key=None))


def _evaluation_failed(state: RunState, e: EvaluationFailed) -> RunState:
    v = _variant(state, e.variant)
    state = _add_error(state, {"variant": v.variant, "error": e.error, "time": e.time})
    state = _drop_completed(state, v.variant, "evaluate")
    return _with_variant(state, replace(v, phase="collect", candidate=None, eval_id=None, eval_batches=0))


def _decision(state: RunState, e: Decision) -> RunState:
    v = _variant(state, e.variant)
    summary = {
        "candidate": e.candidate,
        "promote": e.promote,
        "reasons": list(e.reasons),
        "statistics": e.statistics,
        "time": e.time,
    }
    v = replace(
        v,
        phase="collect",
        candidate=None,
        eval_id=None,
        eval_batches=0,
        decisions=v.decisions + 1,
        promotions=v.promotions + e.promote,
        last_decision=summary,
        decision_history=(*v.decision_history, e.promote),
    )
    if e.promote:
        v = _new_best(v, e.model_id, e.candidate, e.best, e.time)
    return _with_variant(_drop_completed(state, v.variant, "evaluate"), v)


def _new_best(
    v: VariantState, model_id: str, participant: str, predecessor: str | None, when: float | None
) -> VariantState:
    """A new best: a new selfplay generation, and the shadow clock starts against its predecessor."""
    return replace(
        v,
        generation=v.generation + 1,
        best_model=model_id,
        best_participant=participant,
        shadow_against=predecessor,
        shadow_clock=when,
    )


def _best_changed(state: RunState, e: BestChanged) -> RunState:
    v = _variant(state, e.variant)
    v = _new_best(v, e.model_id, e.participant, e.predecessor, e.time)
    return _with_variant(state, replace(v, trained_model=e.model_id))


def _shadow_ended(state: RunState, variant: str, result: dict[str, Any]) -> tuple[RunState, VariantState]:
    """A shadow check's end: its games are in, its result is the last."""
    v = replace(_variant(state, variant), shadow_check=None, last_shadow=result)
    return _drop_completed(state, variant, "tournament"), v


def _shadow_checked(state: RunState, e: ShadowChecked) -> RunState:
    state, v = _shadow_ended(state, e.variant, {**e.result.model_dump(), "time": e.time})
    if e.result.verdict == "cleared" and e.result.best == v.best_participant:
        v = replace(v, shadow_against=None)
    return _with_variant(state, v)


def _shadow_rollback(state: RunState, e: ShadowRollback) -> RunState:
    state, v = _shadow_ended(state, e.variant, {**e.result.model_dump(), "time": e.time})
    v = _new_best(v, e.to_model, e.result.against, e.predecessor, e.time)
    return _with_variant(state, replace(v, trained_model=e.to_model, auto_rollbacks=v.auto_rollbacks + 1))


def _error(state: RunState, e: Error) -> RunState:
    return _add_error(state, {"error": e.error, "time": e.time})


def _counted(state: RunState, e: JournalEvent | UnknownEvent) -> RunState:
    """Events that change nothing but the count: kept for people and for recovery, not for the state."""
    return state


FOLD: Mapping[type[JournalEvent | UnknownEvent], Callable[[RunState, Any], RunState]] = {
    Coordinator: _counted,
    SubmitIntent: _submit_intent,
    Submitted: _submitted,
    SubmitRefused: _submit_refused,
    JobEnded: _job_ended,
    JobCancelled: _job_cancelled,
    ShardIngested: _shard_ingested,
    ModelIngested: _model_ingested,
    MatchIngested: _match_ingested,
    Quarantined: _quarantined,
    TrainingFailed: _training_failed,
    EvaluationFailed: _evaluation_failed,
    Decision: _decision,
    DecisionRecorded: _counted,
    BestChanged: _best_changed,
    ShadowChecked: _shadow_checked,
    ShadowRollback: _shadow_rollback,
    Leaderboard: _counted,
    RequestHandled: _counted,
    Tick: _counted,  # written by earlier versions at every tick; ticks are no journal events now
    Error: _error,
    UnknownEvent: _counted,  # a newer controller's event: replaying it must not stop an older one
}


def apply_event(state: RunState, event: Event | UnknownEvent) -> RunState:
    """The state after one journal event (`FOLD`'s handler of its type)."""
    return FOLD[type(event)](replace(state, events=state.events + 1), event)


def replay_state(
    variants: Iterable[str], records: Iterable[Mapping[str, Any]], *, source: str = "journal"
) -> RunState:
    """Fold a journal's records, oldest first, into the state; `source` names the file in errors."""
    return fold_events(RunState.empty(variants), read_events(records, source=source))


def fold_events(state: RunState, events: Sequence[Event | UnknownEvent]) -> RunState:
    """`apply_event` over `events`, the count added once rather than per event (a restart folds
    a million)."""
    with gc_paused():
        for event in events:
            state = FOLD[type(event)](state, event)
    return replace(state, events=state.events + len(events))
