"""Pure parts of the executors: the purpose vocabulary, refs as journal data (old ones too), sacct
rows as states, submitit parameters, array chunking, and one scheduler query per poll (with a fake
sacct)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from job_calls import resolve_calls
from submitit.core.utils import JobPaths

from ringrift_hpc.cluster import slurm_executor
from ringrift_hpc.cluster.executor import (
    JobRef,
    JobState,
    JobStatus,
    SchedulerUnavailableError,
    SubmissionError,
    check_specs,
)
from ringrift_hpc.cluster.executor_choice import executor_kind, make_executor
from ringrift_hpc.cluster.local_executor import LocalExecutor
from ringrift_hpc.cluster.purposes import PURPOSES, MatchTaskId, check_purpose, job_name, resource_kind
from ringrift_hpc.cluster.slurm_executor import (
    SlurmExecutor,
    chunk_sizes,
    sbatch_option_items,
    state_of_record,
    submitit_parameters,
)
from ringrift_hpc.cluster.slurm_parse import (
    JobRecord,
    SlurmOutputError,
    index_by_task,
    parse_sacct,
    parse_squeue,
)
from ringrift_hpc.cluster.slurm_query import SlurmCommandError
from ringrift_hpc.config import Config
from ringrift_hpc.config.slurm import SlurmSection
from ringrift_hpc.store import RunLayout

RECORDED = Path(__file__).parent / "recorded"


def test_purposes_run_on_the_resources_of_their_kind_under_their_own_name() -> None:
    assert PURPOSES == ("selfplay", "train", "evaluate", "tournament")
    assert [resource_kind(p) for p in PURPOSES] == ["selfplay", "train", "evaluate", "evaluate"]
    names = ["rr-selfplay", "rr-train", "rr-evaluate", "rr-tournament"]
    assert [job_name("rr", p) for p in PURPOSES] == names
    assert check_purpose("tournament") == "tournament"
    with pytest.raises(
        ValueError, match="purpose 'match' is not one of selfplay, train, evaluate, tournament"
    ):
        check_purpose("match")


@pytest.mark.parametrize(
    ("task", "parts"),
    [
        ("evaluate/square8_2p/000003/vs-best-0001", ("evaluate", "square8_2p", "000003", "vs-best-0001")),
        (
            "tournament/hex_3p/tournament-0004/pair-000-001",
            ("tournament", "hex_3p", "tournament-0004", "pair-000-001"),
        ),
        (
            "tournament/square8_2p/tournament-shadow-000002/best-random",
            ("tournament", "square8_2p", "tournament-shadow-000002", "best-random"),
        ),
    ],
)
def test_a_match_task_id_parses_into_its_parts_and_prints_back(task: str, parts: tuple[str, ...]) -> None:
    parsed = MatchTaskId.parse(task)
    assert (parsed.purpose, parsed.variant, parsed.eval_id, parsed.name) == parts
    assert str(parsed) == task


@pytest.mark.parametrize(
    "task",
    [
        "selfplay/square8_2p/000000/000003",  # selfplay and training tasks play no matches
        "train/square8_2p/key-0001",
        "match/square8_2p/000003/vs-best-0001",  # no purpose at all
        "evaluate/square8_2p/000003",  # a part missing
        "evaluate/square8_2p/000003/vs-best/0001",  # one too many
        "evaluate//000003/vs-best-0001",  # an empty part
        "",
    ],
)
def test_a_malformed_match_task_id_is_refused_naming_it_and_the_form(task: str) -> None:
    with pytest.raises(
        ValueError, match=r"is not a match task's <purpose>/<variant>/<evaluation id>/<name>"
    ) as raised:
        MatchTaskId.parse(task)
    assert repr(task) in str(raised.value)
    assert "evaluate or tournament" in str(raised.value)


def test_job_ref_round_trips_through_json_and_names_its_task() -> None:
    refs = [JobRef("selfplay", "4711", 3), JobRef("train", "12"), JobRef("tournament", "13", 0)]
    assert [JobRef.from_json(json.loads(json.dumps(ref.to_json()))) for ref in refs] == refs
    assert [ref.key for ref in refs] == ["4711_3", "12", "13_0"]
    assert refs[0].to_json() == {"purpose": "selfplay", "job_id": "4711", "task": 3}


def test_job_refs_journaled_by_earlier_versions_name_a_kind() -> None:
    old = [{"kind": kind, "job_id": "7", "task": None} for kind in ("selfplay", "train", "evaluate")]
    assert [JobRef.from_json(data) for data in old] == [
        JobRef("selfplay", "7"),
        JobRef("train", "7"),
        JobRef("evaluate", "7"),
    ]


def test_job_state_round_trips_through_json() -> None:
    state = JobState(JobStatus.FAILED, 137, 42, "vm", "OUT_OF_MEMORY")
    assert JobState.from_json(json.loads(json.dumps(state.to_json()))) == state
    with pytest.raises(ValueError, match="status must be one of pending"):
        JobState.from_json({"status": "exploded"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"purpose": "selfplay", "job_id": "7"}, "lacks task"),
        ({"kind": "selfplay", "job_id": "7"}, "lacks task"),
        ({"job_id": "7", "task": None}, "lacks purpose"),
        ({"purpose": "match", "job_id": "7", "task": None}, "purpose 'match' is not one of selfplay"),
        ({"kind": "play", "job_id": "7", "task": None}, "kind 'play' is not one of selfplay"),
        ({"kind": "train", "job_id": "7_1", "task": None}, "is not a number"),
        ({"kind": "train", "job_id": 7, "task": None}, "job_id must be a string"),
        ({"kind": "train", "job_id": "7", "task": "1"}, "task must be an integer"),
        ({"kind": "train", "job_id": "7", "task": -1}, "negative"),
    ],
)
def test_job_ref_from_bad_json_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        JobRef.from_json(data)


def test_an_array_needs_a_list_of_specs() -> None:
    assert check_specs((1, "spec")) == [1, "spec"]
    with pytest.raises(SubmissionError, match="at least one spec"):
        check_specs([])
    with pytest.raises(SubmissionError, match="a list of at least one spec; got 'spec.json'"):
        check_specs("spec.json")


def test_chunks_stay_within_the_array_size_limit() -> None:
    assert chunk_sizes(16, 7) == [7, 7, 2]
    assert chunk_sizes(300, 10001) == [300]
    assert chunk_sizes(14, 7) == [7, 7]
    with pytest.raises(ValueError, match="at least 1"):
        chunk_sizes(3, 0)


def _records() -> dict[str, JobRecord]:
    return {record.job_id: record for record in parse_sacct((RECORDED / "sacct_arrays_done.txt").read_text())}


def test_sacct_rows_map_to_states_with_exit_code_and_node() -> None:
    records = _records()
    assert state_of_record(records["3"]) == JobState(JobStatus.FAILED, 3, 0, "vm", "FAILED")
    assert state_of_record(records["4"]) == JobState(JobStatus.CANCELLED, 0, 0, "", "CANCELLED")
    assert state_of_record(records["2_0"]) == JobState(JobStatus.COMPLETED, 0, 2, "vm", "")


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("PENDING", JobStatus.PENDING),
        ("RUNNING", JobStatus.RUNNING),
        ("COMPLETING", JobStatus.RUNNING),
        ("TIMEOUT", JobStatus.TIMEOUT),
        ("OUT_OF_MEMORY", JobStatus.FAILED),
        ("DEADLINE", JobStatus.FAILED),
        ("NODE_FAIL", JobStatus.LOST),
        ("BOOT_FAIL", JobStatus.LOST),
        ("PREEMPTED", JobStatus.LOST),
        ("REQUEUED", JobStatus.PENDING),
        ("SOMETHING_NEW", JobStatus.UNKNOWN),
    ],
)
def test_every_slurm_state_has_a_status(state: str, status: JobStatus) -> None:
    record = JobRecord("9", "9", None, (), state, 0, 0, 5, "cpu", "vm")
    assert state_of_record(record).status is status
    assert (state_of_record(record).exit_code is None) == (not status.is_terminal)


def test_submitit_parameters_carry_every_resource_of_the_purposes_kind() -> None:
    slurm = SlurmSection.model_validate(
        {
            "setup": ["source /venv/bin/activate"],
            "selfplay": {
                "partition": "gpu",
                "time": "01:30:30",
                "cpus": 4,
                "mem": "16G",
                "gpus": 1,
                "account": "acct",
                "qos": "high",
                "constraint": "a100",
                "array_parallelism": 8,
                "extra_sbatch_args": ["--mail-type=FAIL", "--exclusive"],
                "setup": ["module load cuda"],
            },
        }
    )
    assert submitit_parameters("rr", "selfplay", slurm) == {
        "job_name": "rr-selfplay",
        "time": 91,
        "cpus_per_task": 4,
        "setup": ["source /venv/bin/activate", "module load cuda"],
        "partition": "gpu",
        "mem": "16G",
        "account": "acct",
        "qos": "high",
        "constraint": "a100",
        "gpus_per_node": 1,
        "array_parallelism": 8,
        "additional_parameters": {"mail-type": "FAIL", "exclusive": True},
    }
    # Defaults leave the cluster's own defaults alone and train jobs have no array throttle.
    assert submitit_parameters("rr", "train", SlurmSection()) == {
        "job_name": "rr-train",
        "time": 240,
        "cpus_per_task": 8,
        "setup": [],
    }
    # A tournament gets the evaluation resources under its own name.
    assert submitit_parameters("rr", "tournament", SlurmSection()) == {
        **submitit_parameters("rr", "evaluate", SlurmSection()),
        "job_name": "rr-tournament",
    }
    assert sbatch_option_items(["--nice=10", "--requeue"]) == {"nice": "10", "requeue": True}


class FakeSacct:
    """Stands in for ``query_jobs``: every call is recorded, rows come from a table."""

    def __init__(self, rows: Sequence[JobRecord]) -> None:
        self.rows = list(rows)
        self.calls: list[list[str]] = []

    def __call__(self, job_ids: Sequence[str]) -> Sequence[JobRecord]:
        self.calls.append(list(job_ids))
        return self.rows


def _array_rows(array_id: str, running: int, pending: int) -> list[JobRecord]:
    rows = [
        JobRecord(f"{array_id}_{task}", str(100 + task), array_id, (task,), "RUNNING", 0, 0, 3, "cpu", "vm")
        for task in range(running)
    ]
    rest = tuple(range(running, running + pending))
    spec = f"{running}-{running + pending - 1}%16"
    rows.append(
        JobRecord(
            f"{array_id}_[{spec}]", array_id, array_id, rest, "PENDING", 0, 0, 0, "cpu", "None assigned"
        )
    )
    return rows


def test_one_sacct_call_per_poll_for_hundreds_of_tasks_and_none_once_all_ended(tmp_path: Path) -> None:
    sacct = FakeSacct(
        [*_array_rows("50", 16, 284), JobRecord("7", "7", None, (), "FAILED", 2, 0, 1, "cpu", "vm")]
    )
    executor = SlurmExecutor(
        tmp_path,
        run_name="rr",
        slurm=SlurmSection(),
        resolve=resolve_calls,
        query=sacct,
        accounting_grace_s=0,
    )
    refs = [JobRef("selfplay", "50", task) for task in range(300)]
    states = executor.poll([*refs, JobRef("train", "7")])
    assert sacct.calls == [["7", "50"]]
    assert [states[ref].status for ref in refs] == [JobStatus.RUNNING] * 16 + [JobStatus.PENDING] * 284
    assert states[JobRef("train", "7")] == JobState(JobStatus.FAILED, 2, 1, "vm", "FAILED")
    assert executor.scheduler_queries == 1
    # A finished job is remembered; asking only about it needs no query at all.
    assert executor.poll([JobRef("train", "7")])[JobRef("train", "7")].status is JobStatus.FAILED
    assert executor.scheduler_queries == 1
    # A job sacct does not know, without a submission file: unknown, never pending forever.
    assert executor.poll([JobRef("train", "8")])[JobRef("train", "8")].status is JobStatus.UNKNOWN


def test_completed_in_slurm_without_a_result_file_is_a_failure(tmp_path: Path) -> None:
    sacct = FakeSacct([JobRecord("9", "9", None, (), "COMPLETED", 0, 0, 4, "cpu", "vm")])
    executor = SlurmExecutor(
        tmp_path, run_name="rr", slurm=SlurmSection(), resolve=resolve_calls, query=sacct
    )
    state = executor.poll([JobRef("train", "9")])[JobRef("train", "9")]
    assert (state.status, state.detail) == (JobStatus.FAILED, "COMPLETED without a result file")


def test_jobs_cancel_all_ended_are_cancelled_while_accounting_still_shows_them_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sacct = FakeSacct(_array_rows("60", 2, 2))
    queue: list[JobRecord] = []
    queue_calls: list[str] = []

    def squeue(user: str) -> list[JobRecord]:
        queue_calls.append(user)
        return [*queue]

    executor = SlurmExecutor(
        tmp_path,
        run_name="rr",
        slurm=SlurmSection(),
        resolve=resolve_calls,
        query=sacct,
        queue=squeue,
    )
    refs = [JobRef("selfplay", "60", task) for task in range(4)]
    for ref in refs:
        submitted = JobPaths(
            tmp_path / resource_kind(ref.purpose), job_id=ref.key, task_id=0
        ).submitted_pickle
        submitted.parent.mkdir(parents=True, exist_ok=True)
        submitted.write_bytes(b"")
    # Before any cancel_all, live jobs cost no squeue call.
    assert {state.status for state in executor.poll(refs).values()} == {JobStatus.RUNNING, JobStatus.PENDING}
    assert queue_calls == []
    cancelled: list[tuple[str, ...]] = []
    monkeypatch.setattr(slurm_executor, "_scancel", lambda arguments: cancelled.append(tuple(arguments)))
    executor.cancel_all()
    assert cancelled
    # Task 0 is still being killed (squeue lists it); the others left the queue, sacct lags.
    queue.append(JobRecord("60_0", "100", "60", (0,), "COMPLETING", 0, 0, 3, "cpu", "vm"))
    states = executor.poll(refs)
    assert len(queue_calls) == 1
    assert states[refs[0]].status is JobStatus.RUNNING
    assert [states[ref].status for ref in refs[1:]] == [JobStatus.CANCELLED] * 3
    assert "accounting not caught up" in states[refs[1]].detail
    queue.clear()
    assert executor.poll(refs)[refs[0]].status is JobStatus.CANCELLED
    # Ended states are final: no more queries of either kind.
    calls = (len(sacct.calls), len(queue_calls))
    executor.poll(refs)
    assert (len(sacct.calls), len(queue_calls)) == calls


def _refuse(what: str) -> Callable[..., Sequence[JobRecord]]:
    def refuse(*_: object) -> Sequence[JobRecord]:
        raise SlurmCommandError(f"{what} failed: exit 1: Slurm accounting storage is disabled")

    return refuse


def _write_outcome(executor: SlurmExecutor, ref: JobRef, outcome: tuple[str, object]) -> None:
    path = JobPaths(executor.folder / resource_kind(ref.purpose), job_id=ref.key, task_id=0).result_pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        pickle.dump(outcome, stream)


def test_without_sacct_live_jobs_come_from_squeue_and_ended_ones_from_their_result_files(
    tmp_path: Path,
) -> None:
    queue = [JobRecord("7", "7", None, (), "RUNNING", 0, 0, 65, "cpu", "vm")]
    users: list[str] = []
    executor = SlurmExecutor(
        tmp_path,
        run_name="rr",
        slurm=SlurmSection(),
        resolve=resolve_calls,
        query=_refuse("sacct"),
        queue=lambda user: [*queue] if not users.append(user) else [],
        accounting_grace_s=10,
        clock=lambda: now,
    )
    now = 0.0
    running, done, failed, vanished = (JobRef("train", str(n)) for n in (7, 8, 9, 10))
    _write_outcome(executor, done, ("success", 42))
    _write_outcome(executor, failed, ("error", "Traceback ... ValueError: bad"))
    states = executor.poll([running, done, failed, vanished])
    assert users and executor.scheduler_queries == 1
    assert states[running] == JobState(JobStatus.RUNNING, None, 65, "vm", "RUNNING")
    assert states[done].status is JobStatus.COMPLETED and executor.result(done) == 42
    assert states[failed].status is JobStatus.FAILED and "ValueError: bad" in executor.error_text(failed)
    # Gone from the queue without a word while accounting is down: unknown while a late result
    # file may still appear, then lost (rerun, not counted as the job's failure).
    assert states[vanished].status is JobStatus.UNKNOWN
    now = 9.9
    assert executor.poll([vanished])[vanished].status is JobStatus.UNKNOWN
    now = 10.0
    lost = executor.poll([vanished])[vanished]
    assert lost.status is JobStatus.LOST
    assert lost.detail.startswith("left the queue without a result; sacct failed")


def test_when_neither_sacct_nor_squeue_answers_the_poll_says_so(tmp_path: Path) -> None:
    executor = SlurmExecutor(
        tmp_path,
        run_name="rr",
        slurm=SlurmSection(),
        resolve=resolve_calls,
        query=_refuse("sacct"),
        queue=_refuse("squeue"),
    )
    with pytest.raises(SchedulerUnavailableError, match="neither sacct nor squeue answered"):
        executor.poll([JobRef("train", "7")])


def test_squeue_rows_parse_one_per_array_task() -> None:
    text = "2_1|PENDING|0:00|cpu|\n1|RUNNING|1-00:00:08|cpu|vm\n2_0|COMPLETING|0:02|cpu|vm\n"
    rows = index_by_task(parse_squeue(text))
    assert sorted(rows) == ["1", "2_0", "2_1"]
    assert state_of_record(rows["1"]) == JobState(JobStatus.RUNNING, None, 86408, "vm", "RUNNING")
    assert state_of_record(rows["2_1"]).status is JobStatus.PENDING
    with pytest.raises(SlurmOutputError, match="has 2 cells"):
        parse_squeue("1|RUNNING\n")


def test_config_chooses_the_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = RunLayout(tmp_path / "run")
    config = Config.model_validate({"executor": "local", "local": {"max_parallel_jobs": 3}})
    local = make_executor(config, layout, resolve_calls)
    assert isinstance(local, LocalExecutor)
    assert (local.folder, local.max_parallel_jobs) == (layout.jobs_dir / "local", 3)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert executor_kind(Config()) == "local"
    (tmp_path / "sbatch").write_text("#!/bin/sh\n")
    (tmp_path / "sbatch").chmod(0o755)
    assert executor_kind(Config()) == "slurm"
