"""The controller under faults of a weeks-long run on a shared cluster: a training job's model
that becomes visible after the job ended is ingested and evaluated, not journaled as a failure
(until `loop.artifact_grace_s` has passed); a submission the scheduler refuses backs off and
gives up after `loop.max_job_retries`; idle ticks write no journal records; and a whole
generation run under a shared filesystem's lag (`lagged_fs.LaggedListing`) loses nothing, ingests
nothing twice, decides nothing twice and records no successful job as failed, also when the
controller is restarted in the middle, and when it dies before a journal record at 24 points
(half of them mid-write) while some of its jobs are killed. The same under real SIGKILLs and
child processes: tests/e2e/test_loop_local.py."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lagged_fs import LaggedListing
from test_controller_fake import FakeExecutor, _publish_shards
from tiny_run import make_tiny_run, tiny_config_doc

from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus, SubmissionError
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import ConfigError, load_config, parse_config
from ringrift_hpc.jobs.registry import job_callable
from ringrift_hpc.jobs.train import run_training
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.ingest import Lister
from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.loop.status import run_status, status_text
from ringrift_hpc.store import (
    JournalWriter,
    RunLayout,
    acquire_lease,
    list_published,
    release_lease,
    replay_journal,
)
from ringrift_hpc.store.fencing import FileLease
from ringrift_hpc.store.journal import encode_record

V = "square8_2p"


def _controller(
    layout: RunLayout, executor: FakeExecutor, clock: Callable[[], float], listing: Lister = list_published
) -> tuple[Controller, JournalWriter]:
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=1e6, clock=clock)
    journal = JournalWriter(layout.journal)
    config = load_config(layout.run_config)
    controller = Controller(
        layout, config, executor, FileLease(lease, clock), journal, clock=clock, listing=listing
    )
    return controller, journal


def _records(layout: RunLayout, event: str | None = None) -> list[dict[str, Any]]:
    records = replay_journal(layout.journal).records
    return [r for r in records if event is None or r.get("event") == event]


def _training_submitted(controller: Controller) -> TrainSpec:
    (train,) = [j for j in controller.state.jobs.values() if j.purpose == "train"]
    return TrainSpec.from_json(train.spec)


def _end_training(controller: Controller, executor: FakeExecutor) -> None:
    (train,) = [j for j in controller.state.jobs.values() if j.purpose == "train"]
    assert train.ref is not None
    executor.states[train.ref] = JobState(JobStatus.COMPLETED, exit_code=0)


# -- a model seen after its job ended ---------------------------------------------------------


def test_a_model_visible_two_ticks_after_its_job_ended_is_evaluated_not_failed(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    _publish_shards(layout, 4)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()  # ingests the shards and submits the training
        spec = _training_submitted(controller)
        _end_training(controller, executor)
        for _ in range(2):  # the job ended; its model is not on the login node yet
            controller.tick()
            assert controller.state.variants[V].phase == "train"
            assert run_status(layout)["variants"][V]["jobs"]["awaiting_artifact"] == 1
        assert "1 completed, awaiting artifact" in status_text(run_status(layout))
        result = run_training(spec)  # now it appears
        controller.tick()
    v = controller.state.variants[V]
    assert (v.phase, v.candidate) == ("evaluate", Path(result.weights).stem)
    assert _records(layout, "training_failed") == []
    assert [r["model_id"] for r in _records(layout, "ingested") if r["artifact"] == "model"] == [v.candidate]
    folded = replay_state([V], replay_journal(layout.journal).records)
    assert not any(j.purpose == "train" for j in folded.jobs.values())  # nothing awaited any more


def test_a_model_not_visible_within_the_grace_fails_the_training_with_that_reason(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", changes={"loop": {"artifact_grace_s": 300.0}})
    _publish_shards(layout, 4)
    now = [1000.0]
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        controller.tick()
        _end_training(controller, executor)
        controller.tick()  # the end is journaled at 1000
        now[0] = 1300.0
        controller.tick()
        assert _records(layout, "training_failed") == []  # 300 s: still within the grace
        now[0] = 1300.5
        controller.tick()
    (failed,) = _records(layout, "training_failed")
    assert "completed but its model was not ingested within 300 s" in failed["error"]
    assert controller.state.variants[V].phase == "collect"
    assert not any(j.purpose == "train" and j.status == "completed" for j in controller.state.jobs.values())


def test_a_negative_artifact_grace_is_refused_with_the_key_and_the_fix() -> None:
    doc = tiny_config_doc()
    doc["loop"]["artifact_grace_s"] = -5
    with pytest.raises(ConfigError) as error:
        parse_config(doc, source="run.yaml")
    assert "loop.artifact_grace_s: must be at least 0, got the number -5" in str(error.value)
    assert "fix: use a value at least 0" in str(error.value)
    assert parse_config(tiny_config_doc(), source="x").loop.artifact_grace_s == 600.0


# -- refused submissions ----------------------------------------------------------------------


class RefusingExecutor(FakeExecutor):
    """Refuses the first `refusals` submissions (every one with None), counting the attempts."""

    def __init__(self, refusals: int | None) -> None:
        super().__init__()
        self.refusals = refusals
        self.attempts = 0

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        self.attempts += 1
        if self.refusals is None or self.attempts <= self.refusals:
            raise SubmissionError("sbatch: error: QOSMaxSubmitJobPerUserLimit")
        return super().submit_array(purpose, specs)


def _refusing_run(tmp_path: Path, refusals: int | None) -> tuple[RunLayout, RefusingExecutor, list[float]]:
    changes = {"selfplay": {"tasks_in_flight": 2}, "loop": {"max_job_retries": 2, "retry_backoff_s": 10.0}}
    return make_tiny_run(tmp_path / "run", changes=changes), RefusingExecutor(refusals), [1000.0]


def test_a_refused_submission_backs_off_and_is_submitted_once_accepted(tmp_path: Path) -> None:
    layout, executor, now = _refusing_run(tmp_path, refusals=2)
    controller, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        # (time of the tick, submission attempts so far): retries at +10 s, then +20 s.
        for at, attempts in ((1000, 1), (1009, 1), (1010, 2), (1029, 2), (1030, 3), (1031, 3)):
            now[0] = float(at)
            controller.tick()
            assert executor.attempts == attempts, at
            if attempts < 3:
                assert {j.status for j in controller.state.jobs.values()} == {"deferred"}
                assert run_status(layout)["variants"][V]["jobs"]["retrying"] == 2
    refused = _records(layout, "submit_refused")
    assert [(r["attempt"], r["retry_at"]) for r in refused] == [(1, 1010.0), (2, 1030.0)]
    assert all("QOSMaxSubmitJobPerUserLimit" in r["error"] for r in refused)
    assert _records(layout, "error") == [] and controller.state.errors == ()
    # The refused tasks were the fleet: none were added beside them, and both run now.
    assert executor.submissions == [("selfplay", 2)]
    assert {j.status for j in controller.state.jobs.values()} <= {"pending", "running"}
    assert controller.state.variants[V].next_task == 2


def test_a_submission_refused_too_often_marks_its_tasks_refused(tmp_path: Path) -> None:
    layout, executor, now = _refusing_run(tmp_path, refusals=None)
    controller, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        for at in (1000, 1010, 1030):
            now[0] = float(at)
            controller.tick()
    # The first submission and max_job_retries more; then, in the same tick, the variant's
    # fleet is planned anew and two new tasks are tried (and back off in turn).
    assert executor.attempts == 4
    assert [r["retry_at"] for r in _records(layout, "submit_refused")] == [1010.0, 1030.0, None, 1040.0]
    jobs = sorted(controller.state.jobs.values(), key=lambda j: j.task)
    assert [(j.status, j.refusals, j.in_flight) for j in jobs] == [
        *[("refused", 3, False)] * 2,
        *[("deferred", 1, True)] * 2,
    ]
    status = run_status(layout)
    assert status["variants"][V]["jobs"]["refused"] == 2
    (error,) = status["errors"]
    assert "refused by the scheduler 3 times" in error["error"]
    assert "2 refused" in status_text(status)
    # A restarted controller folds the same refusals from the journal.
    assert replay_state([V], replay_journal(layout.journal).records).jobs == controller.state.jobs


def test_a_refused_training_fails_the_training_with_that_reason(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", changes={"loop": {"max_job_retries": 0}})
    _publish_shards(layout, 4)

    class RefusesTraining(FakeExecutor):
        def submit(self, purpose: Purpose, spec: Any) -> JobRef:
            raise SubmissionError("sbatch: error: invalid partition specified: gpu")

    controller, journal = _controller(layout, RefusesTraining(), lambda: 1000.0)
    with journal:
        controller.tick()
        controller.tick()
    (failed,) = _records(layout, "training_failed")
    assert "was refused by the scheduler 1 times" in failed["error"]
    assert controller.state.variants[V].phase == "collect"


# -- the journal grows with events ------------------------------------------------------------


def test_idle_ticks_add_no_journal_records(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()  # submits the selfplay fleet, which then runs on
        records = len(_records(layout))
        for _ in range(50):
            controller.tick()
        assert len(_records(layout)) == records
    assert controller.ticks == 51
    assert json.loads(layout.state.read_text())["ticks"] == 51
    text = layout.metrics_file("controller").read_text()
    assert "ringrift_controller_ticks_total 51" in text


# -- a generation under a shared filesystem's lag ---------------------------------------------


class InProcessExecutor(FakeExecutor):
    """Runs each job in this process when it is submitted; the scheduler then reports it
    completed at the next poll, while its artifact may still be invisible (`LaggedListing`)."""

    def _submitted(self, purpose: Purpose, specs: Sequence[Any], refs: list[JobRef]) -> list[JobRef]:
        refs = super()._submitted(purpose, specs, refs)
        run = job_callable(purpose)
        for ref, spec in zip(refs, specs):
            run(spec)
            self.states[ref] = JobState(JobStatus.COMPLETED, exit_code=0)
        return refs


class LateEndExecutor(InProcessExecutor):
    """Jobs publish at once but the scheduler reports their end `late` polls later (sacct
    catching up), so artifacts are ingested before their jobs are seen to end."""

    def __init__(self, late: int) -> None:
        super().__init__()
        self.late = late
        self.polls_left: dict[JobRef, int] = {}

    def _submitted(self, purpose: Purpose, specs: Sequence[Any], refs: list[JobRef]) -> list[JobRef]:
        refs = super()._submitted(purpose, specs, refs)
        for ref in refs:
            self.polls_left[ref] = self.late
            self.states[ref] = JobState(JobStatus.RUNNING)
        return refs

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        refs = list(refs)
        for ref in refs:
            self.polls_left[ref] -= 1
            if self.polls_left[ref] <= 0:
                self.states[ref] = JobState(JobStatus.COMPLETED, exit_code=0)
        return super().poll(refs)


def test_a_run_whose_artifacts_are_ingested_before_their_jobs_end_finishes(tmp_path: Path) -> None:
    """The final tournament's match file is ingested before sacct reports its task ended: the
    run is done at once, not after `loop.artifact_grace_s` of waiting for a file already in."""
    layout = make_tiny_run(tmp_path / "run", generations=1)
    controller, journal = _controller(layout, LateEndExecutor(late=2), lambda: 1000.0)
    with journal:
        for _ in range(100):
            controller.tick()
            if controller.done():
                break
        assert controller.done()
    _check_nothing_lost_or_doubled(layout)
    assert any(r.get("eval_id", "").startswith("tournament-") for r in _records(layout, "ingested"))


def _published(layout: RunLayout) -> set[str]:
    """Every artifact published under the variant (shards, models, match files)."""
    root = layout.variant_dir(V)
    directories = [root / "models", *(d for d in root.glob("*/*") if d.is_dir())]
    return {
        str(layout.relative(p.path)) for d in directories for p in list_published(d, verify=False).published
    }


def _finish(controller: Controller, lagged: LaggedListing) -> None:
    """Tick past the lag once the run is done: what its last jobs published becomes visible."""
    for _ in range(lagged.lag):
        controller.tick()


def _check_nothing_lost_or_doubled(layout: RunLayout) -> None:
    records = _records(layout)
    ingested = [r["path"] for r in records if r.get("event") == "ingested"]
    assert len(ingested) == len(set(ingested))  # nothing ingested twice
    assert set(ingested) == _published(layout)  # nothing lost
    decided = Counter(r["candidate"] for r in records if r.get("event") == "decision")
    assert decided and set(decided.values()) == {1}  # nothing decided twice
    history = [json.loads(line) for line in layout.promotions(V).read_text().splitlines()]
    assert Counter(h["candidate"] for h in history if "candidate" in h) == decided
    # No job that succeeded recorded as failed, and nothing failed.
    assert {r["status"] for r in records if r.get("event") == "job_ended"} == {"completed"}
    assert not any(r.get("event") in ("training_failed", "evaluation_failed", "error") for r in records)


def test_a_generation_under_filesystem_lag_loses_and_repeats_nothing(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", generations=1)
    lagged = LaggedListing(3)
    executor = InProcessExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0, listing=lagged)
    awaited = 0
    with journal:
        for _ in range(100):
            controller.tick()
            # A completed training job is kept only while its model is awaited.
            awaited += sum(
                j.purpose == "train" and j.status == "completed" for j in controller.state.jobs.values()
            )
            if controller.done():
                break
        assert controller.done()
        _finish(controller, lagged)
    _check_nothing_lost_or_doubled(layout)
    # With lag the jobs' ends were seen before their artifacts: the case under test happened.
    assert lagged.hidden_total > 0 and awaited > 0
    assert (layout.report_dir / "index.html").exists()  # rewritten after the decision


def test_restarts_under_filesystem_lag_lose_and_repeat_nothing(tmp_path: Path) -> None:
    """A controller replaced (its object dropped, as after a SIGKILL) every few ticks while the
    filesystem lags: the next one replays the journal and carries on."""
    layout = make_tiny_run(tmp_path / "run", generations=1)
    lagged = LaggedListing(3)
    executor = InProcessExecutor()
    restarts = 0
    for _ in range(100):
        controller, journal = _controller(layout, executor, lambda: 1000.0, listing=lagged)
        with journal:
            controller.recover_decisions()
            for _ in range(1 + restarts % 4):
                controller.tick()
            if controller.done():
                _finish(controller, lagged)
                break
        assert isinstance(controller.lease, FileLease)
        release_lease(controller.lease.lease, clock=lambda: 1000.0)
        restarts += 1
    assert controller.done() and restarts > 5
    _check_nothing_lost_or_doubled(layout)


# -- crashes at many points, jobs killed, under lag ---------------------------------------------


class Crash(BaseException):
    """The controller process dies here (as by SIGKILL): nothing after this point happens."""


@dataclass
class CrashSchedule:
    """Where the controller dies: before the run's `points`-th journal append (counted over all
    controllers), and before the append that follows the first record of each event in `after`;
    every other death leaves half of that record on disk, as a kill in the middle of a write does."""

    points: set[int]
    after: set[str]
    appends: int = 0
    crashes: int = 0
    last_event: str = ""

    def due(self) -> bool:
        self.appends += 1
        if self.appends in self.points:
            return True
        if self.last_event in self.after:
            self.after.discard(self.last_event)
            return True
        return False


class CrashingJournal(JournalWriter):
    def __init__(self, path: Path, schedule: CrashSchedule) -> None:
        super().__init__(path)
        self.schedule = schedule

    def append(self, record: Mapping[str, Any]) -> None:
        schedule = self.schedule
        if schedule.due():
            schedule.crashes += 1
            schedule.last_event = ""
            if schedule.crashes % 2 == 0:
                encoded = encode_record(record)
                with self.path.open("ab") as stream:
                    stream.write(encoded[: len(encoded) // 2])
            raise Crash
        super().append(record)
        schedule.last_event = str(record.get("event"))


class KillingExecutor(InProcessExecutor):
    """Kills the jobs of the chosen submissions before they publish anything: the scheduler
    reports them lost (a node failure) or failed (killed, exit 137), by turns. A task is killed
    at most once, so its retries are never used up."""

    def __init__(self, kill_submissions: set[int]) -> None:
        super().__init__()
        self.kill_submissions = kill_submissions
        self.killed: dict[JobRef, JobStatus] = {}
        self._tasks_killed: set[str] = set()
        self._count = 0

    def _submitted(self, purpose: Purpose, specs: Sequence[Any], refs: list[JobRef]) -> list[JobRef]:
        kept_specs, kept_refs = [], []
        for spec, ref in zip(specs, refs):
            self._count += 1
            task = repr(spec)
            if self._count in self.kill_submissions and task not in self._tasks_killed:
                self._tasks_killed.add(task)
                status = JobStatus.LOST if len(self.killed) % 2 == 0 else JobStatus.FAILED
                self.killed[ref] = status
                self.states[ref] = JobState(status, None if status is JobStatus.LOST else 137)
                self.submissions.append((purpose, 1))
            else:
                kept_specs.append(spec)
                kept_refs.append(ref)
        if kept_refs:
            super()._submitted(purpose, kept_specs, kept_refs)
        return refs


CRASHES = 24


def test_controller_killed_at_many_points_and_jobs_killed_under_lag_lose_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    """The crash-safety suite under a shared filesystem's lag: the controller dies before a
    record at 24 points chosen by a fixed seed (half of them mid-write), some jobs are killed,
    and each new controller replays the journal and carries on: nothing lost, nothing ingested
    or decided twice, no job that succeeded recorded as failed."""
    rng = random.Random(14)
    # Random appends, and right after the records that a write of other files follows.
    after = {"decision", "decision_recorded", "leaderboard"}
    # The run appends ~150 records with these kills; points past its end would never be reached.
    schedule = CrashSchedule(set(rng.sample(range(1, 130), CRASHES - len(after))), set(after))
    layout = make_tiny_run(tmp_path / "run", generations=2)
    lagged = LaggedListing(3)
    executor = KillingExecutor(set(rng.sample(range(1, 40), 6)))
    clock = itertools.count(1000.0, 1.0).__next__  # the backoff and grace see time pass
    for _ in range(400):
        lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=1e6, clock=clock)
        config = load_config(layout.run_config)
        try:
            with CrashingJournal(layout.journal, schedule) as journal:
                controller = Controller(
                    layout, config, executor, FileLease(lease, clock), journal, clock=clock, listing=lagged
                )
                controller.recover_decisions()
                while not controller.done():
                    controller.tick()
                _finish(controller, lagged)
                break
        except Crash:
            pass
        finally:
            release_lease(lease, clock=clock)
    assert schedule.crashes == CRASHES and not schedule.after and controller.done()
    assert executor.killed and lagged.hidden_total > 0
    # Every torn write was found and set aside by the next controller's journal.
    assert len(list(layout.journal.parent.glob(f"{layout.journal.name}.torn-*"))) == CRASHES // 2
    records = _records(layout)
    ingested = [r["path"] for r in records if r.get("event") == "ingested"]
    assert len(ingested) == len(set(ingested)) and set(ingested) == _published(layout)
    decided = Counter(r["candidate"] for r in records if r.get("event") == "decision")
    assert decided and set(decided.values()) == {1}
    history = [json.loads(line) for line in layout.promotions(V).read_text().splitlines()]
    assert Counter(h["candidate"] for h in history if "candidate" in h) == decided
    killed = {ref.key: status.value for ref, status in executor.killed.items()}
    for ended in (r for r in records if r.get("event") == "job_ended"):
        assert ended["status"] == killed.get(ended["job"], "completed")
    assert not any(r.get("event") in ("training_failed", "evaluation_failed", "error") for r in records)
