"""The controller against a fake executor: one scheduler query per tick with hundreds of array
tasks in flight, retries with backoff then errors (never success), orphaned submissions
resubmitted after a crash, and state.json equal to the journal's fold. Shards: the training
window is the controller's record of ingested shards, a shard the training job cannot read ends
in quarantine through the controller, and a shard moved away mid-quarantine does not raise."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import h5py
import pytest
from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus, SchedulerUnavailableError
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import load_config
from ringrift_hpc.jobs.replay_window import Window
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import run_training
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.events import IntentTask, SubmitIntent
from ringrift_hpc.loop.halt import clear_halt, write_halt
from ringrift_hpc.loop.policies import MAX_LOST_RERUNS
from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.loop.status import run_status
from ringrift_hpc.store import (
    JournalWriter,
    LeaseLostError,
    RunLayout,
    acquire_lease,
    list_quarantined,
    release_lease,
    replay_journal,
)
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
    # The controller's job figures count the three failed attempts it journaled itself.
    prom = layout.metrics_file("controller").read_text()
    assert 'ringrift_jobs_ended_total{purpose="selfplay",status="failed",variant="square8_2p"} 3\n' in prom
    # Three attempts of the task, then the next task that took its place in the fleet.
    assert len(controller.state.jobs) == 2
    assert 'ringrift_jobs_submitted_total{purpose="selfplay",variant="square8_2p"} 4\n' in prom


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
            SubmitIntent(purpose="selfplay", variant="square8_2p", tasks=(orphan,))
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


def test_jobs_lost_with_their_node_rerun_without_using_a_retry_but_not_forever(tmp_path: Path) -> None:
    layout = make_tiny_run(
        tmp_path / "run", changes={"selfplay": {"tasks_in_flight": 1}, "loop": {"max_job_retries": 1}}
    )
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        (task,) = controller.state.jobs
        for lost in range(1, MAX_LOST_RERUNS + 1):
            ref = controller.state.jobs[task].ref
            assert ref is not None
            executor.states[ref] = JobState(JobStatus.LOST, detail="NODE_FAIL")
            controller.tick()
            job = controller.state.jobs[task]
            assert (job.status, job.attempt, job.lost) == ("pending", 0, lost)  # rerun at once
        assert controller.state.errors == ()
        # Lost once more than MAX_LOST_RERUNS: now it counts, and with one retry allowed it reruns
        # as attempt 1; the next loss of that attempt gives up.
        for attempt in (1, None):
            ref = controller.state.jobs[task].ref
            assert ref is not None
            executor.states[ref] = JobState(JobStatus.LOST, detail="PREEMPTED")
            controller.tick()
            controller.tick()
            job = controller.state.jobs[task]
            assert job.attempt == 1
            assert job.status in (("pending", "running") if attempt else ("error",))
    folded = replay_state(["square8_2p"], replay_journal(layout.journal).records)
    assert folded.jobs[task] == controller.state.jobs[task]


class UnreachableScheduler(FakeExecutor):
    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        raise SchedulerUnavailableError("neither sacct nor squeue answered (slurmctld restarting)")


def test_a_tick_without_an_answer_from_the_scheduler_changes_no_job(tmp_path: Path) -> None:
    layout = _big_fleet(tmp_path, 2)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        before = dict(controller.state.jobs)
        controller.executor = UnreachableScheduler()
        controller.tick()  # does not raise
        assert controller.state.jobs == before
        controller.executor = executor
        for ref in executor.states:
            executor.states[ref] = JobState(JobStatus.COMPLETED, exit_code=0)
        controller.tick()
    assert all(task not in controller.state.jobs for task in before)


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


def _publish_shards(layout: RunLayout, count: int) -> list[Path]:
    """`count` one-game bootstrap shards of generation 0, published as selfplay publishes them."""
    return [
        run_selfplay(
            SelfplaySpec(
                run_root=str(layout.root),
                variant="square8_2p",
                generation=0,
                task_index=index,
                model_id="none",
                run_seed=3,
                games=1,
                bootstrap_player="random",
                concurrent_games=1,
                device="cpu",
                walltime_margin_s=0.0,
            )
        ).shard
        for index in range(count)
    ]


def test_a_shard_moved_away_while_the_controller_quarantines_it_does_not_raise_out_of_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = make_tiny_run(tmp_path / "run")
    (shard,) = _publish_shards(layout, 1)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    elsewhere = tmp_path / "moved-by-someone-else.h5"
    rename = os.rename

    def someone_moves_it_first(source: Any, target: Any) -> None:
        # Between the controller's existence check and its rename, another process moves the shard.
        if Path(source) == shard and shard.exists():
            rename(shard, elsewhere)
        rename(source, target)

    monkeypatch.setattr(os, "rename", someone_moves_it_first)
    controller, journal = _controller(layout, FakeExecutor(), lambda: 1000.0)
    with journal:
        controller.tick()
        controller.tick()
    assert elsewhere.exists() and not shard.exists()
    (record,) = [r for r in replay_journal(layout.journal).records if r.get("event") == "quarantined"]
    assert record["path"] == "variants/square8_2p/selfplay/000000/000000.h5" and "sha256" in record["reason"]
    (entry,) = list_quarantined(layout)
    assert [p.name for p in entry.files] == ["000000.json"]  # what was still there to move
    assert controller.state.variants["square8_2p"].samples_total == 0


def test_a_corrupt_shard_found_by_training_ends_in_quarantine_through_the_controller(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    shards = _publish_shards(layout, 4)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()  # ingests the four shards (manifests only) and submits the training
        (train,) = [j for j in controller.state.jobs.values() if j.purpose == "train"]
        spec = TrainSpec.from_json(train.spec)
        assert spec.window is not None
        ingested = {
            r["path"]: r["samples"]
            for r in replay_journal(layout.journal).records
            if r.get("event") == "ingested" and r["artifact"] == "shard"
        }
        assert dict(Window.from_doc(spec.window, source="spec").shards) == ingested
        late = _publish_shards(layout, 5)[-1]  # published after the window was chosen
        bad = shards[1]
        with h5py.File(bad, "r+", locking=False) as f:
            f.attrs["task"] = "tampered"  # the bytes change: the manifest no longer verifies
        result = run_training(spec)
        assert late.name not in {name.rsplit("/", 1)[-1] for name, _ in result.provenance}
        (reported,) = result.quarantined
        assert reported.startswith("variants/square8_2p/selfplay/000000/000001.h5: ")
        assert "000001.json says" in reported
        assert bad.exists() and list_quarantined(layout) == ()  # the job moved nothing
        assert train.ref is not None
        executor.states[train.ref] = JobState(JobStatus.COMPLETED, exit_code=0)
        controller.tick()  # ingests the candidate, quarantines what its training reported
    assert not bad.exists()
    (entry,) = list_quarantined(layout)
    assert entry.original == "variants/square8_2p/selfplay/000000/000001.h5"
    assert f"the training of model {Path(result.weights).stem} could not read it, nor can" in entry.reason
    records = replay_journal(layout.journal).records
    assert [r["path"] for r in records if r.get("event") == "quarantined"] == [entry.original]
    live = controller.shard_index.entries(layout, "square8_2p")
    assert {s.path for s in live} == {*shards, late} - {bad}  # the next window's candidates
    release_lease(controller.lease.lease, clock=lambda: 1000.0)
    restarted, journal = _controller(layout, executor, lambda: 1001.0)
    with journal:
        assert restarted.shard_index.entries(layout, "square8_2p") == live  # rebuilt from the journal


def test_a_controller_that_lost_its_lease_during_a_refit_writes_no_leaderboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = make_tiny_run(tmp_path / "run")
    now = [1000.0]
    controller, journal = _controller(layout, FakeExecutor(), lambda: now[0])
    written: list[object] = []

    def slow_fit(*args: Any, **kwargs: Any) -> object:
        now[0] += 2e6  # the fit outlasted the lease (ttl 1e6 s): another controller may hold it
        return object()

    monkeypatch.setattr("ringrift_hpc.loop.controller.ratings_of", slow_fit)
    monkeypatch.setattr("ringrift_hpc.loop.controller.write_leaderboard", lambda *a: written.append(a))
    with journal, pytest.raises(LeaseLostError, match="expired"):
        controller._refit("square8_2p")
    assert written == []


@pytest.mark.parametrize(("bootstrap_trigger", "trains"), [(None, False), (1, True)])
def test_the_bootstrap_trigger_starts_the_first_training(
    tmp_path: Path, bootstrap_trigger: int | None, trains: bool
) -> None:
    training = {"trigger_samples": 10**6, "bootstrap_trigger_samples": bootstrap_trigger}
    layout = make_tiny_run(tmp_path / "run", changes={"training": training})
    _publish_shards(layout, 1)
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        controller.tick()
    assert controller.state.variants["square8_2p"].samples_total > 0
    assert any(purpose == "train" for purpose, _ in executor.submissions) is trains


def test_a_refit_before_the_zero_points_first_match_waits_without_an_error(tmp_path: Path) -> None:
    """Match tasks finish in any order: the heuristic anchor's file may come before random's."""
    from rating.rating_helpers import heuristic, net, pair

    layout = make_tiny_run(tmp_path / "run")
    controller, journal = _controller(layout, FakeExecutor(), lambda: 1000.0)
    v = "square8_2p"
    groups = [pair(v, net(v, "m"), heuristic(v), (1, 0))]
    controller.artifacts.match_groups = lambda variant: groups  # type: ignore[method-assign]
    with journal:
        controller._refit(v)
    events = [record["event"] for record in replay_journal(layout.journal).records]
    assert "error" not in events and "leaderboard" not in events
    assert not layout.leaderboard_json(v).exists()


@pytest.mark.parametrize("yielding", [False, True])
def test_the_controller_tells_the_machine_whether_selfplay_yields(tmp_path: Path, yielding: bool) -> None:
    selfplay = {"yield_to_training_and_evaluation": yielding}
    layout = make_tiny_run(tmp_path / "run", changes={"selfplay": selfplay})
    controller, _ = _controller(layout, FakeExecutor(), lambda: 1000.0)
    v = controller.state.variants["square8_2p"]
    assert controller._observe(v, halted=False).yield_to_jobs is yielding
