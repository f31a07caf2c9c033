"""The controller's state as a fold of its journal: `apply_event(state, record) -> state`.

Every decision the controller makes is first a journal record; the state is nothing but those
records folded in order (`replay_state`), so `state.json` is a snapshot that can always be
rebuilt from `journal.jsonl`. Jobs are keyed by the identity of the work they do (variant,
generation and task index for selfplay; the evaluation and task name for matches), not by the
scheduler's id, so a resubmission replaces its failed attempt and a submission whose
`submitted` record never landed (the controller died in between) stays visible as an orphan.

Journal events (field ``event``):

* ``submit_intent`` {purpose, variant, kind, tasks: [{task, spec, attempt}]}: about to submit.
* ``submitted`` {tasks: [task], refs: [JobRef]}: the scheduler accepted them.
* ``job_ended`` {task, status, exit_code, detail, retry_at, error, halted}: a terminal state; a
  success removes the job, a failure waits for ``retry_at`` or, with ``retry_at`` null, is an
  error; one under HALT (``halted``) reruns after resume with the same attempt number.
* ``ingested`` {artifact: shard|model|match, variant, path, samples, model_id, job_key, eval_id}.
* ``quarantined`` {variant, path, reason}.
  A first submission carries ``started``: {job_key, samples_total} for training, {eval_id,
  batch} for an evaluation batch, {eval_id, decisions} for a tournament.
* ``job_cancelled`` {task}: cancelled by the controller because the variant is finished.
* ``training_failed`` {variant, error}: the candidate's training gave up; back to collecting.
* ``evaluation_failed`` {variant, eval_id, error}.
* ``decision`` {variant, candidate, promote, ...}; ``decision_recorded`` {variant, candidate}.
* ``best_changed`` {variant, model_id, participant}: best.json changed outside a decision.
* ``tick`` {halted, queries}; ``error`` {what}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ringrift_hpc.cluster.executor import JobRef
from ringrift_hpc.cluster.purposes import Purpose

Phase = Literal["collect", "train", "evaluate"]
RECENT = 20  # recent errors and quarantined artifacts kept in the snapshot


@dataclass(frozen=True)
class JobRecord:
    """One unit of work and its latest attempt."""

    task: str  # identity, e.g. "selfplay/square8_2p/000000/000003"
    purpose: Purpose
    variant: str
    kind: str  # executor job kind: selfplay, train or evaluate
    spec: str  # the spec JSON, for resubmission
    attempt: int  # 0 for the first submission
    ref: JobRef | None  # None: intent journaled, submission not confirmed
    status: str  # intent, pending, running, failed (awaiting retry) or error (gave up)
    retry_at: float | None = None
    error: str = ""
    halted: bool = False  # the failure happened under HALT: its rerun is not a retry

    @property
    def in_flight(self) -> bool:
        """Submitted (or about to be) and not yet finished or given up."""
        return self.status in ("intent", "pending", "running", "unknown", "failed")

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "purpose": self.purpose,
            "variant": self.variant,
            "kind": self.kind,
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
    eval_id: str | None = None
    eval_batches: int = 0
    tournaments_at: int = 0  # `decisions` when the last tournament started
    last_decision: dict[str, Any] | None = None
    decision_history: tuple[bool, ...] = ()  # promoted? per decision, oldest first

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
    ingested: frozenset[str] = frozenset()  # artifact paths relative to the run root
    quarantined: tuple[dict[str, Any], ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    ticks: int = 0
    events: int = 0

    @classmethod
    def empty(cls, variants: Iterable[str]) -> RunState:
        return cls(variants={name: VariantState(name) for name in variants})

    def jobs_of(self, variant: str, purpose: str) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.variant == variant and j.purpose == purpose]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ringrift-hpc.state",
            "format_version": 1,
            "variants": {name: v.to_json() for name, v in self.variants.items()},
            "jobs": [job.to_json() for job in sorted(self.jobs.values(), key=lambda j: j.task)],
            "ingested": len(self.ingested),
            "quarantined": list(self.quarantined),
            "errors": list(self.errors),
            "ticks": self.ticks,
            "events": self.events,
        }


def _variant(state: RunState, record: Mapping[str, Any]) -> VariantState:
    name = record["variant"]
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


def _selfplay_index(task: str) -> int:
    return int(task.rsplit("/", 1)[1])


def apply_event(state: RunState, record: Mapping[str, Any]) -> RunState:
    """The state after one journal record; unknown events change nothing but the count."""
    state = replace(state, events=state.events + 1)
    event = record.get("event")
    if event == "submit_intent":
        jobs = {
            t["task"]: JobRecord(
                t["task"],
                record["purpose"],
                record["variant"],
                record["kind"],
                t["spec"],
                t["attempt"],
                None,
                "intent",
            )
            for t in record["tasks"]
        }
        state = _with_jobs(state, jobs)
        v = _variant(state, record)
        started = record.get("started")  # set on a first submission, absent on retries
        if record["purpose"] == "selfplay":
            top = max(_selfplay_index(t["task"]) for t in record["tasks"])
            v = replace(v, next_task=max(v.next_task, top + 1))
        elif record["purpose"] == "train" and started:
            v = replace(
                v, phase="train", train_key=started["job_key"], samples_at_training=started["samples_total"]
            )
        elif record["purpose"] == "evaluate" and started:
            v = replace(v, eval_id=started["eval_id"], eval_batches=started["batch"] + 1)
        elif record["purpose"] == "tournament" and started:
            v = replace(v, tournaments_at=started["decisions"])
        return _with_variant(state, v)
    if event == "submitted":
        changes: dict[str, JobRecord | None] = {}
        for task, ref in zip(record["tasks"], record["refs"]):
            job = state.jobs.get(task)
            if job is not None:
                changes[task] = replace(job, ref=JobRef.from_json(ref), status="pending", retry_at=None)
        return _with_jobs(state, changes)
    if event == "job_ended":
        job = state.jobs.get(record["task"])
        if job is None:
            return state
        if record["status"] == "completed":
            return _with_jobs(state, {job.task: None})
        gave_up = record.get("retry_at") is None
        updated = replace(
            job,
            status="error" if gave_up else "failed",
            retry_at=record.get("retry_at"),
            error=record.get("error", ""),
            halted=bool(record.get("halted", False)),
        )
        state = _with_jobs(state, {job.task: updated})
        if gave_up:
            state = _add_error(state, {"task": job.task, "error": updated.error, "time": record.get("time")})
        return state
    if event == "job_cancelled":
        return _with_jobs(state, {record["task"]: None})
    if event == "ingested":
        state = replace(state, ingested=state.ingested | {record["path"]})
        if record["artifact"] == "shard":
            v = _variant(state, record)
            state = _with_variant(
                state, replace(v, samples_total=v.samples_total + int(record["samples"]), shards=v.shards + 1)
            )
        elif record["artifact"] == "model":
            v = _variant(state, record)
            if v.phase == "train" and record.get("job_key") == v.train_key:
                state = _with_variant(
                    state,
                    replace(v, phase="evaluate", candidate=record["model_id"], eval_id=None, eval_batches=0),
                )
        return state
    if event == "quarantined":
        entry = {k: record.get(k) for k in ("variant", "path", "reason", "time")}
        return replace(state, quarantined=(*state.quarantined, entry)[-RECENT:])
    if event == "training_failed":
        v = _variant(state, record)
        state = _add_error(
            state, {"variant": v.variant, "error": record["error"], "time": record.get("time")}
        )
        return _with_variant(state, replace(v, phase="collect", train_key=None))
    if event == "evaluation_failed":
        v = _variant(state, record)
        state = _add_error(
            state, {"variant": v.variant, "error": record["error"], "time": record.get("time")}
        )
        return _with_variant(state, replace(v, phase="collect", candidate=None, eval_id=None, eval_batches=0))
    if event == "decision":
        v = _variant(state, record)
        promoted = bool(record["promote"])
        summary = {k: record.get(k) for k in ("candidate", "promote", "reasons", "statistics", "time")}
        v = replace(
            v,
            phase="collect",
            candidate=None,
            eval_id=None,
            eval_batches=0,
            decisions=v.decisions + 1,
            promotions=v.promotions + promoted,
            last_decision=summary,
            decision_history=(*v.decision_history, promoted),
        )
        if promoted:
            v = replace(
                v,
                generation=v.generation + 1,
                best_model=record["model_id"],
                best_participant=record["candidate"],
            )
        return _with_variant(state, v)
    if event == "best_changed":
        v = _variant(state, record)
        return _with_variant(
            state,
            replace(
                v,
                generation=v.generation + 1,
                best_model=record["model_id"],
                best_participant=record["participant"],
            ),
        )
    if event == "tick":
        return replace(state, ticks=state.ticks + 1)
    if event == "error":
        return _add_error(state, {"error": record["error"], "time": record.get("time")})
    return state


def _add_error(state: RunState, entry: dict[str, Any]) -> RunState:
    return replace(state, errors=(*state.errors, entry)[-RECENT:])


def replay_state(variants: Iterable[str], records: Iterable[Mapping[str, Any]]) -> RunState:
    """Fold a journal's records, oldest first, into the state."""
    state = RunState.empty(variants)
    for record in records:
        state = apply_event(state, record)
    return state
