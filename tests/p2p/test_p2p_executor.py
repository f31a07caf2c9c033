"""The P2P executor: the controller's jobs become work-queue jobs, and poll, cancel and
error_text read the queue, including refs of an older coordinator's term."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.cluster.executor import Executor, JobError, JobRef, JobState, JobStatus, SubmissionError
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.p2p.executor import P2PExecutor
from ringrift_hpc.p2p.job_codec import decode_job
from ringrift_hpc.p2p.work_queue import Demand, WorkQueue

from .job_specs import match_spec, selfplay_spec, train_spec

ROOT = Path("/coordinator/run")
FREE = Demand(cpus=8, gpus=1, memory_mb=32000)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Demands:
    """Training wants the GPU; everything else one CPU. Records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[Purpose] = []

    def __call__(self, purpose: Purpose) -> Demand:
        self.asked.append(purpose)
        return (
            Demand(cpus=4, gpus=1, memory_mb=8000)
            if purpose == "train"
            else Demand(cpus=1, gpus=0, memory_mb=1000)
        )


def _executor(term: int = 2, clock: Clock | None = None) -> tuple[P2PExecutor, WorkQueue, Demands]:
    queue = WorkQueue(term, job_lease_s=10.0, clock=clock or Clock())
    demands = Demands()
    return P2PExecutor(queue, demand_for=demands), queue, demands


def test_it_is_an_executor() -> None:
    executor: Executor = _executor()[0]  # mypy checks the protocol here
    assert executor.scheduler_queries == 0


def test_submissions_become_queue_jobs_one_ref_each() -> None:
    executor, queue, demands = _executor()
    train = executor.submit("train", train_spec(ROOT))
    selfplay = executor.submit_array("selfplay", [selfplay_spec(ROOT, task_index=k) for k in range(3)])
    match = executor.submit_array("evaluate", [match_spec(ROOT)])
    tournament = executor.submit("tournament", match_spec(ROOT))
    refs = [train, *selfplay, *match, tournament]
    assert [r.purpose for r in refs] == [
        "train",
        "selfplay",
        "selfplay",
        "selfplay",
        "evaluate",
        "tournament",
    ]
    assert all(r.task is None for r in refs) and len({r.job_id for r in refs}) == 6
    assert [JobRef.from_json(r.to_json()) for r in refs] == refs  # what the controller journals
    assert demands.asked == ["train", "selfplay", "evaluate", "tournament"]  # once per submission
    assert [row["purpose"] for row in queue.snapshot()] == [r.purpose for r in refs]
    queue.publish()
    first = queue.claim("w", Demand(cpus=1, gpus=0, memory_mb=1000), term_seen=2)  # train does not fit
    assert first is not None and first.job_id == selfplay[0].job_id
    assert decode_job(first.job) == ("selfplay", selfplay_spec(ROOT, task_index=0))
    trained = queue.claim("g", FREE, term_seen=2)
    assert trained is not None and trained.job_id == train.job_id and trained.purpose == "train"


def test_a_bad_submission_queues_nothing() -> None:
    executor, queue, _ = _executor()
    with pytest.raises(SubmissionError, match=r"a selfplay job takes a SelfplaySpec; got MatchSpec"):
        executor.submit_array("selfplay", [selfplay_spec(ROOT), match_spec(ROOT)])
    with pytest.raises(SubmissionError, match=r"a tournament job takes a MatchSpec; got SelfplaySpec"):
        executor.submit("tournament", selfplay_spec(ROOT))
    with pytest.raises(SubmissionError, match=r"at least one spec"):
        executor.submit_array("selfplay", [])
    with pytest.raises(ValueError, match=r"job purpose 'match' is not one of selfplay, train"):
        executor.submit("match", match_spec(ROOT))  # type: ignore[arg-type]  # earlier versions' word
    assert queue.snapshot() == []


def test_poll_follows_a_job_through_its_life_one_query_per_call() -> None:
    clock = Clock()
    executor, queue, _ = _executor(clock=clock)
    ok, bad = executor.submit_array("selfplay", [selfplay_spec(ROOT, task_index=k) for k in (0, 1)])
    assert executor.poll([ok, bad]) == {ok: JobState(JobStatus.PENDING), bad: JobState(JobStatus.PENDING)}
    queue.publish()
    assert queue.claim("w1", FREE, term_seen=2) is not None
    assert queue.claim("w2", FREE, term_seen=2) is not None
    clock.now = 4.0
    assert executor.poll([ok]) == {ok: JobState(JobStatus.RUNNING, None, 4, "w1")}
    queue.report("w1", ok.job_id, 2, JobState(JobStatus.COMPLETED, 0, 4), "")
    queue.report("w2", bad.job_id, 2, JobState(JobStatus.FAILED, 1, 4), "Traceback\nValueError: no")
    states = executor.poll([ok, bad])
    assert states[ok].succeeded and states[bad] == JobState(JobStatus.FAILED, 1, 4, "w2")
    assert executor.error_text(bad) == "Traceback\nValueError: no" and executor.error_text(ok) == ""
    assert executor.scheduler_queries == 3
    with pytest.raises(JobError, match=r"results travel as artifacts"):
        executor.result(ok)


def test_poll_hands_out_again_the_jobs_of_workers_gone_silent() -> None:
    clock = Clock()
    executor, queue, _ = _executor(clock=clock)
    [ref] = executor.submit_array("selfplay", [selfplay_spec(ROOT)])
    queue.publish()
    assert queue.claim("dead", FREE, term_seen=2) is not None
    clock.now = 11.0
    assert executor.poll([ref])[ref] == JobState(JobStatus.PENDING)
    claimed = queue.claim("alive", FREE, term_seen=2)
    assert claimed is not None and claimed.job_id == ref.job_id


def test_cancel_and_cancel_all() -> None:
    executor, queue, _ = _executor()
    one, two, three = executor.submit_array("selfplay", [selfplay_spec(ROOT, task_index=k) for k in range(3)])
    queue.publish()
    assert queue.claim("w", FREE, term_seen=2) is not None
    executor.cancel([one])
    assert queue.heartbeat("w", one.job_id, 2).cancel
    assert executor.poll([one])[one].status is JobStatus.CANCELLED
    executor.cancel_all()
    assert {s.status for s in executor.poll([two, three]).values()} == {JobStatus.CANCELLED}


def test_refs_of_an_older_term_poll_as_failed_with_the_reason() -> None:
    old_executor, _, _ = _executor(term=2)
    ref = old_executor.submit("selfplay", selfplay_spec(ROOT))
    new_executor, _, _ = _executor(term=3)
    state = new_executor.poll([ref])[ref]
    assert state.status is JobStatus.FAILED and state.is_terminal
    assert (
        state.detail
        == f"job {ref.job_id} was lost with the coordinator of term 2 (now 3); the controller resubmits it"
    )
    assert new_executor.error_text(ref) == state.detail
    new_executor.cancel([ref])  # nothing to cancel: it is gone with its coordinator
    assert new_executor.poll([ref])[ref] == state
