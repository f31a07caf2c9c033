"""The run journal's events: one frozen type per kind of record in `journal.jsonl`.

Every record is a JSON object whose field ``event`` names its type. `Controller.record` stamps
each with ``time`` (unix seconds) and ``token`` (the lease's fencing token); `parse_event` reads a
record into its type and `to_record` writes one back with the keys it was made with (a field
left out when the event was made stays out of its record, as in journals written before these
types existed: ``started`` on a retry, the failure fields of a success).

Journal events (field ``event``):

* ``coordinator`` {node, term}: a P2P coordinator took over the run (written by `p2p.coordinator`).
* ``submit_intent`` {purpose, variant, tasks: [{task, spec, attempt}], started?}: about to
  submit. A first submission carries ``started``: {job_key, samples_total} for training,
  {eval_id, batch, sprt?} for an evaluation batch (``sprt``: {llr, lower_bound, upper_bound,
  groups, mean} over the groups played before it), {eval_id, decisions} for a tournament,
  {eval_id, best, against} for a shadow check (a tournament of the best, its predecessor
  ``against`` and the anchors).
* ``submitted`` {tasks: [task], refs: [JobRef]}: the scheduler accepted them.
* ``submit_refused`` {tasks: [task], attempt, error, retry_at}: the scheduler refused their
  submission for the ``attempt``-th time; they are submitted again at ``retry_at`` (backing off
  as failed jobs do), or, with ``retry_at`` null, marked refused.
* ``job_ended`` {task, job, status, exit_code, elapsed_s, detail, error?, retry_at?, halted?,
  lost_rerun?}: a terminal state; a success removes the job (or keeps it as completed while
  its variant awaits its model or match file), a failure waits for ``retry_at``
  or, with ``retry_at`` null, is an error; one under HALT (``halted``) reruns after resume, and
  one lost with its node or preempted (``lost_rerun``) reruns at once, both with the same
  attempt number.
* ``job_cancelled`` {task, why}: cancelled by the controller because the variant is finished.
* ``ingested`` {artifact: shard, variant, path, samples, generation, games?, cpu_seconds?},
  {artifact: model, variant, path, model_id, job_key, generation, train_policy_loss?,
  train_value_loss?, validation_policy_loss?, validation_value_loss?, cpu_seconds?} or
  {artifact: match, variant, path, eval_id, groups, cpu_seconds?}; ``cpu_seconds``: the CPU time
  the job that published the artifact used, from its manifest (absent when it recorded none).
* ``quarantined`` {variant, path, reason}.
* ``training_failed`` {variant, error}: the candidate's training gave up; back to collecting.
* ``evaluation_failed`` {variant, eval_id, error}.
* ``decision`` {variant, candidate, model_id, best, promote, reasons, statistics, eval_id}:
  journaled before the promotion history and ``best.json`` are written.
* ``decision_recorded`` {variant, candidate}: the decision is in the promotion history.
* ``best_changed`` {variant, model_id, participant, predecessor?}: best.json changed outside a
  decision; ``predecessor``: the best the new one replaced when it was promoted (absent: none).
* ``shadow_checked`` {variant, result}: a shadow check ended without a rollback; ``result``:
  {eval_id, best, against, verdict, difference_elo, lower_elo, upper_elo, games, detail}, verdict
  ``cleared`` (no more checks of this best), ``undecided``, ``superseded`` (the best changed
  meanwhile) or ``failed``.
* ``shadow_rollback`` {variant, result, to_model, predecessor}: a shadow check found the best
  weaker than its predecessor (``result`` as above, verdict ``weaker``); journaled before the
  rollback is written to the promotion history and ``best.json``, which a restart finishes.
* ``leaderboard`` {variant, games}: the variant's leaderboard was refitted.
* ``request`` {name, applied, detail}: a request file was handled (``detail``: the error, or
  the promotion-history event it recorded).
* ``tick`` {halted, queries}: the end of a reconcile tick, written by earlier versions; read,
  never written now (the journal grows with events, not with ticks).
* ``error`` {error}: something the controller could not do (a refit).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
)

from ringrift_hpc.cluster.executor import JobRef, JobStatus
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config.base import Bool, Float, Int, Str
from ringrift_hpc.store.journal import gc_paused


class JournalEventError(ValueError):
    """A journal record that is not one of the events below."""


def _job_ref(value: Any) -> JobRef:
    if isinstance(value, JobRef):
        return value
    try:
        return JobRef.from_json(value)
    except (TypeError, AttributeError) as error:  # pydantic reports only a ValueError as a bad value
        raise ValueError(f"not a job ref ({error})") from None


Ref = Annotated[JobRef, PlainValidator(_job_ref), PlainSerializer(lambda ref: ref.to_json())]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class JournalEvent(_Frozen):
    """What every record carries besides its own fields: set by `Controller.record`."""

    time: Float | None = None
    token: Int | None = None


class Coordinator(JournalEvent):
    event: Literal["coordinator"] = "coordinator"
    node: Str
    term: Int


class IntentTask(_Frozen):
    task: Str  # identity, e.g. "selfplay/square8_2p/000000/000003"
    spec: Str  # the spec JSON, for resubmission
    attempt: Int


class TrainingStarted(_Frozen):
    job_key: Str
    samples_total: Int


class SprtProgress(_Frozen):
    """The SPRT over the groups played before a batch: what `loop` prints as its progress."""

    llr: Float
    lower_bound: Float
    upper_bound: Float
    groups: Int
    mean: Float  # the candidate's mean group score


class EvaluationStarted(_Frozen):
    eval_id: Str
    batch: Int
    # Journaled with every batch after the first against a best; absent in older journals.
    sprt: SprtProgress | None = None


class TournamentStarted(_Frozen):
    eval_id: Str
    decisions: Int


class ShadowStarted(_Frozen):
    eval_id: Str
    best: Str  # participant id of the best under check
    against: Str  # participant id of its predecessor


class SubmitIntent(JournalEvent):
    event: Literal["submit_intent"] = "submit_intent"
    purpose: Purpose
    variant: Str
    # The resource kind, which earlier versions wrote beside the purpose it follows from
    # (`cluster.purposes.resource_kind`): read from old journals, never written now.
    kind: Str | None = None
    tasks: tuple[IntentTask, ...]
    started: TrainingStarted | EvaluationStarted | TournamentStarted | ShadowStarted | None = None


class Submitted(JournalEvent):
    event: Literal["submitted"] = "submitted"
    tasks: tuple[Str, ...]
    refs: tuple[Ref, ...]


class SubmitRefused(JournalEvent):
    event: Literal["submit_refused"] = "submit_refused"
    tasks: tuple[Str, ...]
    attempt: Int  # 1 for the first refusal of these tasks
    error: Str
    retry_at: Float | None  # None: refused too often, given up


class JobEnded(JournalEvent):
    event: Literal["job_ended"] = "job_ended"
    task: Str
    job: Str  # the scheduler's key of the attempt, "4711_3"
    status: JobStatus  # a terminal one
    exit_code: Int | None
    elapsed_s: Int | Float
    detail: Str
    error: Str | None = None  # a failure's error text
    retry_at: Float | None = None  # a failure: when to retry, None when it gave up
    halted: Bool = False  # failed under HALT: rerun after resume without using a retry
    lost_rerun: Bool = False  # lost with its node or preempted: rerun without using a retry


class JobCancelled(JournalEvent):
    event: Literal["job_cancelled"] = "job_cancelled"
    task: Str
    why: Str


class ShardIngested(JournalEvent):
    event: Literal["ingested"] = "ingested"
    artifact: Literal["shard"] = "shard"
    variant: Str
    path: Str  # relative to the run root
    samples: Int
    generation: Int
    games: Int | None = None  # from the manifest; None in journals written before it was recorded
    cpu_seconds: Float | None = None  # the same


class ModelIngested(JournalEvent):
    event: Literal["ingested"] = "ingested"
    artifact: Literal["model"] = "model"
    variant: Str
    path: Str
    model_id: Str
    job_key: Str | None  # the training job that wrote it, from the model's manifest
    generation: Int | None
    # The training's losses from the manifest; absent in journals written before they were recorded.
    train_policy_loss: Float | None = None
    train_value_loss: Float | None = None
    validation_policy_loss: Float | None = None
    validation_value_loss: Float | None = None
    cpu_seconds: Float | None = None  # the training's, from the manifest where it records it


class MatchIngested(JournalEvent):
    event: Literal["ingested"] = "ingested"
    artifact: Literal["match"] = "match"
    variant: Str
    path: Str
    eval_id: Str
    groups: Int
    cpu_seconds: Float | None = None  # the match task's, from the manifest where it records it


class Quarantined(JournalEvent):
    event: Literal["quarantined"] = "quarantined"
    variant: Str
    path: Str
    reason: Str


class TrainingFailed(JournalEvent):
    event: Literal["training_failed"] = "training_failed"
    variant: Str
    error: Str


class EvaluationFailed(JournalEvent):
    event: Literal["evaluation_failed"] = "evaluation_failed"
    variant: Str
    eval_id: Str | None
    error: Str


class Decision(JournalEvent):
    event: Literal["decision"] = "decision"
    variant: Str
    candidate: Str  # participant id
    model_id: Str
    best: Str | None  # participant id; None for the first model
    promote: Bool
    reasons: tuple[Str, ...]
    statistics: dict[str, Any]
    eval_id: Str


class DecisionRecorded(JournalEvent):
    event: Literal["decision_recorded"] = "decision_recorded"
    variant: Str
    candidate: Str


class BestChanged(JournalEvent):
    event: Literal["best_changed"] = "best_changed"
    variant: Str
    model_id: Str
    participant: Str
    # The best this one replaced when it was promoted, which shadow checks compare it with; absent
    # in journals written before them.
    predecessor: Str | None = None


ShadowVerdict = Literal["weaker", "cleared", "undecided", "superseded", "failed"]


class ShadowResult(_Frozen):
    """What a shadow check found (`loop.shadow.judge`)."""

    eval_id: Str
    best: Str  # participant ids
    against: Str
    verdict: ShadowVerdict
    difference_elo: Float | None  # best minus predecessor, over every shadow game of the two
    lower_elo: Float | None  # one-sided bounds of the difference at `evaluation.shadow_confidence`
    upper_elo: Float | None
    games: Int  # games between the two behind the difference
    detail: Str  # the verdict in words


class ShadowChecked(JournalEvent):
    event: Literal["shadow_checked"] = "shadow_checked"
    variant: Str
    result: ShadowResult


class ShadowRollback(JournalEvent):
    event: Literal["shadow_rollback"] = "shadow_rollback"
    variant: Str
    result: ShadowResult
    to_model: Str  # the model of `result.against`, the best again
    predecessor: Str | None  # the best `result.against` replaced when it was promoted


class Leaderboard(JournalEvent):
    event: Literal["leaderboard"] = "leaderboard"
    variant: Str
    games: Int


class RequestHandled(JournalEvent):
    event: Literal["request"] = "request"
    name: Str  # the request file's name
    applied: Bool
    detail: Str


class Tick(JournalEvent):
    """The end of a tick, written by earlier versions: read from old journals, never written now."""

    event: Literal["tick"] = "tick"
    halted: Bool
    queries: Int


class Error(JournalEvent):
    event: Literal["error"] = "error"
    error: Str


Ingested = Annotated[ShardIngested | ModelIngested | MatchIngested, Field(discriminator="artifact")]
Event = Annotated[
    Coordinator
    | SubmitIntent
    | Submitted
    | SubmitRefused
    | JobEnded
    | JobCancelled
    | Ingested
    | Quarantined
    | TrainingFailed
    | EvaluationFailed
    | Decision
    | DecisionRecorded
    | BestChanged
    | ShadowChecked
    | ShadowRollback
    | Leaderboard
    | RequestHandled
    | Tick
    | Error,
    Field(discriminator="event"),
]


def _members(annotation: Any) -> tuple[type[JournalEvent], ...]:
    """The event types of a discriminated union (`Annotated[A | B | ..., Field(...)]`), nested ones too."""
    union = typing.get_args(annotation)[0]
    return tuple(
        m
        for member in typing.get_args(union)
        for m in (_members(member) if typing.get_args(member) else (member,))
    )


EVENT_TYPES = _members(Event)
EVENT_NAMES = frozenset(t.model_fields["event"].default for t in EVENT_TYPES)
_INGESTED = tuple(t.model_fields["artifact"].default for t in (ShardIngested, ModelIngested, MatchIngested))
# The type of each record by its tags: validating a record against its own type rather than
# the union makes replaying a long journal faster.
_BY_TAG: dict[tuple[object, object], type[JournalEvent]] = {
    (
        t.model_fields["event"].default,
        t.model_fields["artifact"].default if "artifact" in t.model_fields else None,
    ): t
    for t in EVENT_TYPES
}
_TAGS = ("event", "artifact")  # always written, though set by default
_FIX = "the record was not written by this controller: restore journal.jsonl from a replica or a backup"


@dataclass(frozen=True)
class UnknownEvent:
    """A record whose ``event`` this code does not know (a newer controller's): replayed as a count."""

    name: str


def parse_event(record: Mapping[str, Any], *, where: str = "journal record") -> Event:
    """The typed event of one journal record; `JournalEventError` names `where`, the field and value."""
    name = record.get("event")
    if name not in EVENT_NAMES:
        raise JournalEventError(
            f"{where}: field 'event': {name!r} is not a journal event ({', '.join(sorted(EVENT_NAMES))})"
        )
    if name == "ingested" and record.get("artifact") not in _INGESTED:
        raise JournalEventError(
            f"{where}: ingested event, field 'artifact': {record.get('artifact')!r} is not one of "
            f"{', '.join(_INGESTED)}; {_FIX}"
        )
    kind = _BY_TAG[name, record.get("artifact") if name == "ingested" else None]
    try:
        return typing.cast(Event, kind.model_validate(record))
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        value = "" if problem["type"] == "missing" else f" (value {problem['input']!r})"
        raise JournalEventError(
            f"{where}: {name} event, field {field!r}: {problem['msg']}{value}; {_FIX}"
        ) from None


def read_events(records: Iterable[Mapping[str, Any]], *, source: str) -> list[Event | UnknownEvent]:
    """The journal's records as events, oldest first; `source` (the file) names a bad record."""
    events: list[Event | UnknownEvent] = []
    with gc_paused():
        for number, record in enumerate(records, 1):
            name = record.get("event")
            if name not in EVENT_NAMES:
                events.append(UnknownEvent(str(name)))
                continue
            events.append(parse_event(record, where=f"{source}, record {number}"))
    return events


def to_record(event: JournalEvent) -> dict[str, Any]:
    """The journal record of `event`: its tags and the fields it was made or parsed with, as JSON."""
    tags = {name: getattr(event, name) for name in _TAGS if name in type(event).model_fields}
    return {**tags, **event.model_dump(mode="json", exclude_unset=True)}
