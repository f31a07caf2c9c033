"""The coordinator's work queue: hidden until published, FIFO among jobs that fit, leases that
lapse and re-hand a job out, and the term and holder fencing every heartbeat and report."""

from __future__ import annotations

import json
import threading

import pytest

from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus
from ringrift_hpc.p2p.work_queue import ClaimedJob, Demand, StaleTermError, WorkQueue

JOB = {"purpose": "selfplay", "spec": "{}"}
SMALL = Demand(cpus=1, gpus=0, memory_mb=1000)
BIG = Demand(cpus=4, gpus=1, memory_mb=8000)
ROOMY = Demand(cpus=16, gpus=2, memory_mb=64000)
DONE = JobState(JobStatus.COMPLETED, 0, 12)
BROKEN = JobState(JobStatus.FAILED, 1, 3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _queue(term: int = 3, clock: Clock | None = None) -> WorkQueue:
    return WorkQueue(term, job_lease_s=30.0, clock=clock or Clock())


def _running(queue: WorkQueue, node: str = "a") -> str:
    job_id = queue.add("selfplay", JOB, SMALL)
    queue.publish()
    claimed = queue.claim(node, ROOMY, term_seen=queue.term)
    assert claimed is not None and claimed.job_id == job_id
    return job_id


def test_jobs_are_hidden_until_published() -> None:
    queue = _queue()
    first = queue.add("selfplay", JOB, SMALL)
    assert queue.claim("a", ROOMY, term_seen=3) is None
    assert queue.state(first).status is JobStatus.PENDING
    assert [row["state"] for row in queue.snapshot()] == ["hidden"]
    assert queue.publish() == 1
    second = queue.add("selfplay", JOB, SMALL)  # submitted after the publish: hidden again
    claimed = queue.claim("a", ROOMY, term_seen=3)
    assert claimed is not None and claimed.job_id == first
    assert (claimed.term, claimed.purpose, dict(claimed.job), claimed.lease_s) == (3, "selfplay", JOB, 30.0)
    assert queue.claim("a", ROOMY, term_seen=3) is None
    assert queue.publish() == 1
    again = queue.claim("b", ROOMY, term_seen=3)
    assert again is not None and again.job_id == second


def test_oldest_job_that_fits_the_free_resources_goes_first() -> None:
    queue = _queue()
    big = queue.add("train", JOB, BIG)
    small_1 = queue.add("selfplay", JOB, SMALL)
    small_2 = queue.add("evaluate", JOB, SMALL)
    queue.publish()
    fits_small = Demand(cpus=2, gpus=0, memory_mb=4000)
    order = [queue.claim("a", fits_small, term_seen=3) for _ in range(2)]
    assert [c.job_id if c else None for c in order] == [small_1, small_2]
    assert queue.claim("a", fits_small, term_seen=3) is None  # the big one does not fit
    assert queue.claim("b", Demand(cpus=4, gpus=1, memory_mb=7999), term_seen=3) is None
    claimed = queue.claim("b", BIG, term_seen=3)  # exactly its demand fits
    assert claimed is not None and claimed.job_id == big
    assert queue.state(big) == JobState(JobStatus.RUNNING, node="b")


def test_a_killed_worker_loses_its_job_to_the_next_node_and_its_late_report() -> None:
    clock = Clock()
    queue = _queue(clock=clock)
    job_id = _running(queue, "a")
    clock.now += 20
    assert queue.heartbeat("a", job_id, 3).ok  # the lease now ends at +50
    clock.now += 29
    assert queue.expire() == []
    assert queue.state(job_id).elapsed_s == 49
    # Worker a is killed: no more heartbeats.
    clock.now += 2
    assert queue.expire() == [job_id]
    assert queue.state(job_id) == JobState(JobStatus.PENDING)
    claimed = queue.claim("b", ROOMY, term_seen=3)
    assert claimed is not None and claimed.job_id == job_id
    [row] = queue.snapshot()
    assert (row["node"], row["handed_out"], row["state"], row["lease_remaining_s"]) == (
        "b",
        2,
        "running",
        30.0,
    )
    stale = queue.heartbeat("a", job_id, 3)
    assert (stale.ok, stale.cancel) == (False, True) and "held by b" in stale.reason
    late = queue.report("a", job_id, 3, BROKEN, "killed")
    assert not late.accepted and "held by b, not held by a" in late.reason
    assert queue.report("b", job_id, 3, DONE, "").accepted
    assert queue.state(job_id) == JobState(JobStatus.COMPLETED, 0, 12, "b")


def test_a_lapsed_job_not_yet_handed_out_again_refuses_its_old_holder() -> None:
    clock = Clock()
    queue = _queue(clock=clock)
    job_id = _running(queue, "a")
    clock.now += 31
    queue.expire()
    assert queue.heartbeat("a", job_id, 3).cancel
    reply = queue.report("a", job_id, 3, DONE, "")
    assert not reply.accepted and "waiting to be handed out" in reply.reason
    assert queue.state(job_id).status is JobStatus.PENDING


def test_reports_of_another_term_are_refused_naming_both_terms() -> None:
    queue = _queue(term=5)
    job_id = _running(queue)
    older = queue.report("a", job_id, 4, DONE, "")
    assert not older.accepted and "term 4" in older.reason and "term 5" in older.reason
    assert "older" in older.reason
    newer = queue.report("a", job_id, 6, DONE, "")
    assert not newer.accepted and "newer" in newer.reason
    assert queue.state(job_id).status is JobStatus.RUNNING
    beat = queue.heartbeat("a", job_id, 4)
    assert (beat.ok, beat.cancel) == (False, True) and "term 4" in beat.reason


def test_a_duplicate_report_changes_nothing() -> None:
    queue = _queue()
    job_id = _running(queue)
    assert queue.report("a", job_id, 3, BROKEN, "Traceback\nValueError: boom").accepted
    again = queue.report("a", job_id, 3, DONE, "")
    assert not again.accepted and "already failed" in again.reason
    assert queue.state(job_id) == JobState(JobStatus.FAILED, 1, 3, "a")
    assert queue.error_text(job_id) == "Traceback\nValueError: boom"
    assert queue.heartbeat("a", job_id, 3).cancel


def test_only_a_finished_state_is_reported() -> None:
    queue = _queue()
    job_id = _running(queue)
    reply = queue.report("a", job_id, 3, JobState(JobStatus.RUNNING), "")
    assert not reply.accepted and "only a finished job is reported" in reply.reason
    unknown = queue.report("a", "3000099", 3, DONE, "")
    assert not unknown.accepted and "no job 3000099 in term 3" in unknown.reason


def test_cancel_tells_the_holder_and_keeps_pending_jobs_from_being_claimed() -> None:
    queue = _queue()
    running = _running(queue, "a")
    pending = queue.add("selfplay", JOB, SMALL)
    queue.publish()
    assert queue.heartbeat("a", running, 3) == queue.heartbeat("a", running, 3)  # ok, repeatable
    queue.cancel([running, pending, "3999999"])
    beat = queue.heartbeat("a", running, 3)
    assert (beat.ok, beat.cancel) == (False, True) and "cancelled" in beat.reason
    assert queue.state(running) == JobState(JobStatus.CANCELLED, None, 0, "a", "cancelled while running on a")
    assert queue.state(pending).detail == "cancelled before it started"
    assert queue.claim("b", ROOMY, term_seen=3) is None
    assert not queue.report("a", running, 3, DONE, "").accepted
    assert queue.state(running).status is JobStatus.CANCELLED


def test_cancel_all_leaves_finished_jobs_alone() -> None:
    queue = _queue()
    done = _running(queue)
    queue.report("a", done, 3, DONE, "")
    running = _running(queue, "b")
    hidden = queue.add("train", JOB, BIG)
    queue.cancel_all()
    assert queue.state(done).status is JobStatus.COMPLETED
    assert queue.state(hidden).status is JobStatus.CANCELLED
    assert queue.state(running).status is JobStatus.CANCELLED


def test_heartbeats_for_unknown_or_foreign_jobs_say_cancel() -> None:
    queue = _queue()
    job_id = _running(queue, "a")
    assert queue.heartbeat("b", job_id, 3).cancel
    assert "no job 3000042" in queue.heartbeat("a", "3000042", 3).reason


def test_ids_never_repeat_across_terms_and_older_ones_read_as_lost() -> None:
    old = _queue(term=1)
    new = _queue(term=2)
    old_ids = [old.add("selfplay", JOB, SMALL) for _ in range(3)]
    new_ids = [new.add("selfplay", JOB, SMALL) for _ in range(3)]
    assert old_ids == ["1000001", "1000002", "1000003"] and new_ids == ["2000001", "2000002", "2000003"]
    for job_id in old_ids + new_ids:
        assert JobRef("selfplay", job_id).job_id == job_id  # the journal accepts it
    lost = new.state(old_ids[0])
    assert lost.status is JobStatus.FAILED
    assert lost.detail == (
        "job 1000001 was lost with the coordinator of term 1 (now 2); the controller resubmits it"
    )
    assert new.error_text(old_ids[0]) == lost.detail
    assert new.state("2000004") == JobState(JobStatus.UNKNOWN, detail="no job 2000004 in term 2")
    assert new.error_text("2000004") == ""


def test_a_newer_term_seen_by_a_worker_stops_the_hand_out() -> None:
    queue = _queue(term=3)
    queue.add("selfplay", JOB, SMALL)
    queue.publish()
    with pytest.raises(StaleTermError, match=r"term 4 has been seen, but this coordinator's term is 3"):
        queue.claim("a", ROOMY, term_seen=4)
    assert queue.claim("a", ROOMY, term_seen=2) is not None  # a worker that knew an older term


def test_bad_demands_and_terms_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"cpus\n  must be an integer >= 0 \[type=wire_field, input_value=-1,"
    ):
        Demand(cpus=-1, gpus=0, memory_mb=0)
    with pytest.raises(
        ValueError, match=r"memory_mb\n  must be an integer >= 0 \[type=wire_field, input_value=1.5,"
    ):
        Demand(cpus=1, gpus=0, memory_mb=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"term 0 must be a positive integer"):
        WorkQueue(0, job_lease_s=1.0)
    with pytest.raises(ValueError, match=r"job purpose 'play' is not one of selfplay, train, evaluate, tournament"):
        _queue().add("play", JOB, SMALL)


