"""Slurm query wrappers against stand-in commands on PATH, so they run without Slurm."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ringrift_hpc.cluster.slurm_parse import index_by_task
from ringrift_hpc.cluster.slurm_query import (
    SlurmCommandError,
    check_accounting,
    check_commands,
    check_max_array_size,
    check_partitions,
    query_jobs,
    run_command,
)

RECORDED = Path(__file__).parent / "recorded"


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An otherwise empty PATH: the real Slurm commands must not be found."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


def fake_command(directory: Path, name: str, body: str) -> None:
    script = directory / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def fake_scontrol(directory: Path, config: str) -> None:
    partitions = RECORDED / "scontrol_show_partition.txt"
    fake_command(
        directory,
        "scontrol",
        f'if [ "$2" = config ]; then /bin/cat {shlex.quote(config)}; else /bin/cat {partitions}; fi',
    )


def test_many_jobs_are_queried_with_one_sacct_call(fake_bin: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake_command(fake_bin, "sacct", f'echo "$@" >> {calls}\n/bin/cat {RECORDED / "sacct_arrays_pending.txt"}')
    index = index_by_task(query_jobs(["2", "3", "4", "5_3"]))
    (call,) = calls.read_text().splitlines()
    assert call.split() == [
        "--allocations",
        "--parsable2",
        "--format=JobID,JobIDRaw,State,ExitCode,Elapsed,Partition,NodeList",
        "--jobs=2,3,4,5_3",
    ]
    assert index["2_9"].state == "PENDING" and index["4"].state == "CANCELLED"


def test_no_job_ids_means_no_sacct_call(fake_bin: Path) -> None:
    assert query_jobs([]) == ()


def test_job_ids_are_checked_before_calling_sacct(fake_bin: Path) -> None:
    with pytest.raises(ValueError, match=r"\['12_\[1-3\]', 'x'\] are not Slurm job ids"):
        query_jobs(["7", "12_[1-3]", "x"])


def test_failing_sacct_raises_with_its_message(fake_bin: Path) -> None:
    fake_command(fake_bin, "sacct", 'echo "sacct: error: Slurm accounting storage is disabled" >&2; exit 1')
    with pytest.raises(SlurmCommandError, match="exit 1: sacct: error: Slurm accounting storage is disabled"):
        query_jobs(["7"])


def test_missing_commands_fail_each_check_by_name(fake_bin: Path) -> None:
    results = check_commands()
    assert [(result.name, result.ok) for result in results] == [
        ("sinfo", False),
        ("squeue", False),
        ("sacct", False),
        ("sbatch --test-only", False),
    ]
    assert results[2].detail == "sacct: not found on PATH"
    assert not check_max_array_size().ok
    assert (
        check_partitions(["cpu"]).detail
        == "scontrol show partition --oneliner failed: scontrol: not found on PATH"
    )


def test_answering_commands_pass_with_their_first_line(fake_bin: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    for name in ("sinfo", "squeue", "sacct"):
        fake_command(fake_bin, name, f"echo {name} answered")
    fake_command(fake_bin, "sbatch", f'echo "$@" > {calls}; echo "sbatch: Job 20 to start at now" >&2')
    results = check_commands(partition="gpu")
    assert all(result.ok for result in results)
    assert [result.detail for result in results] == [
        "sinfo answered",
        "squeue answered",
        "sacct answered",
        "sbatch: Job 20 to start at now",
    ]
    assert calls.read_text().split() == ["--test-only", "--ntasks=1", "--wrap=true", "--partition=gpu"]


def test_a_hanging_command_times_out(fake_bin: Path) -> None:
    fake_command(fake_bin, "sinfo", "exec /bin/sleep 30")
    result = run_command(["sinfo"], timeout_s=0.3)
    assert (result.ok, result.returncode, result.summary) == (False, None, "sinfo: timed out after 0.3s")


def test_partitions_check_names_what_is_missing(fake_bin: Path) -> None:
    fake_scontrol(fake_bin, str(RECORDED / "scontrol_show_config.txt"))
    assert check_partitions(["cpu", "gpu"]).ok
    missing = check_partitions(["cpu", "gpu-train"])
    assert not missing.ok
    assert missing.detail == "no partition gpu-train on this cluster (it has: cpu, gpu)"


def test_max_array_size_check(fake_bin: Path) -> None:
    fake_scontrol(fake_bin, str(RECORDED / "scontrol_show_config.txt"))
    result = check_max_array_size()
    assert (result.ok, result.detail) == (True, "MaxArraySize = 10001 (array task ids 0..10000)")


def test_accounting_passes_when_configured_and_answering(fake_bin: Path) -> None:
    fake_scontrol(fake_bin, str(RECORDED / "scontrol_show_config.txt"))
    fake_command(fake_bin, "sacct", "echo 'JobID|JobIDRaw|State|ExitCode|Elapsed|Partition|NodeList'")
    result = check_accounting()
    assert (result.ok, result.detail) == (True, "accounting_storage/slurmdbd answers")


SACCT_REFUSED = 'echo "sacct: error: Problem talking to the database: Connection refused" >&2; exit 1'
SQUEUE_ANSWERS = "echo '7|RUNNING|1:05|cpu|vm'"
SQUEUE_REFUSED = 'echo "squeue: error: Unable to contact slurm controller" >&2; exit 1'


def test_accounting_falls_back_to_squeue_when_the_database_does_not_answer(fake_bin: Path) -> None:
    fake_scontrol(fake_bin, str(RECORDED / "scontrol_show_config.txt"))
    fake_command(fake_bin, "sacct", SACCT_REFUSED)
    fake_command(fake_bin, "squeue", SQUEUE_ANSWERS)
    result = check_accounting()
    assert result.ok
    assert result.detail.startswith("accounting_storage/slurmdbd configured, but sacct ")
    assert "Connection refused; jobs are followed through squeue and their result files" in result.detail


def test_accounting_fails_when_neither_the_database_nor_squeue_answers(fake_bin: Path) -> None:
    fake_scontrol(fake_bin, str(RECORDED / "scontrol_show_config.txt"))
    fake_command(fake_bin, "sacct", SACCT_REFUSED)
    fake_command(fake_bin, "squeue", SQUEUE_REFUSED)
    result = check_accounting()
    assert not result.ok
    assert "and squeue does not answer either" in result.detail
    assert result.detail.endswith(
        "configure slurmdbd (AccountingStorageType=accounting_storage/slurmdbd) or fix squeue"
    )


@pytest.mark.parametrize(("squeue", "ok"), [(SQUEUE_ANSWERS, True), (SQUEUE_REFUSED, False)])
def test_without_accounting_storage_squeue_decides(
    fake_bin: Path, tmp_path: Path, squeue: str, ok: bool
) -> None:
    config = tmp_path / "config.txt"
    text = (RECORDED / "scontrol_show_config.txt").read_text()
    config.write_text(text.replace("accounting_storage/slurmdbd", "accounting_storage/none"))
    fake_scontrol(fake_bin, str(config))
    fake_command(fake_bin, "squeue", squeue)
    result = check_accounting()
    assert result.ok is ok
    assert result.detail.startswith("AccountingStorageType is accounting_storage/none")
