"""A worker delivers what an earlier, undelivered run of the same job made on its node.

Jobs are idempotent: a retry that finds its result already published exits 0 and makes
nothing. If the first run published but never uploaded (cancelled, upload refused, the agent
stopped), the retry on the same node must still deliver that result, or the run waits for it
forever; and it must deliver nothing else of the node's.

The coordinator here is a real artifact server (``artifact_routes``) behind the real guard,
with the three job routes answered by the test; the job process is a stand-in that publishes
its model only when it is not published yet, as the real jobs do.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.p2p import job_process, undelivered
from ringrift_hpc.p2p.artifact_routes import artifact_routes
from ringrift_hpc.p2p.artifacts import artifact_index
from ringrift_hpc.p2p.auth import Credentials
from ringrift_hpc.p2p.client import PeerClient
from ringrift_hpc.p2p.http_guard import read_json
from ringrift_hpc.p2p.job_codec import encode_job
from ringrift_hpc.p2p.job_messages import ClaimReply, JobHeartbeatReply, JobReport, JobReportReply
from ringrift_hpc.p2p.membership import Resources
from ringrift_hpc.p2p.work_queue import ClaimedJob
from ringrift_hpc.p2p.worker import Worker
from ringrift_hpc.store import RunLayout, publish_bytes

from .job_specs import VARIANT, train_spec
from .peer_server import serving

SECRET = b"0123456789abcdef0123456789abcdef"
TERM = 2
MODEL = hashlib.sha256(b"the job's model").hexdigest()
STRAY = hashlib.sha256(b"another job's model").hexdigest()
DEADLINE_S = 60.0


@dataclass
class Coordinator:
    """The coordinator's side: hands out `jobs` in order, answers heartbeats, keeps reports."""

    layout: RunLayout
    jobs: list[ClaimedJob] = field(default_factory=list)
    cancel: bool = False  # heartbeats answer "cancel" (halt --cancel)
    refuse_installs: bool = False
    reports: list[JobReport] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        async def claim(request: web.Request) -> web.Response:
            await read_json(request)
            job = self.jobs.pop(0) if self.jobs else None
            return web.json_response(ClaimReply(job=job, halted=False).to_json())

        async def heartbeat(request: web.Request) -> web.Response:
            await read_json(request)
            reply = JobHeartbeatReply(
                ok=not self.cancel, cancel=self.cancel, reason="halt --cancel", halted=False
            )
            return web.json_response(reply.to_json())

        async def report(request: web.Request) -> web.Response:
            self.reports.append(JobReport.from_json(await read_json(request)))
            return web.json_response(JobReportReply(accepted=True, reason="").to_json())

        def may_install(term: int) -> str | None:
            assert term == TERM
            return "refused by the test" if self.refuse_installs else None

        return [
            web.post("/v1/jobs/claim", claim),
            web.post("/v1/jobs/heartbeat", heartbeat),
            web.post("/v1/jobs/report", report),
            *artifact_routes(self.layout, may_install=may_install, max_body_bytes=1 << 20),
        ]

    def models(self) -> set[str]:
        return {entry.artifact for entry in artifact_index(self.layout)}


class FakeJob:
    """A train job: publishes its model unless it is published already, then exits 0; with
    `until_terminated` it then goes on running until the worker terminates it."""

    def __init__(self, node: RunLayout, until_terminated: bool) -> None:
        self.node = node
        self.until_terminated = until_terminated
        self.pid = os.getpid()  # the worker writes it next to the job's files
        self.stopped = asyncio.Event()

    async def wait(self) -> tuple[int, str]:
        weights = self.node.model_weights(VARIANT, MODEL)
        if not weights.exists():
            publish_bytes(weights, b"the job's model", {"generation": 1})
        if self.until_terminated:
            await self.stopped.wait()
            return -15, ""
        return 0, ""

    async def terminate(self, grace_s: float = 10.0) -> None:
        self.stopped.set()


def _fake_jobs(monkeypatch: pytest.MonkeyPatch, node: RunLayout, runs: list[bool]) -> None:
    """Each started job is the next of `runs` (True: it runs until terminated)."""

    async def start_job(job: Mapping[str, str], run_root: Path, work_dir: Path, *, threads: int) -> Any:
        assert run_root == node.root
        work_dir.mkdir(parents=True, exist_ok=True)
        return FakeJob(node, runs.pop(0))

    monkeypatch.setattr(job_process, "start_job", start_job)


def _worker(node: RunLayout, client: PeerClient) -> Worker:
    return Worker(
        node,
        "c",
        Resources(cpus=2, gpus=0, memory_mb=1000, disk_mb=1000),
        max_jobs=1,
        threads_per_job=1,
        job_lease_s=0.3,  # a heartbeat every 0.1 s
        coordinator=lambda: client,
        known_term=lambda: TERM,
    )


