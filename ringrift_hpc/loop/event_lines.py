"""The journal's records as lines a person reads while `ringrift-hpc loop` runs (pure).

`EventLines.lines` turns one journal record into zero or more lines and tallies what the end
summary needs; `summary_lines` writes that summary from the tally and the variants' status
(`loop.status.variants_status`). Ratings come from a lookup the caller passes (the leaderboard
files, read when a line is printed), so nothing here touches a file. Records written by older
versions, without the fields added since (a shard's games, a model's losses, the SPRT progress
of an evaluation batch), still read: the line leaves the missing part out.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringrift_hpc.config.variants import Variant
from ringrift_hpc.loop.events import (
    BestChanged,
    Coordinator,
    Decision,
    Error,
    EvaluationFailed,
    EvaluationStarted,
    Event,
    JobCancelled,
    JobEnded,
    Leaderboard,
    MatchIngested,
    ModelIngested,
    Quarantined,
    RequestHandled,
    ShadowChecked,
    ShadowRollback,
    ShadowStarted,
    ShardIngested,
    SprtProgress,
    SubmitIntent,
    SubmitRefused,
    TrainingFailed,
    TrainingStarted,
    parse_event,
)

_EVAL_GENERATION = re.compile(r"^eval-g(\d+)-")
_REFERENCE = "heuristic"  # the anchor a promoted rating is shown against, when rated


@dataclass(frozen=True)
class Rated:
    """One leaderboard row: Elo above the random anchor, with its interval."""

    rating: float
    lower: float
    upper: float

    def text(self) -> str:
        return f"{self.rating:.0f} Elo [{self.lower:.0f}, {self.upper:.0f}]"


# variant -> participant id -> rating: the variant's leaderboard as it is when a line is printed
Ratings = Callable[[str], Mapping[str, Rated]]


def no_ratings(variant: str) -> Mapping[str, Rated]:
    return {}


@dataclass
class Tally:
    """What happened while this controller ran, for the end summary."""

    promoted: Counter[str] = field(default_factory=Counter)  # by variant
    rejected: Counter[str] = field(default_factory=Counter)
    job_seconds: dict[str, float] = field(default_factory=dict)  # by purpose
    failures: int = 0


def _clock(unix: float | None) -> str:
    return "" if unix is None else time.strftime("%H:%M:%S ", time.gmtime(unix))


def _gist(text: str, limit: int = 160) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""  # a traceback's last line says what went wrong
    return last if len(last) <= limit else last[: limit - 3] + "..."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _gen(generation: int | None) -> str:
    return "" if generation is None else f" gen {generation}"


def _eval_generation(eval_id: str | None) -> int | None:
    found = _EVAL_GENERATION.match(eval_id or "")
    return int(found.group(1)) if found else None


def _spec_generation(spec: str) -> int | None:
    try:
        value = json.loads(spec).get("generation")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry(retry_at: float | None) -> str:
    return "given up" if retry_at is None else f"retry at {_clock(retry_at).strip()}"


def sprt_text(sprt: SprtProgress, players: int) -> str:
    """The SPRT against its bounds, e.g. "LLR 0.52 in [-1.39, 1.39] after 4 groups (8 games), score 0.625"."""
    return (
        f"LLR {sprt.llr:.2f} in [{sprt.lower_bound:.2f}, {sprt.upper_bound:.2f}] after {sprt.groups} "
        f"groups ({sprt.groups * players} games), score {sprt.mean:.3f}"
    )


def _players(variant: str) -> int:
    """Players per game, so games per group (one game per seat rotation)."""
    return Variant.model_validate(variant).players


@dataclass
class EventLines:
    """Journal records to lines; `tally` gathers the summary's figures as records pass."""

    ratings: Ratings = no_ratings
    tally: Tally = field(default_factory=Tally)

    def lines(self, record: Mapping[str, Any]) -> list[str]:
        """The lines of one journal record (none for bookkeeping records and unknown events)."""
        try:
            event = parse_event(record)
        except ValueError:
            return []  # a newer controller's record: status shows it, the feed leaves it out
        return [_clock(event.time) + text for text in self._texts(event)]

    def _texts(self, e: Event) -> list[str]:
        if isinstance(e, SubmitIntent):
            return self._submit(e)
        if isinstance(e, JobEnded):
            return self._ended(e)
        if isinstance(e, ShardIngested):
            games = "" if e.games is None else f"{e.games} games, "
            return [f"{e.variant}{_gen(e.generation)}: selfplay shard ingested, {games}{e.samples} positions"]
        if isinstance(e, ModelIngested):
            return [self._model(e)]
        if isinstance(e, MatchIngested):
            return [f"{e.variant}: match file of {e.eval_id} ingested, {_count(e.groups, 'group')}"]
        if isinstance(e, Decision):
            return [self._decision(e)]
        return self._other(e)

    def _submit(self, e: SubmitIntent) -> list[str]:
        count = len(e.tasks)
        started = e.started
        if started is None and any(t.attempt > 0 for t in e.tasks):  # a retry of a failed task
            attempt = max(t.attempt for t in e.tasks)
            what = e.tasks[0].task if count == 1 else f"{count} {e.purpose} tasks"
            return [f"{e.variant}: resubmitting {what} (attempt {attempt + 1})"]
        generation = _spec_generation(e.tasks[0].spec)
        lines: list[str] = []
        detail = ""
        if isinstance(started, TrainingStarted):
            detail = f" ({started.samples_total} samples so far)"
        elif isinstance(started, EvaluationStarted):
            generation = _eval_generation(started.eval_id) if generation is None else generation
            detail = f" (batch {started.batch + 1} of {started.eval_id})"
            if started.sprt is not None:
                progress = sprt_text(started.sprt, _players(e.variant))
                lines.append(f"{e.variant}{_gen(generation)}: SPRT {progress}: continuing")
        elif isinstance(started, ShadowStarted):
            detail = f" (shadow check {started.eval_id} of the best against its predecessor)"
        lines.append(f"{e.variant}{_gen(generation)}: submitted {e.purpose}, {_count(count, 'task')}{detail}")
        return lines

    def _ended(self, e: JobEnded) -> list[str]:
        purpose = e.task.split("/", 1)[0]
        seconds = self.tally.job_seconds
        seconds[purpose] = seconds.get(purpose, 0.0) + float(e.elapsed_s)
        if e.error is None:
            return []  # a success shows as its artifact's ingestion
        self.tally.failures += 1
        exit_code = "" if e.exit_code is None else f", exit {e.exit_code}"
        if e.halted:
            then = "reruns after resume"
        elif e.lost_rerun:
            then = "rerun now"
        else:
            then = _retry(e.retry_at)
        return [
            (
                f"job {e.task} ({e.job}) {e.status.value}{exit_code} after {float(e.elapsed_s):.0f} s: "
                f"{_gist(e.error)}; {then}"
            )
        ]

    def _model(self, e: ModelIngested) -> str:
        line = f"{e.variant}{_gen(e.generation)}: model {e.model_id[:12]} ingested"
        if e.train_policy_loss is not None and e.train_value_loss is not None:
            line += f", training loss policy {e.train_policy_loss:.3f} value {e.train_value_loss:.3f}"
        if e.validation_policy_loss is not None and e.validation_value_loss is not None:
            line += f", validation policy {e.validation_policy_loss:.3f} value {e.validation_value_loss:.3f}"
        return line

    def _decision(self, e: Decision) -> str:
        verdict = "promoted" if e.promote else "rejected"
        (self.tally.promoted if e.promote else self.tally.rejected)[e.variant] += 1
        line = f"{e.variant}{_gen(_eval_generation(e.eval_id))} {verdict}"
        board = self.ratings(e.variant)
        rated = board.get(e.candidate)
        if rated is not None:
            line += f": {rated.text()}"
            reference = board.get(_REFERENCE)
            if reference is not None:
                line += f" vs {_REFERENCE} {reference.rating:.0f}"
        sprt = e.statistics.get("sprt")
        if not e.promote and e.reasons:  # a rejection's reasons give the SPRT where it rejected
            return f"{line}; {'; '.join(e.reasons)}"
        if isinstance(sprt, dict):
            try:
                progress = SprtProgress.model_validate({k: sprt.get(k) for k in SprtProgress.model_fields})
            except ValueError:
                progress = None
            if progress is not None:
                line += f" (SPRT {sprt.get('status')}: {sprt_text(progress, _players(e.variant))})"
        elif e.statistics.get("first_model"):
            line += " (first model: anchor gate only)"
        return line

    def _other(self, e: Event) -> list[str]:
        if isinstance(e, Coordinator):
            return [f"coordinator {e.node} took over the run (term {e.term})"]
        if isinstance(e, SubmitRefused):
            return [
                (
                    f"submission of {_count(len(e.tasks), 'task')} refused (attempt {e.attempt}): "
                    f"{_gist(e.error)}; {_retry(e.retry_at)}"
                )
            ]
        if isinstance(e, JobCancelled):
            return [f"job {e.task} cancelled: {e.why}"]
        if isinstance(e, Quarantined):
            return [f"{e.variant}: quarantined {e.path}: {_gist(e.reason)}"]
        if isinstance(e, TrainingFailed):
            return [f"{e.variant}: training failed: {_gist(e.error)}"]
        if isinstance(e, EvaluationFailed):
            what = f"evaluation {e.eval_id}" if e.eval_id else "evaluation"
            return [f"{e.variant}: {what} failed: {_gist(e.error)}"]
        if isinstance(e, ShadowChecked):
            r = e.result
            return [f"{e.variant}: shadow check {r.eval_id} {r.verdict}: {_gist(r.detail)}"]
        if isinstance(e, ShadowRollback):
            r = e.result
            return [
                f"{e.variant}: best rolled back to {e.to_model[:12]} by shadow check {r.eval_id}: {_gist(r.detail)}"
            ]
        if isinstance(e, BestChanged):
            return [f"{e.variant}: best model is now {e.model_id[:12]} (changed outside a decision)"]
        if isinstance(e, Leaderboard):
            return [f"{e.variant}: leaderboard refitted over {e.games} games"]
        if isinstance(e, RequestHandled):
            verdict = "applied" if e.applied else "refused"
            return [f"request {e.name} {verdict}: {_gist(e.detail)}"]
        if isinstance(e, Error):
            return [f"error: {_gist(e.error)}"]
        return []  # submitted, decision_recorded, tick: bookkeeping


