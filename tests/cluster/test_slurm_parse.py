"""Slurm text parsers against outputs recorded from the local 22.05 cluster (recorded/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.cluster.slurm_parse import (
    JobRecord,
    SlurmOutputError,
    index_by_task,
    max_array_size,
    parse_array_spec,
    parse_config,
    parse_elapsed,
    parse_exit_code,
    parse_partitions,
    parse_sacct,
)

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_pending_arrays_and_a_job_cancelled_before_it_ran() -> None:
    # Array 2 = --array=0-9%2 with two tasks done; array 5 = --array=1,3,5-7 not started.
    records = {record.job_id: record for record in parse_sacct(recorded("sacct_arrays_pending.txt"))}
    assert sorted(records) == ["2_0", "2_1", "2_[2-9%2]", "3", "4", "5_[1,3,5-7]"]
    pending = records["2_[2-9%2]"]
    assert (pending.array_job_id, pending.array_tasks, pending.state) == (
        "2",
        (2, 3, 4, 5, 6, 7, 8, 9),
        "PENDING",
    )
    assert pending.raw_job_id == "2" and pending.node_list == "None assigned"
    assert records["5_[1,3,5-7]"].array_tasks == (1, 3, 5, 6, 7)
    done = records["2_1"]
    assert (done.array_job_id, done.array_tasks, done.raw_job_id) == ("2", (1,), "7")
    assert (done.state, done.exit_code, done.elapsed_s, done.partition) == ("COMPLETED", 0, 2, "cpu")
    cancelled = records["4"]
    assert (cancelled.state, cancelled.array_job_id, cancelled.array_tasks) == ("CANCELLED", None, ())
    assert cancelled.is_terminal and not pending.is_terminal


def test_index_by_task_expands_pending_ranges() -> None:
    index = index_by_task(parse_sacct(recorded("sacct_arrays_pending.txt")))
    assert sorted(index) == sorted(
        [
            "2_0",
            "2_1",
            *(f"2_{task}" for task in range(2, 10)),
            "3",
            "4",
            *(f"5_{t}" for t in (1, 3, 5, 6, 7)),
        ]
    )
    assert index["2_7"].job_id == "2_[2-9%2]"
    assert index["3"].state == "PENDING"


def test_finished_arrays_have_one_row_per_task() -> None:
    index = index_by_task(parse_sacct(recorded("sacct_arrays_done.txt")))
    assert [index[f"2_{task}"].state for task in range(10)] == ["COMPLETED"] * 10
    assert index["2_9"].raw_job_id == "2"  # the last task keeps the array's own id
    assert (index["3"].state, index["3"].exit_code, index["3"].signal) == ("FAILED", 3, 0)
    assert index["5_7"].state == "COMPLETED" and "5_1" not in index  # sacct lag at recording time


def test_own_task_row_beats_a_stale_pending_range() -> None:
    # The accounting database lags: the range row may still list a task that has started.
    stale_range = JobRecord("8_[0-3]", "8", "8", (0, 1, 2, 3), "PENDING", 0, 0, 0, "cpu", "None assigned")
    started = JobRecord("8_0", "9", "8", (0,), "RUNNING", 0, 0, 1, "cpu", "vm")
    for rows in ((stale_range, started), (started, stale_range)):
        index = index_by_task(rows)
        assert index["8_0"] is started and index["8_1"] is stale_range


def test_step_rows_are_skipped() -> None:
    records = parse_sacct(recorded("sacct_with_steps.txt"))
    assert [record.job_id for record in records] == ["3", "2_1"]
    cancelled = parse_sacct(recorded("sacct_cancelled_while_running.txt"))
    assert [(r.job_id, r.state, r.exit_code, r.elapsed_s) for r in cancelled] == [("19", "CANCELLED", 0, 2)]


def test_empty_result_is_only_a_header() -> None:
    assert parse_sacct(recorded("sacct_arrays_done.txt").splitlines()[0] + "\n") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "printed nothing"),
        ("JobID|State\n1|COMPLETED\n", "lacks JobIDRaw, ExitCode, Elapsed, Partition, NodeList"),
        ("1|1|COMPLETED|0:0|00:00:01|cpu|vm\n", "lacks"),  # --noheader output
    ],
)
def test_sacct_output_without_the_expected_header_is_refused(text: str, message: str) -> None:
    with pytest.raises(SlurmOutputError, match=message):
        parse_sacct(text)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("7|7|COMPLETED|0:0|00:00:01|cpu", "has 6 cells, header has 7"),
        ("7x|7|COMPLETED|0:0|00:00:01|cpu|vm", "neither JOB, JOB_TASK nor JOB_"),
        ("7|7|COMPLETED|0|00:00:01|cpu|vm", "not EXIT:SIGNAL"),
        ("7|7||0:0|00:00:01|cpu|vm", "empty State"),
        ("7_[a-b]|7|PENDING|0:0|00:00:00|cpu|vm", "cannot read item"),
    ],
)
def test_malformed_sacct_rows_are_refused(row: str, message: str) -> None:
    header = "JobID|JobIDRaw|State|ExitCode|Elapsed|Partition|NodeList"
    with pytest.raises(SlurmOutputError, match=message):
        parse_sacct(f"{header}\n{row}\n")


def test_columns_are_read_by_header_name() -> None:
    text = (
        "State|NodeList|JobID|Partition|Elapsed|ExitCode|JobIDRaw|JobName\nTIMEOUT|vm|7|cpu|01:00|0:15|7|x\n"
    )
    (record,) = parse_sacct(text)
    assert (record.job_id, record.state, record.signal, record.elapsed_s) == ("7", "TIMEOUT", 15, 60)


@pytest.mark.parametrize(
    ("spec", "tasks"),
    [("4", (4,)), ("2-9%2", tuple(range(2, 10))), ("1,3,5-7", (1, 3, 5, 6, 7)), ("0-10:5", (0, 5, 10))],
)
def test_array_specs(spec: str, tasks: tuple[int, ...]) -> None:
    assert parse_array_spec(spec) == tasks


def test_array_spec_with_an_empty_range_is_refused() -> None:
    with pytest.raises(SlurmOutputError, match="empty range '9-2'"):
        parse_array_spec("1,9-2")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:02", 2), ("01:00", 60), ("1-02:03:04", 93784), ("12:34.567", 754), ("10-00:00:00", 864000)],
)
def test_elapsed(text: str, seconds: int) -> None:
    assert parse_elapsed(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "x-01:00:00", "1:2:3:4", "aa:bb"])
def test_bad_elapsed_is_refused(text: str) -> None:
    with pytest.raises(SlurmOutputError, match="duration"):
        parse_elapsed(text)


def test_exit_code() -> None:
    assert parse_exit_code("0:15") == (0, 15)


def test_config_and_max_array_size() -> None:
    config = parse_config(recorded("scontrol_show_config.txt"))
    assert max_array_size(config) == 10001
    assert config["AccountingStorageType"] == "accounting_storage/slurmdbd"
    assert config["SLURM_VERSION"] == "22.05.8"
    assert config["AccountingStorageBackupHost"] == "(null)"
    assert "Slurmctld(primary) at vm is UP" not in " ".join(config)


@pytest.mark.parametrize(
    ("config", "message"),
    [({}, "no MaxArraySize line"), ({"MaxArraySize": "lots"}, "is not a number")],
)
def test_missing_or_unreadable_max_array_size(config: dict[str, str], message: str) -> None:
    with pytest.raises(SlurmOutputError, match=message):
        max_array_size(config)


def test_partitions() -> None:
    cpu, gpu = parse_partitions(recorded("scontrol_show_partition.txt"))
    assert (cpu.name, cpu.is_default, cpu.state, cpu.max_time, cpu.nodes) == (
        "cpu",
        True,
        "UP",
        "UNLIMITED",
        "vm",
    )
    assert (cpu.total_cpus, cpu.total_nodes) == (2, 1)
    assert (gpu.name, gpu.is_default) == ("gpu", False)


def test_partition_line_without_a_field_is_refused() -> None:
    with pytest.raises(SlurmOutputError, match="cannot read 'TotalCPUs'"):
        parse_partitions("PartitionName=x Default=NO State=UP MaxTime=1:00 Nodes=a TotalNodes=1\n")