def test_concurrent_claims_hand_each_job_out_once() -> None:
    queue = _queue()
    ids = {queue.add("selfplay", JOB, SMALL) for _ in range(300)}
    queue.publish()
    claimed: list[list[str]] = [[] for _ in range(6)]

    def worker(index: int) -> None:
        for _ in range(300):  # bounded: at most every job
            job = queue.claim(f"n{index}", ROOMY, term_seen=3)
            if job is None:
                return
            claimed[index].append(job.job_id)
            assert queue.report(f"n{index}", job.job_id, 3, DONE, "").accepted

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    every = [job_id for ids_of_one in claimed for job_id in ids_of_one]
    assert sorted(every) == sorted(ids) and len(every) == len(set(every))


def test_a_claim_hands_out_a_lapsed_job_without_waiting_for_a_poll() -> None:
    clock = Clock()
    queue = _queue(clock=clock)
    job_id = _running(queue, "a")
    clock.now += 30
    assert queue.claim("b", ROOMY, term_seen=3) is None  # the lease ends at +30: still a's
    clock.now += 1
    claimed = queue.claim("b", ROOMY, term_seen=3)
    assert claimed is not None and claimed.job_id == job_id
    assert queue.expire() == []


def test_wire_documents_round_trip_and_bad_ones_name_the_field() -> None:
    queue = _queue()
    _running(queue)
    queue.add("selfplay", JOB, SMALL)
    queue.publish()
    claimed = queue.claim("b", ROOMY, term_seen=3)
    assert claimed is not None
    assert ClaimedJob.from_json(json.loads(json.dumps(claimed.to_json()))) == claimed
    assert Demand.from_json(json.loads(json.dumps(BIG.to_json()))) == BIG
    with pytest.raises(
        ValueError,
        match=r"resources: field 'gpus' is missing \(the fields are cpus, gpus, memory_mb\); "
        r"field 'memory_mb' is missing$",
    ):
        Demand.from_json({"cpus": 1})
    with pytest.raises(ValueError, match=r"resources: expected a JSON object, got list"):
        Demand.from_json([1, 0, 0])
    with pytest.raises(ValueError, match=r"field 'gpus' must be an integer >= 0, got '1'"):
        Demand.from_json({"cpus": 1, "gpus": "1", "memory_mb": 0})
    with pytest.raises(
        ValueError, match=r"claimed job: unknown field 'extra' \(the fields are job_id, term, purpose, job,"
    ):
        ClaimedJob.from_json({**claimed.to_json(), "extra": 1})
    bad = {**claimed.to_json(), "job_id": "x1", "term": 0, "purpose": "play", "job": [], "lease_s": True}
    with pytest.raises(
        ValueError,
        match=r"field 'job_id' must be a string of digits \(a job id\), got 'x1'; "
        r"field 'term' must be an integer >= 1, got 0; "
        r"field 'purpose' must be one of selfplay, train, evaluate, tournament, got 'play'; "
        r"field 'job' must be an object of strings \(a job document\), got \[\]; "
        r"field 'lease_s' must be a positive number, got True",
    ):
        ClaimedJob.from_json(bad)
