"""The controller's reconcile tick (DESIGN.md §5), the only writer of the run's mutable files.

Each tick: renew the lease; poll every in-flight job with ONE `executor.poll`; journal terminal
states (failures get a retry time with exponential backoff, or give up as errors); ingest new
artifacts (the only place anything is quarantined: jobs report what they cannot read); apply
request files and notice a changed `best.json`; resubmit due retries and
orphaned submissions; ask each variant's state machine what to do and do it (nothing is
submitted while HALT exists); refit leaderboards of variants with new match files; write
`state.json` and the controller's metrics textfile.

Every journal record carries the lease's fencing token and is appended only after
`lease.check()`, so a controller that lost its lease cannot write. A submission is journaled as
an intent before the executor sees it and confirmed with the job ids after; a decision is
journaled before `promotions.jsonl`/`best.json` are written and confirmed after, and
`recover_decisions` completes one that a crash interrupted, so nothing is done twice; an
automatic rollback of a shadow check (`loop.shadow`) is journaled and finished the same way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from ringrift_hpc.cluster.executor import (
    Executor,
    JobRef,
    JobState,
    JobStatus,
    SchedulerUnavailableError,
    SubmissionError,
)
from ringrift_hpc.cluster.purposes import TOURNAMENT_ID_PREFIX, MatchTaskId, Purpose
from ringrift_hpc.config import Config
from ringrift_hpc.jobs.registry import job_entry, spec_from_json
from ringrift_hpc.jobs.replay_window import choose_window
from ringrift_hpc.jobs.selfplay import NO_MODEL, SelfplaySpec
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.loop import policies, shadow
from ringrift_hpc.loop.events import (
    BestChanged,
    Decision,
    DecisionRecorded,
    Error,
    EvaluationFailed,
    EvaluationStarted,
    Event,
    IntentTask,
    JobCancelled,
    JobEnded,
    Leaderboard,
    MatchIngested,
    RequestHandled,
    ShadowChecked,
    ShadowRollback,
    ShadowStarted,
    SprtProgress,
    SubmitIntent,
    SubmitRefused,
    Submitted,
    TournamentStarted,
    TrainingFailed,
    TrainingStarted,
    to_record,
)
from ringrift_hpc.loop.ingest import ArtifactIndex, Lister
from ringrift_hpc.loop.job_figures import JobFigures
from ringrift_hpc.loop.judge import anchors_played, evaluation_of, progress_of, sprt_of
from ringrift_hpc.loop.replay_snapshot import restart
from ringrift_hpc.loop.requests import apply_pending_requests
from ringrift_hpc.loop.state import JobRecord, RunState, VariantState, apply_event, train_task
from ringrift_hpc.loop.tournament_plan import evaluation_id, evaluation_specs, tournament_specs
from ringrift_hpc.loop.variant_machine import (
    Action,
    Decide,
    EvaluationProgress,
    FailEvaluation,
    FailTraining,
    Observation,
    SubmitEvaluationBatch,
    SubmitSelfplay,
    SubmitTournament,
    SubmitTraining,
    finished,
    next_actions,
)
from ringrift_hpc.metrics import MetricFamily, family, write_run_textfile
from ringrift_hpc.rating.best import promotion_history, read_best, record_decision
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.fit import ZeroPointMissingError
from ringrift_hpc.rating.leaderboard import ratings_of, write_leaderboard
from ringrift_hpc.rating.participants import Participant, parse_participant_id
from ringrift_hpc.rating.promotion import EvaluationError, decide_promotion
from ringrift_hpc.rating.sprt import SprtError
from ringrift_hpc.report import refresh_report
from ringrift_hpc.store import JournalWriter, RunLayout, list_published, list_quarantined
from ringrift_hpc.store.atomic import atomic_write_json
from ringrift_hpc.store.fencing import FencingLease

log = logging.getLogger(__name__)

Clock = Callable[[], float]
POLLED = ("pending", "running", "unknown")


def _parent(v: VariantState, parent: Literal["best", "latest"]) -> str | None:
    """The model the variant's next training starts from (`training.parent`)."""
    if parent == "latest" and v.trained_model is not None:
        return v.trained_model
    return v.best_model


