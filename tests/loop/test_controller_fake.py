"""The controller against a fake executor: one scheduler query per tick with hundreds of array
tasks in flight, retries with backoff then errors (never success), orphaned submissions
resubmitted after a crash, and state.json equal to the journal's fold."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import load_config
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.events import IntentTask, SubmitIntent
from ringrift_hpc.loop.halt import clear_halt, write_halt
from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.loop.status import run_status
from ringrift_hpc.store import JournalWriter, RunLayout, acquire_lease, release_lease, replay_journal
from ringrift_hpc.store.fencing import FileLease


class FakeExecutor:
    """Jobs that only change state when the test says so; counts poll calls."""

    def __init__(self) -> None:
        self.queries = 0
        self.next_id = 100
        self.states: dict[JobRef, JobState] = {}
        self.submissions: list[tuple[str, int]] = []
        self.specs: list[tuple[Purpose, Any]] = []
        self.polled: list[JobRef] = []

    @property
    def scheduler_queries(self) -> int:
        return self.queries

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        self.next_id += 1
        return self._submitted(purpose, [spec], [JobRef(purpose, str(self.next_id))])[0]

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        self.next_id += 1
        refs = [JobRef(purpose, str(self.next_id), task) for task in range(len(specs))]
        return self._submitted(purpose, specs, refs)

    def _submitted(self, purpose: Purpose, specs: Sequence[Any], refs: list[JobRef]) -> list[JobRef]:
        for ref in refs:
            self.states[ref] = JobState(JobStatus.RUNNING)
        self.submissions.append((purpose, len(refs)))
        self.specs.extend((purpose, spec) for spec in specs)
        return refs

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        self.queries += 1
        refs = list(refs)
        self.polled.extend(refs)
        return {ref: self.states.get(ref, JobState(JobStatus.UNKNOWN)) for ref in refs}

    def cancel(self, refs: Iterable[JobRef]) -> None:
        for ref in refs:
            self.states[ref] = JobState(JobStatus.CANCELLED)

    def cancel_all(self) -> None:
        self.cancel(list(self.states))

    def error_text(self, ref: JobRef) -> str:
        return f"job {ref.key} failed: boom"

    def result(self, ref: JobRef) -> Any:
        return None


def _controller(
    layout: RunLayout, executor: FakeExecutor, clock: Callable[[], float]
) -> tuple[Controller, JournalWriter]:
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=1e6, clock=clock)
    journal = JournalWriter(layout.journal)
    config = load_config(layout.run_config)
    return Controller(layout, config, executor, FileLease(lease, clock), journal, clock=clock), journal


def _big_fleet(tmp_path: Path, tasks: int, backoff_s: float = 0.0) -> RunLayout:
    changes = {"selfplay": {"tasks_in_flight": tasks}, "loop": {"retry_backoff_s": backoff_s}}
    return make_tiny_run(tmp_path / "run", changes=changes)


def test_one_scheduler_query_per_tick_with_hundreds_of_tasks(tmp_path: Path) -> None:
    layout = _big_fleet(tmp_path, 400)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        for _ in range(4):
            controller.tick()
            assert controller.queries_last_tick == 1
    assert executor.submissions == [("selfplay", 400)]
    # The executor gets the purpose and the registry's spec type, rebuilt from the journal.
    assert {(purpose, type(spec)) for purpose, spec in executor.specs} == {("selfplay", SelfplaySpec)}
    in_flight = [j for j in controller.state.jobs.values() if j.in_flight]
    assert len(in_flight) == 400


def test_failed_task_is_retried_with_backoff_then_surfaces_as_error(tmp_path: Path) -> None:
    layout = _big_fleet(tmp_path, 1, backoff_s=10.0)
    now = [1000.0]
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        controller.tick()
        (task,) = controller.state.jobs
        for attempt, wait in enumerate((10.0, 20.0)):
            ref = controller.state.jobs[task].ref
            assert ref is not None
            executor.states[ref] = JobState(JobStatus.FAILED, exit_code=1)
            controller.tick()
            job = controller.state.jobs[task]
            assert (job.status, job.retry_at) == ("failed", now[0] + wait)
            now[0] += wait - 1
            controller.tick()
            assert controller.state.jobs[task].attempt == attempt  # not yet due
            now[0] += 1
            controller.tick()
            assert controller.state.jobs[task].attempt == attempt + 1
            assert controller.state.jobs[task].status in ("pending", "running")
        ref = controller.state.jobs[task].ref
        assert ref is not None
        executor.states[ref] = JobState(JobStatus.FAILED, exit_code=1)
        controller.tick()
    job = controller.state.jobs[task]
    assert job.status == "error" and "boom" in job.error
    status = run_status(layout)
    assert status["variants"]["square8_2p"]["jobs"]["failed"] == 1
    assert any("boom" in e["error"] for e in status["errors"])
    assert layout.selfplay_root("square8_2p").exists() is False  # nothing published, nothing ingested
    assert status["variants"]["square8_2p"]["samples_total"] == 0


def test_state_json_is_the_journal_fold_and_orphans_are_resubmitted(tmp_path: Path) -> None:
    layout = _big_fleet(tmp_path, 3)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        # A crash between the intent and the executor: an intent without `submitted`.
        spec = controller.state.jobs["selfplay/square8_2p/000000/000000"].spec
        orphan = IntentTask(
            task="selfplay/square8_2p/000000/000003",
            spec=spec.replace('"task_index": 0', '"task_index": 3'),
            attempt=0,
        )
        controller.record(
            SubmitIntent(purpose="selfplay", variant="square8_2p", kind="selfplay", tasks=(orphan,))
        )
    release_lease(controller.lease.lease, clock=lambda: 1000.0)
    folded = replay_state(["square8_2p"], replay_journal(layout.journal).records)
    assert folded.jobs["selfplay/square8_2p/000000/000003"].status == "intent"
    snapshot = json.loads(layout.state.read_text())
    assert snapshot["variants"]["square8_2p"]["next_task"] == 3
    restarted, journal = _controller(layout, executor, lambda: 1001.0)
    with journal:
        restarted.tick()
    job = restarted.state.jobs["selfplay/square8_2p/000000/000003"]
    assert job.status == "pending" and job.ref is not None
    assert executor.submissions == [("selfplay", 3), ("selfplay", 1)]  # the orphan once, nothing more
    assert restarted.state.variants["square8_2p"].next_task == 4


def test_jobs_cancelled_by_a_halt_rerun_after_resume_without_using_a_retry(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", changes={"loop": {"max_job_retries": 0}})
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        write_halt(layout, "maintenance")
        executor.cancel_all()
        controller.tick()
        controller.tick()
        assert {j.status for j in controller.state.jobs.values()} == {"failed"}
        assert executor.submissions == [("selfplay", 2)]  # nothing while halted
        clear_halt(layout)
        controller.tick()
    assert executor.submissions == [("selfplay", 2), ("selfplay", 2)]
    assert {(j.status, j.attempt) for j in controller.state.jobs.values()} == {("pending", 0)}
    assert controller.state.errors == ()


def test_job_refs_journaled_by_earlier_versions_are_polled_after_a_restart(tmp_path: Path) -> None:
    layout = _big_fleet(tmp_path, 2)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
    release_lease(controller.lease.lease, clock=lambda: 1000.0)
    refs = {job.ref for job in controller.state.jobs.values()}
    # Earlier versions wrote each ref with the job's kind instead of its purpose.
    records = [json.loads(line) for line in layout.journal.read_text().splitlines()]
    for record in records:
        for ref in record.get("refs", []):
            ref["kind"] = ref.pop("purpose")
    layout.journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    old_refs = [ref for record in records for ref in record.get("refs", [])]
    assert len(old_refs) == 2 and all(set(ref) == {"kind", "job_id", "task"} for ref in old_refs)

    restarted, journal = _controller(layout, executor, lambda: 1001.0)
    with journal:
        restarted.tick()
    assert {job.ref for job in restarted.state.jobs.values()} == refs
    assert set(executor.polled[-len(refs) :]) == refs
    assert executor.submissions == [("selfplay", 2)]  # re-attached, nothing submitted again
