"""Accounting: the sacct parser against recorded text, the summary by purpose, the command, and one
slurm-marked run against the local cluster."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import cloudpickle  # type: ignore[import-untyped]  # no stubs; comes with submitit
import pytest
import typer
from job_calls import call, resolve_calls
from typer.testing import CliRunner

from ringrift_hpc.cli.accounting_cmd import accounting_command
from ringrift_hpc.cluster.accounting import (
    format_accounting,
    gpus_in_tres,
    parse_accounting,
    query_accounting,
    sacct_command,
    summarize,
)
from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.cluster.slurm_executor import SlurmExecutor
from ringrift_hpc.cluster.slurm_parse import SlurmOutputError
from ringrift_hpc.config import Config
from ringrift_hpc.loop.run_init import init_run

cloudpickle.register_pickle_by_value(sys.modules[__name__])

# Recorded on the local cluster (Slurm 22.05) for jobs named rec-train, rec-selfplay, rec-evaluate.
RECORDED = (Path(__file__).parent / "golden" / "sacct_accounting.txt").read_text()
HEADER = RECORDED.splitlines()[0]


def test_recorded_sacct_summarizes_by_purpose() -> None:
    usages = parse_accounting(RECORDED)
    assert len(usages) == 18
    train = [usage for usage in usages if usage.name == "rec-train"]
    assert [(u.key, u.cpus, u.gpus, u.elapsed_s) for u in train] == [("374", 2, 2, 2), ("383", 2, 2, 3)]
    waited = next(usage for usage in usages if usage.key == "376_0")
    assert waited.queue_wait_s == 11.0
    summaries = {summary.purpose: summary for summary in summarize(usages, "rec")}
    assert list(summaries) == ["selfplay", "train", "evaluate"]
    train_summary = summaries["train"]
    assert (train_summary.jobs, train_summary.states, train_summary.elapsed_s) == (2, {"COMPLETED": 2}, 5)
    assert (train_summary.cpu_hours, train_summary.gpu_hours) == pytest.approx((2 * 5 / 3600, 2 * 5 / 3600))
    assert (train_summary.queue_wait_mean_s, train_summary.queue_wait_max_s) == (0.0, 0.0)
    assert summaries["selfplay"].states == {"COMPLETED": 11, "RUNNING": 1}
    assert summaries["selfplay"].queue_wait_max_s == 11.0
    assert summaries["evaluate"].states == {"CANCELLED": 2, "FAILED": 2}
    assert summaries["evaluate"].cpu_hours == pytest.approx(19 / 3600)
    assert summarize(usages, "other-run") == ()


def test_pending_array_row_counts_each_task_without_a_row_of_its_own() -> None:
    # The shape sacct prints for a throttled array while task 0 runs and the database lags:
    # task 0 is both in the pending range and on its own row.
    rows = (
        "393_0|394|RUNNING|0:0|00:00:02|cpu|vm|rr-selfplay|1|billing=1,cpu=1,node=1|2026-11-29T04:33:08|2026-11-29T04:33:09",
        "393_[0-5%1]|393|PENDING|0:0|00:00:00|cpu|None assigned|rr-selfplay|1||2026-11-29T04:33:08|Unknown",
    )
    usages = parse_accounting("\n".join((HEADER, *rows)))
    assert [(u.key, u.state) for u in usages] == [("393_0", "RUNNING")] + [
        (f"393_{t}", "PENDING") for t in range(1, 6)
    ]
    (summary,) = summarize(usages, "rr")
    assert (summary.jobs, summary.queue_wait_mean_s) == (6, 1.0)


def test_gpus_come_from_the_gres_entry_of_alloc_tres() -> None:
    assert gpus_in_tres("billing=2,cpu=2,gres/gpu=2,mem=2G,node=1") == 2
    assert gpus_in_tres("cpu=8,gres/gpu=4,gres/gpu:a100=4,mem=64G") == 4
    assert gpus_in_tres("cpu=8,gres/gpu:a100=1,gres/gpu:h100=2") == 3
    assert gpus_in_tres("") == 0


def test_bad_sacct_text_is_reported() -> None:
    with pytest.raises(SlurmOutputError, match="lacks JobName"):
        parse_accounting(HEADER.replace("JobName", "Name") + "\n")
    bad_time = RECORDED.splitlines()[1].replace("2026-11-29T04:32:28", "yesterday", 1)
    with pytest.raises(SlurmOutputError, match="Submit 'yesterday'"):
        parse_accounting(HEADER + "\n" + bad_time)


def test_one_sacct_call_selects_the_run_by_job_names() -> None:
    argv = sacct_command("rr", dt.datetime(2026, 1, 31, 12, 0, 5))
    assert argv[0] == "sacct"
    assert "--name=rr-selfplay,rr-train,rr-evaluate,rr-tournament" in argv
    assert "--starttime=2026-01-31T12:00:05" in argv
    assert "--allocations" in argv


def test_tournaments_are_summarized_apart_from_evaluations() -> None:
    rows = (
        "401|401|COMPLETED|0:0|00:00:10|cpu|vm|rr-tournament|2||2026-11-29T04:33:08|2026-11-29T04:33:09",
        "402|402|COMPLETED|0:0|00:00:20|cpu|vm|rr-evaluate|1||2026-11-29T04:33:08|2026-11-29T04:33:10",
    )
    summaries = summarize(parse_accounting("\n".join((HEADER, *rows))), "rr")
    assert [(s.purpose, s.jobs, s.elapsed_s) for s in summaries] == [
        ("evaluate", 1, 20),
        ("tournament", 1, 10),
    ]
    assert summaries[1].to_json()["purpose"] == "tournament"


def test_table_has_a_line_per_purpose_and_a_total() -> None:
    table = format_accounting(summarize(parse_accounting(RECORDED), "rec"))
    lines = table.splitlines()
    assert lines[0].split() == [
        "purpose",
        "jobs",
        "states",
        "cpu-h",
        "gpu-h",
        "elapsed",
        "wait",
        "mean",
        "wait",
        "max",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["selfplay", "train", "evaluate", "total"]
    assert lines[-1].split()[:2] == ["total", "18"]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(accounting_command)
    return app


def test_command_without_a_run_config_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), [str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "run.yaml" in result.output


def square(x: int) -> int:
    return x * x


@pytest.mark.slurm
@pytest.mark.timeout(90)
def test_accounting_command_counts_a_runs_jobs_on_the_local_cluster(tmp_path: Path) -> None:
    name = f"acct{os.getpid()}"
    run = tmp_path / "run"
    resources = {"partition": "cpu", "cpus": 1, "mem": "200M"}
    config = Config.model_validate(
        {"executor": "slurm", "run": {"name": name, "root": str(run)}, "slurm": {"selfplay": resources}}
    )
    init_run(run, config, source="test")
    since = dt.datetime.now() - dt.timedelta(seconds=5)
    executor = SlurmExecutor(run / "jobs" / "slurm", run_name=name, slurm=config.slurm, resolve=resolve_calls)
    refs = executor.submit_array("selfplay", [call(square, x) for x in range(3)])
    deadline = time.monotonic() + 60
    while True:
        summaries = query_accounting(name, since)
        if summaries and summaries[0].states == {"COMPLETED": 3}:
            break
        assert time.monotonic() < deadline, f"sacct did not show 3 completed tasks: {summaries}"
        time.sleep(0.5)
    assert all(state.status is JobStatus.COMPLETED for state in executor.poll(refs).values())
    (selfplay,) = summaries
    assert selfplay.purpose == "selfplay" and selfplay.cpu_hours >= 0 and selfplay.gpu_hours == 0

    result = CliRunner().invoke(_app(), [str(run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["run"] == name
    assert [(entry["purpose"], entry["jobs"]) for entry in report["purposes"]] == [("selfplay", 3)]