def _selfplay_task(variant: str, generation: int, index: int) -> str:
    return f"selfplay/{variant}/{generation:06d}/{index:06d}"


class Controller:
    """One controller process's view of the run; `tick` is one reconcile step."""

    def __init__(
        self,
        layout: RunLayout,
        config: Config,
        executor: Executor,
        lease: FencingLease,
        journal: JournalWriter,
        *,
        clock: Clock = time.time,
        listing: Lister = list_published,
    ) -> None:
        self.layout = layout
        self.config = config
        self.executor = executor
        self.lease = lease
        self.journal = journal
        self.clock = clock
        self.names = [v.name for v in config.variants]
        self.job_figures = JobFigures.for_run(layout, config)
        # The state, the indexes and the unrecorded decisions: the replay snapshot's and the
        # journal's tail after it, or the whole journal's.
        replayed = restart(
            layout,
            self.names,
            journal.replayed,
            lambda: ArtifactIndex(layout, listing=listing),
            self.job_figures,
            now=clock(),
        )
        self.state: RunState = replayed.state
        self.shard_index = replayed.shards
        self.artifacts = replayed.artifacts
        self._unrecorded = replayed.unrecorded
        self.checkpoint = replayed.checkpoint
        self.progress: dict[str, EvaluationProgress | None] = {}
        self.targets: dict[str, int] = {}
        self.weights: dict[str, float] = {}
        self.queries_last_tick = 0
        self.ticks = 0  # ticks of this process: the journal records events, not ticks

    # -- journal ---------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Append `event` to the journal as one fenced record and fold it into the state."""
        self.lease.check()
        stamped = event.model_copy(update={"time": self.clock(), "token": self.lease.token})
        self.journal.append(to_record(stamped))
        self.state = apply_event(self.state, stamped)
        self.shard_index.apply(stamped)
        self.artifacts.apply(stamped)

    # -- startup ---------------------------------------------------------------------------

    def recover_decisions(self) -> None:
        """Finish decisions and automatic rollbacks journaled before a crash but not yet written to
        the promotion history and `best.json`."""
        for e in self._unrecorded:
            done = any(h.get("candidate") == e.candidate for h in promotion_history(self.layout, e.variant))
            if not done:
                record_decision(self.layout, self._decision_from(e))
            self.record(DecisionRecorded(variant=e.variant, candidate=e.candidate))
        self._unrecorded = []
        for name in self.names:
            pending = shadow.pending_rollback(self.state.variants[name])
            if pending is not None:
                shadow.apply_rollback(self.layout, name, pending)

    @staticmethod
    def _decision_from(e: Decision) -> PromotionDecision:
        return PromotionDecision(
            promote=e.promote,
            variant=e.variant,
            candidate=e.candidate,
            best=e.best,
            reasons=e.reasons,
            statistics=e.statistics,
        )

    # -- the tick --------------------------------------------------------------------------

    def tick(self) -> None:
        # The lease is renewed before each phase, not once a tick: on a loaded login node one
        # slow phase (a scheduler query, a first listing after a restart, a refit) must not
        # outlive it.
        self.lease.renew()
        before = self.executor.scheduler_queries
        halted = self.layout.halt.exists()
        self._poll()
        self.lease.renew()
        # Cancelled before the scan, so whatever such a task managed to publish is ingested now.
        self._cancel_finished_selfplay()
        new_matches = self._ingest()
        self.lease.renew()
        self._apply_requests()
        if not halted:
            self._resubmit()
        self._plan_fleet()
        for name in self.names:
            self.lease.renew()
            self._step_variant(name, halted)
            self._step_shadow(name, halted)
        for name in sorted(new_matches):
            self.lease.renew()
            self._refit(name)
        self.queries_last_tick = self.executor.scheduler_queries - before
        self.ticks += 1
        self.write_snapshot()
        self.checkpoint.save(
            self.shard_index, self.artifacts, self.job_figures, now=self.clock(), check=self.lease.check
        )

    def done(self) -> bool:
        """Every variant reached `loop.max_generations` and played its due tournament, no job of
        the run is in flight, and what the completed ones published is ingested (or overdue)."""
        limit = self.config.loop.max_generations
        return (
            limit is not None
            and all(finished(self.state.variants[n], limit) for n in self.names)
            and not any(self._tournament_due(v) for v in self.state.variants.values())
            and not any(j.in_flight or self._artifact_awaited(j) for j in self.state.jobs.values())
        )

    def _poll(self) -> None:
        polled = [j for j in self.state.jobs.values() if j.ref is not None and j.status in POLLED]
        try:
            states = self.executor.poll([j.ref for j in polled if j.ref is not None])
        except SchedulerUnavailableError as error:
            # A scheduler restart must not end a weeks-long run: the jobs are asked again next tick.
            log.warning("tick without job states: %s", error)
            return
        observed: dict[str, str] = {}
        for job in polled:
            assert job.ref is not None
            seen = states.get(job.ref)
            if seen is None:
                continue
            if seen.is_terminal:
                self._ended(job, seen)
            else:
                observed[job.task] = seen.status.value
        # Pending/running is an observation, not a decision: kept in the snapshot, not journaled.
        jobs = {t: replace(j, status=observed[t]) if t in observed else j for t, j in self.state.jobs.items()}
        self.state = replace(self.state, jobs=jobs)

    def _ended(self, job: JobRecord, seen: JobState) -> None:
        assert job.ref is not None
        failure: dict[str, Any] = {}  # a success's record has none of these keys
        if not seen.succeeded:
            loop = self.config.loop
            failure["error"] = (self.executor.error_text(job.ref) or seen.detail)[-2000:]
            if self.layout.halt.exists():
                # Stopped or cancelled by a halt: run again after resume, without using a retry.
                failure["retry_at"] = self.clock()
                failure["halted"] = True
            elif seen.status is JobStatus.LOST and job.lost < policies.MAX_LOST_RERUNS:
                failure["retry_at"] = self.clock()
                failure["lost_rerun"] = True
            else:
                failure["retry_at"] = policies.retry_at(
                    self.clock(), job.attempt, loop.max_job_retries, loop.retry_backoff_s
                )
        self.record(
            JobEnded(
                task=job.task,
                job=job.ref.key,
                status=seen.status,
                exit_code=seen.exit_code,
                elapsed_s=seen.elapsed_s,
                detail=seen.detail,
                **failure,
            )
        )

    def _ingest(self) -> set[str]:
        new_matches: set[str] = set()
        for name in self.names:
            for event in self.artifacts.scan(name):
                self.record(event)
                if isinstance(event, MatchIngested):
                    new_matches.add(name)
        return new_matches

    def _apply_requests(self) -> None:
        for outcome in apply_pending_requests(self.layout):
            self.record(RequestHandled(name=outcome.name, applied=outcome.applied, detail=outcome.detail))
        for name in self.names:
            doc = read_best(self.layout, name)
            v = self.state.variants[name]
            if doc is not None and doc["model_id"] != v.best_model:
                before = shadow.predecessor(promotion_history(self.layout, name), doc["participant"])
                self.record(
                    BestChanged(
                        variant=name,
                        model_id=doc["model_id"],
                        participant=doc["participant"],
                        predecessor=before,
                    )
                )

    def _resubmit(self) -> None:
        """Orphaned intents (a crash before `submitted`), refused submissions and failed jobs whose
        retry time came."""
        now = self.clock()
        orphans = [
            j
            for j in self.state.jobs.values()
            if j.status == "intent"
            or (j.status == "deferred" and j.retry_at is not None and j.retry_at <= now)
        ]
        due = [
            j
            for j in self.state.jobs.values()
            if j.status == "failed" and j.retry_at is not None and j.retry_at <= now
        ]
        for job in due:
            attempt = job.attempt + (0 if job.not_counted else 1)
            self.record(
                SubmitIntent(
                    purpose=job.purpose,
                    variant=job.variant,
                    tasks=(IntentTask(task=job.task, spec=job.spec, attempt=attempt),),
                )
            )
        self._launch([self.state.jobs[j.task] for j in (*orphans, *due)])

    def _launch(self, jobs: Sequence[JobRecord]) -> None:
        """Submit journaled intents, one array per purpose where the registry allows, and journal
        their ids."""
        groups: dict[Purpose, list[JobRecord]] = {}
        for job in jobs:
            groups.setdefault(job.purpose, []).append(job)
        for purpose, members in groups.items():
            specs = [
                spec_from_json(purpose, job.spec, source=f"journaled task {job.task}") for job in members
            ]
            try:
                if job_entry(purpose).array:
                    refs = self.executor.submit_array(purpose, specs)
                else:
                    refs = [self.executor.submit(purpose, spec) for spec in specs]
            except SubmissionError as error:
                self._refused(members, f"submitting {len(members)} {purpose} job(s): {error}")
                continue
            self.record(Submitted(tasks=tuple(j.task for j in members), refs=tuple(refs)))

    def _refused(self, members: Sequence[JobRecord], error: str) -> None:
        """Journal a refused submission: submitted again after a backoff, at most
        `loop.max_job_retries` times, then given up (the tasks show as refused)."""
        attempt = 1 + max(j.refusals for j in members)
        loop = self.config.loop
        retry = policies.retry_at(self.clock(), attempt - 1, loop.max_job_retries, loop.retry_backoff_s)
        tasks = tuple(j.task for j in members)
        self.record(SubmitRefused(tasks=tasks, attempt=attempt, error=error[-2000:], retry_at=retry))

    def _submit(
        self,
        purpose: Purpose,
        variant: str,
        tasks: list[tuple[str, str]],
        started: TrainingStarted | EvaluationStarted | TournamentStarted | ShadowStarted | None,
    ) -> None:
        intent = tuple(IntentTask(task=task, spec=spec, attempt=0) for task, spec in tasks)
        event = SubmitIntent(purpose=purpose, variant=variant, tasks=intent)
        # Only a first submission's record has the key `started`.
        self.record(event if started is None else event.model_copy(update={"started": started}))
        self._launch([self.state.jobs[task] for task, _ in tasks])

    # -- per variant -----------------------------------------------------------------------

    def _plan_fleet(self) -> None:
        recent = self.config.curriculum.lookback_generations
        progress = {}
        for name in self.names:
            v = self.state.variants[name]
            history = v.decision_history[-recent:]
            share = sum(history) / len(history) if history else 1.0
            progress[name] = policies.VariantProgress(samples=v.samples_total, recent_promotions=share)
        self.weights = policies.curriculum_weights(progress, self.config.curriculum, self.weights or None)
        self.targets = policies.fleet_shares(self.weights, self.config.selfplay.tasks_in_flight)

    def _participant(self, variant: str, model_id: str) -> Participant:
        budget = self.config.evaluation_simulations
        return Participant(variant=variant, kind="gumbel", budget=budget, model_id=model_id)

    def _best(self, v: VariantState) -> Participant | None:
        return parse_participant_id(v.variant, v.best_participant) if v.best_participant else None

    def _overdue(self, job: JobRecord) -> bool:
        """A completed job whose artifact is still not ingested `loop.artifact_grace_s` after its end."""
        return job.ended_at is not None and self.clock() - job.ended_at > self.config.loop.artifact_grace_s

    def _training_failure(self, v: VariantState) -> str | None:
        """Why the variant's training failed; None while it runs or its model is awaited."""
        if v.phase != "train":
            return None
        train = self.state.jobs.get(train_task(v.variant, v.train_key))
        if train is None or train.status == "error":
            return f"training job {v.train_key} gave up"
        if train.status == "refused":
            return f"training job {v.train_key} was refused by the scheduler {train.refusals} times"
        if train.status != "completed" or not self._overdue(train):
            return None  # running, or completed and its model awaited
        grace = self.config.loop.artifact_grace_s
        return f"training job {v.train_key} completed but its model was not ingested within {grace:g} s"

    def _evaluations(self, v: VariantState) -> list[JobRecord]:
        """The jobs of the variant's current evaluation."""
        prefix = f"evaluate/{v.variant}/{v.eval_id}/"
        return [
            j
            for j in self.state.jobs.values()
            if v.eval_id and j.purpose == "evaluate" and j.task.startswith(prefix)
        ]

    def _artifact_awaited(self, job: JobRecord) -> bool:
        """A completed job whose artifact is not ingested yet and not overdue (then it is not coming)."""
        if job.status != "completed" or self._overdue(job):
            return False
        return job.purpose == "train" or self._match_awaited(job)

    def _match_awaited(self, job: JobRecord) -> bool:
        """A completed match task whose match file is not ingested yet."""
        if job.status != "completed":
            return False
        task = MatchTaskId.parse(job.task)
        path = str(self.layout.relative(self.layout.match_file(task.variant, task.eval_id, task.name)))
        return path not in self.artifacts.ingested

    def _evaluation_failure(self, v: VariantState) -> str | None:
        """Why the variant's current evaluation failed; None while it can go on."""
        return self._match_failure(self._evaluations(v))

    def _match_failure(self, jobs: Sequence[JobRecord]) -> str | None:
        """Why the match tasks `jobs` cannot all give their games; None while they can."""
        for job in jobs:
            if job.status == "error":
                return "a match task gave up"
            if job.status == "refused":
                return f"match task {job.task} was refused by the scheduler {job.refusals} times"
            if self._match_awaited(job) and self._overdue(job):
                grace = self.config.loop.artifact_grace_s
                return (
                    f"match task {job.task} completed but its match file was not ingested within {grace:g} s"
                )
        return None

    def _observe(self, v: VariantState, halted: bool) -> Observation:
        jobs = self.state.jobs.values()
        mine = [j for j in jobs if j.variant == v.variant]
        train = self.state.jobs.get(train_task(v.variant, v.train_key))
        # A completed match task whose file is not visible yet is still running as far as the
        # evaluation is concerned: its games count once its file is ingested.
        evals_in_flight = sum(1 for j in self._evaluations(v) if j.in_flight or self._match_awaited(j))
        progress = None
        if (
            v.phase == "evaluate"
            and v.candidate is not None
            and v.eval_id is not None
            and not evals_in_flight
        ):
            groups = self.artifacts.evaluation_groups(v.variant, v.eval_id)
            try:
                progress = progress_of(
                    groups, self._participant(v.variant, v.candidate), self._best(v), self.config.promotion
                )
            except SprtError:
                progress = EvaluationProgress(0, "continue", False)
        self.progress[v.variant] = progress
        return Observation(
            halted=halted,
            selfplay_target=self.targets.get(v.variant, 0),
            selfplay_in_flight=sum(1 for j in mine if j.purpose == "selfplay" and j.in_flight),
            train_in_flight=train is not None and train.in_flight,
            train_failed=self._training_failure(v) is not None,
            eval_in_flight=evals_in_flight,
            eval_failed=self._evaluation_failure(v) is not None,
            progress=progress,
            trigger_samples=self._trigger_samples(v),
            max_decisions=self.config.loop.max_generations,
            tournament_due=self._tournament_due(v),
            tournament_in_flight=any(
                j.purpose == "tournament" and j.in_flight and not shadow.is_shadow_task(j.task) for j in mine
            ),
            yield_to_jobs=self.config.selfplay.yield_to_training_and_evaluation,
        )

    def _tournament_due(self, v: VariantState) -> bool:
        every = self.config.evaluation.tournament_every_generations
        return v.promotions > 0 and v.decisions - v.tournaments_at >= every

    def _trigger_samples(self, v: VariantState) -> int:
        training = self.config.training
        if v.generation == 0 and training.bootstrap_trigger_samples is not None:
            return training.bootstrap_trigger_samples
        return training.trigger_samples

    def _step_variant(self, name: str, halted: bool) -> None:
        v = self.state.variants[name]
        for action in next_actions(v, self._observe(v, halted)):
            self._do(self.state.variants[name], action)

    def _do(self, v: VariantState, action: Action) -> None:
        if isinstance(action, SubmitSelfplay):
            self._submit_selfplay(v, action.count)
        elif isinstance(action, SubmitTraining):
            self._submit_training(v, action.new_samples)
        elif isinstance(action, SubmitEvaluationBatch):
            self._submit_evaluation(v, action.batch)
        elif isinstance(action, Decide):
            self._decide(v)
        elif isinstance(action, FailTraining):
            why = self._training_failure(v) or f"training job {v.train_key} gave up"
            self.record(TrainingFailed(variant=v.variant, error=why))
        elif isinstance(action, FailEvaluation):
            why = self._evaluation_failure(v) or "a match task gave up"
            self.record(EvaluationFailed(variant=v.variant, eval_id=v.eval_id, error=why))
        elif isinstance(action, SubmitTournament):
            self._submit_tournament(v)

    def _submit_selfplay(self, v: VariantState, count: int) -> None:
        tasks = []
        for index in range(v.next_task, v.next_task + count):
            spec = SelfplaySpec.from_config(
                self.config,
                run_root=self.layout.root,
                variant=v.variant,
                generation=v.generation,
                task_index=index,
                model_id=v.best_model or NO_MODEL,
            )
            tasks.append((_selfplay_task(v.variant, v.generation, index), spec.to_json()))
        self._submit("selfplay", v.variant, tasks, None)

    def _submit_training(self, v: VariantState, new_samples: int) -> None:
        # The window is chosen here, from the shards this controller ingested, and travels in the
        # spec: the job never lists directories, and a retry trains on the very same shards.
        window = choose_window(
            self.layout, self.shard_index.entries(self.layout, v.variant), self.config.training.replay_window
        )
        spec = TrainSpec.from_config(
            self.config,
            run_root=self.layout.root,
            variant=v.variant,
            parent_model=_parent(v, self.config.training.parent),
            generation=v.generation + 1,
            new_samples=new_samples,
            seed=policies.training_seed(self.config.run.seed, v.decisions),
            window=window,
        )
        started = TrainingStarted(job_key=spec.key, samples_total=v.samples_total)
        self._submit("train", v.variant, [(train_task(v.variant, spec.key), spec.to_json())], started)

    def _submit_evaluation(self, v: VariantState, batch: int) -> None:
        assert v.candidate is not None  # the machine evaluates only with a candidate
        eval_id = v.eval_id or evaluation_id(v.generation + 1, v.candidate)
        best = self._best(v)
        specs = evaluation_specs(
            self.config,
            run_root=self.layout.root,
            candidate=self._participant(v.variant, v.candidate),
            best=best,
            eval_id=eval_id,
            batch=batch,
            best_has_played=(
                anchors_played(self.artifacts.match_groups(v.variant), best, self.config.promotion)
                if batch == 0
                else ()
            ),
        )
        tasks = [
            (str(MatchTaskId("evaluate", v.variant, eval_id, task)), spec.to_json())
            for task, spec in specs.items()
        ]
        started = EvaluationStarted(eval_id=eval_id, batch=batch)
        progress = self._sprt_progress(v)
        if progress is not None:  # journaled for `loop` to print; no replay depends on it
            started = started.model_copy(update={"sprt": progress})
        self._submit("evaluate", v.variant, tasks, started)

    def _sprt_progress(self, v: VariantState) -> SprtProgress | None:
        """The SPRT over the groups of the current evaluation so far; None before any."""
        best = self._best(v)
        if v.eval_id is None or v.candidate is None or best is None:
            return None
        groups = self.artifacts.evaluation_groups(v.variant, v.eval_id)
        try:
            sprt = sprt_of(groups, self._participant(v.variant, v.candidate), best, self.config.promotion)
        except SprtError:
            return None
        if sprt is None:
            return None
        return SprtProgress(
            llr=sprt.llr,
            lower_bound=sprt.lower_bound,
            upper_bound=sprt.upper_bound,
            groups=sprt.groups,
            mean=sprt.mean,
        )

    def _submit_tournament(self, v: VariantState) -> None:
        eval_id = f"{TOURNAMENT_ID_PREFIX}{v.decisions:04d}"
        specs = tournament_specs(
            self.config,
            promotion_history(self.layout, v.variant),
            run_root=self.layout.root,
            variant=v.variant,
            eval_id=eval_id,
            seed=self.config.run.seed + v.decisions,
        )
        tasks = [
            (str(MatchTaskId("tournament", v.variant, eval_id, task)), spec.to_json())
            for task, spec in specs.items()
        ]
        if tasks:
            started = TournamentStarted(eval_id=eval_id, decisions=v.decisions)
            self._submit("tournament", v.variant, tasks, started)

    def _step_shadow(self, name: str, halted: bool) -> None:
        """Start a due shadow check of the variant's best, or judge the one whose games are in."""
        v = self.state.variants[name]
        check = v.shadow_check
        if check is None:
            every = self.config.evaluation.shadow_every_s
            ends = finished(v, self.config.loop.max_generations)
            if not halted and not ends and shadow.due(v, self.clock(), every):
                self._submit_shadow(v)
            return
        prefix = f"tournament/{name}/{check['eval_id']}/"
        jobs = [j for j in self.state.jobs.values() if j.task.startswith(prefix)]
        failure = self._match_failure(jobs)
        if failure is None and any(j.in_flight or self._match_awaited(j) for j in jobs):
            return
        try:
            groups = [
                g
                for k in range(v.shadow_checks)
                for g in self.artifacts.evaluation_groups(name, shadow.eval_id(k))
            ]
        except ValueError as error:  # an ingested match file that can no longer be read
            failure, groups = str(error), []
        anchors = [Participant(variant=name, kind=a.player).id for a in self.config.promotion.anchors]
        result = shadow.judge(
            name, check, v.best_participant, groups, anchors, self.config.evaluation, failure=failure
        )
        if result.verdict != "weaker":
            self.record(ShadowChecked(variant=name, result=result))
            return
        target = parse_participant_id(name, result.against).model_id
        assert target is not None  # a predecessor was a best
        before = shadow.predecessor(promotion_history(self.layout, name), result.against)
        # Journaled before the promotion history and best.json: a restart finishes it.
        self.record(ShadowRollback(variant=name, result=result, to_model=target, predecessor=before))
        shadow.apply_rollback(self.layout, name, result)

    def _submit_shadow(self, v: VariantState) -> None:
        assert v.best_participant is not None and v.shadow_against is not None  # `shadow.due` checked
        best = parse_participant_id(v.variant, v.best_participant)
        against = parse_participant_id(v.variant, v.shadow_against)
        number = v.shadow_checks
        specs = shadow.shadow_specs(
            self.config,
            run_root=self.layout.root,
            variant=v.variant,
            best=best,
            against=against,
            number=number,
        )
        eval_id = shadow.eval_id(number)
        tasks = [
            (str(MatchTaskId("tournament", v.variant, eval_id, task)), spec.to_json())
            for task, spec in specs.items()
        ]
        started = ShadowStarted(eval_id=eval_id, best=best.id, against=against.id)
        self._submit("tournament", v.variant, tasks, started)

    def _decide(self, v: VariantState) -> None:
        assert v.candidate is not None and v.eval_id is not None
        candidate = self._participant(v.variant, v.candidate)
        groups = self.artifacts.evaluation_groups(v.variant, v.eval_id)
        run_groups = self.artifacts.match_groups(v.variant)
        gate = self.config.promotion
        try:
            decision = decide_promotion(
                evaluation_of(groups, candidate, self._best(v), gate, run_groups), gate
            )
        except (EvaluationError, SprtError) as error:
            self.record(EvaluationFailed(variant=v.variant, eval_id=v.eval_id, error=str(error)))
            return
        self.record(
            Decision(
                variant=v.variant,
                candidate=decision.candidate,
                model_id=v.candidate,
                best=decision.best,
                promote=decision.promote,
                reasons=decision.reasons,
                statistics=decision.statistics,
                eval_id=v.eval_id,
            )
        )
        record_decision(self.layout, decision)
        self.record(DecisionRecorded(variant=v.variant, candidate=decision.candidate))
        failure = refresh_report(self.layout, self.config, now=self.clock())
        if failure is not None:
            self.record(Error(error=failure))

    def _refit(self, variant: str) -> None:
        evaluation = self.config.evaluation
        try:
            groups = self.artifacts.match_groups(variant)
            ratings = ratings_of(
                variant, groups, confidence=evaluation.confidence, zero=evaluation.rating_zero
            )
            # A long fit may outlast the lease: a controller that lost it must not write.
            self.lease.check()
            write_leaderboard(self.layout, ratings)
        except ZeroPointMissingError:
            return  # the zero point's first match file is still to come (tasks finish in any order)
        except ValueError as error:
            self.record(Error(error=f"{variant}: leaderboard refit failed: {error}"))
            return
        self.record(Leaderboard(variant=variant, games=ratings.games))

    def _cancel_finished_selfplay(self) -> None:
        """Selfplay of a variant that reached `loop.max_generations` is no longer needed."""
        limit = self.config.loop.max_generations
        if limit is None:
            return
        stale = [
            j
            for j in self.state.jobs.values()
            if j.purpose == "selfplay" and j.in_flight and finished(self.state.variants[j.variant], limit)
        ]
        refs: list[JobRef] = [j.ref for j in stale if j.ref is not None]
        if refs:
            self.executor.cancel(refs)
        for job in stale:
            self.record(JobCancelled(task=job.task, why="variant finished"))

    # -- outputs ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        doc = self.state.to_json()
        for name, v in doc["variants"].items():
            progress = self.progress.get(name) if v["phase"] == "evaluate" else None
            v["selfplay_target"] = self.targets.get(name, 0)
            v["curriculum_weight"] = self.weights.get(name, 1.0)
            v["shadow"] = shadow.status_doc(self.state.variants[name], self.config.evaluation.shadow_every_s)
            v["evaluation"] = (
                None
                if progress is None
                else {
                    "sprt_groups": progress.sprt_groups,
                    "sprt_status": progress.sprt_status,
                    "capped": progress.capped,
                }
            )
        doc["halted"] = self.layout.halt.exists()
        doc["scheduler_queries"] = self.executor.scheduler_queries
        doc["queries_last_tick"] = self.queries_last_tick
        doc["ticks"] = self.ticks
        doc["written_at"] = self.clock()
        doc["lease_token"] = self.lease.token
        return doc

    def write_snapshot(self) -> None:
        self.lease.check()
        atomic_write_json(self.layout.state, self.snapshot())
        if self.config.metrics.enabled:
            write_run_textfile(self.layout, "controller", self.metrics())

    def metrics(self) -> list[MetricFamily]:
        variants = self.state.variants.values()
        by_state = Counter((j.purpose, j.status) for j in self.state.jobs.values())
        return [
            family(
                "ringrift_controller_generation",
                "gauge",
                "Best-model generation of each variant.",
                [({"variant": v.variant}, v.generation) for v in variants],
            ),
            family(
                "ringrift_controller_samples",
                "gauge",
                "Selfplay samples ingested per variant.",
                [({"variant": v.variant}, v.samples_total) for v in variants],
            ),
            family(
                "ringrift_controller_samples_since_training",
                "gauge",
                "Selfplay samples ingested since the variant's last training started.",
                [({"variant": v.variant}, v.samples_since_training) for v in variants],
            ),
            family(
                "ringrift_controller_decisions_total",
                "counter",
                "Candidates promoted or rejected per variant.",
                [({"variant": v.variant}, v.decisions) for v in variants],
            ),
            family(
                "ringrift_controller_promotions_total",
                "counter",
                "Candidates promoted per variant.",
                [({"variant": v.variant}, v.promotions) for v in variants],
            ),
            family(
                "ringrift_controller_jobs",
                "gauge",
                "Jobs the controller tracks, by purpose and state.",
                [({"purpose": p, "state": s}, n) for (p, s), n in sorted(by_state.items())],
            ),
            family(
                "ringrift_controller_ticks_total",
                "counter",
                "Ticks of this controller process.",
                [({}, self.ticks)],
            ),
            family(
                "ringrift_controller_scheduler_queries_total",
                "counter",
                "Batched scheduler queries made by this controller process.",
                [({}, self.executor.scheduler_queries)],
            ),
            family(
                "ringrift_controller_quarantined",
                "gauge",
                "Artifacts in the run's quarantine.",
                [({}, len(list_quarantined(self.layout)))],
            ),
            family(
                "ringrift_controller_halted",
                "gauge",
                "1 while RUN/HALT exists.",
                [({}, 1.0 if self.layout.halt.exists() else 0.0)],
            ),
            *shadow.families(variants),
            *self.job_figures.follow().families(),
        ]