def summary_lines(variants: Mapping[str, Any], tally: Tally, wall_s: float) -> list[str]:
    """The end of a `loop`: the decisions made while it ran, each variant's best and its rating,
    the wall time and the jobs' time by purpose; `variants` is `status.variants_status`'s model."""
    promoted, rejected = sum(tally.promoted.values()), sum(tally.rejected.values())
    lines = [
        (
            f"summary: {promoted + rejected} generations decided in {wall_s:.0f} s "
            f"({promoted} promoted, {rejected} rejected)"
        )
    ]
    for name, v in variants.items():
        best = f"best {str(v['best_model'])[:12]}" if v.get("best_model") else "no model promoted yet"
        row = v.get("rating")
        rating = f", {Rated(row['rating'], row['lower'], row['upper']).text()}" if row else ""
        lines.append(
            f"  {name}: generation {v['generation']}, {v['decisions']} decisions in all "
            f"({v['promotions']} promoted), {best}{rating}"
        )
    total = sum(tally.job_seconds.values())
    if total > 0:
        split = ", ".join(
            f"{purpose} {seconds:.0f} s ({seconds / total:.0%})"
            for purpose, seconds in sorted(tally.job_seconds.items(), key=lambda item: -item[1])
        )
        lines.append(f"  job time: {split}")
    if tally.failures:
        lines.append(f"  failed job attempts: {tally.failures}")
    return lines