def _claimed(job_id: int, job: dict[str, str]) -> ClaimedJob:
    return ClaimedJob(job_id=str(job_id), term=TERM, purpose="train", job=job, lease_s=0.3)


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _claim_and_finish(worker: Worker) -> None:
    await worker.step()
    assert len(worker.tasks) == 1, worker.last_refusal
    await asyncio.wait_for(asyncio.gather(*worker.tasks), DEADLINE_S)


@pytest.mark.parametrize("first_run_ends", ["cancelled", "upload refused", "agent stopped"])
def test_a_retry_on_the_same_node_delivers_what_the_undelivered_run_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_run_ends: str
) -> None:
    node, coordinator = RunLayout(tmp_path / "node"), Coordinator(RunLayout(tmp_path / "coordinator"))
    publish_bytes(node.model_weights(VARIANT, STRAY), b"another job's model")  # not this job's: stays here
    job = encode_job("train", train_spec(coordinator.layout.root))
    coordinator.jobs = [_claimed(2_000_007, job), _claimed(2_000_009, job)]  # the retry: the same document
    _fake_jobs(monkeypatch, node, [first_run_ends != "upload refused", False])
    coordinator.cancel = first_run_ends == "cancelled"
    coordinator.refuse_installs = first_run_ends == "upload refused"

    async def scenario() -> None:
        async with serving(coordinator.routes(), Credentials("c", SECRET)) as client:
            first = _worker(node, client)
            if first_run_ends == "agent stopped":
                await first.step()
                await _until(lambda: first.running.get("2000007", None) is not None, "the job to start")
                await _until(lambda: first.running["2000007"].state == "running", "the job to run")
                await first.close()
            else:
                await _claim_and_finish(first)
            assert coordinator.models() == set()
            assert undelivered.record_file(node, job).exists()

            # The retry, after an agent restart: a new worker over the same run directory.
            coordinator.cancel = coordinator.refuse_installs = False
            await _claim_and_finish(_worker(node, client))

    asyncio.run(scenario())
    first_status = {"cancelled": JobStatus.CANCELLED, "upload refused": JobStatus.FAILED}.get(first_run_ends)
    expected = ([first_status] if first_status else []) + [JobStatus.COMPLETED]
    assert [report.status for report in coordinator.reports] == expected, coordinator.reports
    assert coordinator.models() == {f"variants/{VARIANT}/models/{MODEL}.pt"}
    assert not undelivered.record_file(node, job).exists()


def test_a_retry_delivers_nothing_that_another_job_document_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, coordinator = RunLayout(tmp_path / "node"), Coordinator(RunLayout(tmp_path / "coordinator"))
    publish_bytes(node.model_weights(VARIANT, STRAY), b"another job's model")
    job = encode_job("train", train_spec(coordinator.layout.root))
    other = encode_job("train", train_spec(coordinator.layout.root).replace(seed=4))
    assert other != job
    coordinator.jobs = [_claimed(2_000_007, job), _claimed(2_000_009, other)]
    _fake_jobs(monkeypatch, node, [True, False])
    coordinator.cancel = True

    async def scenario() -> None:
        async with serving(coordinator.routes(), Credentials("c", SECRET)) as client:
            await _claim_and_finish(_worker(node, client))
            coordinator.cancel = False
            await _claim_and_finish(_worker(node, client))

    asyncio.run(scenario())
    assert [report.status for report in coordinator.reports] == [JobStatus.CANCELLED, JobStatus.COMPLETED]
    assert coordinator.models() == set()  # the model is the first document's, still owed to a retry of it
    assert undelivered.record_file(node, job).exists()
    assert not undelivered.record_file(node, other).exists()


def test_a_record_adds_up_over_runs_and_an_unreadable_one_is_empty(tmp_path: Path) -> None:
    node = RunLayout(tmp_path / "node")
    job = {"purpose": "train", "spec": "{}"}
    assert undelivered.recorded(node, job) == frozenset()
    undelivered.record(node, job, [])
    assert not undelivered.record_file(node, job).exists()  # nothing owed: no file
    undelivered.record(node, job, ["variants/x/models/b.json"])
    undelivered.record(node, job, ["variants/x/models/a.json"])
    assert undelivered.recorded(node, job) == {"variants/x/models/a.json", "variants/x/models/b.json"}
    assert undelivered.recorded(node, {**job, "spec": "{ }"}) == frozenset()
    undelivered.record_file(node, job).write_text("{")
    assert undelivered.recorded(node, job) == frozenset()
    undelivered.forget(node, job)
    assert not undelivered.record_file(node, job).exists()
    undelivered.forget(node, job)  # forgetting twice is fine
