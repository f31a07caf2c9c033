"""`ringrift-hpc tournament` without --local: each round is one job array through the run's executor."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from rating_cli import invoke
from tiny_nets import publish_model, tiny_checkpoint

from ringrift_hpc.cluster.accounting import query_accounting
from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan
from ringrift_hpc.loop.tournament_arrays import progress_of, round_tasks, submitted_rounds
from ringrift_hpc.rating.leaderboard import read_leaderboard
from ringrift_hpc.rating.match_files import load_match_history
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.store import RunLayout

VARIANT = "square8_2p"
SLURM = """\
slurm:
  setup: []
  evaluate: {partition: cpu, cpus: 1, mem: 1G, time: "00:10:00"}
"""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def new_run(tmp_path: Path, executor: str = "local", name: str = "rating") -> tuple[RunLayout, list[str]]:
    layout = RunLayout(tmp_path / "run")
    layout.root.mkdir()
    layout.run_config.write_text(
        f"version: 1\nexecutor: {executor}\n"
        f"run: {{name: {name}, variants: [{VARIANT}], seed: 3}}\n"
        "selfplay: {simulations: 4, device: cpu}\n"
        "local: {max_parallel_jobs: 2}\n"
        "evaluation: {concurrent_games: 8, device: cpu, groups_per_task: 2, tournament_groups_per_pair: 1}\n"
        + (SLURM if executor == "slurm" else "")
    )
    return layout, [publish_model(layout.root, VARIANT, tiny_checkpoint(seed)) for seed in range(2)]


def submit_tournament(layout: RunLayout, models: list[str]) -> tuple[int, str]:
    args = ["tournament", str(layout.root), "-v", VARIANT, "--poll-interval", "0.2"]
    for model in models:
        args += ["-p", f"policy#{model}"]
    return invoke(*args)


def test_submitted_tournament_plays_one_array_and_writes_the_leaderboard(tmp_path: Path) -> None:
    layout, models = new_run(tmp_path)
    code, out = submit_tournament(layout, models)
    assert code == 0, out
    # 4 participants (2 models, random, heuristic): 6 pairs of 1 group, 2 groups a task
    assert "round-001: submitted 3 tasks" in out and "3/3 tasks done" in out
    assert [p.name for p in (layout.jobs_dir / "local").iterdir() if p.is_dir()] == ["1"]
    history = load_match_history(layout, VARIANT)
    assert [f.path.name for f in history.files] == [
        "round-001-000.jsonl",
        "round-001-001.jsonl",
        "round-001-002.jsonl",
    ]
    board = read_leaderboard(layout.leaderboard_json(VARIANT))
    assert board["games"] == 12 and len(board["rows"]) == 4
    for path in (layout.leaderboard_md(VARIANT), layout.leaderboard_json(VARIANT)):
        assert path.exists()


def test_a_failed_task_fails_the_tournament_with_its_error_and_nothing_is_refitted(tmp_path: Path) -> None:
    layout, models = new_run(tmp_path)
    layout.halt.write_text("stopped for the test\n")  # every task stops before its first group
    code, out = submit_tournament(layout, models)
    assert code == 2, out
    assert "3 of 3 tasks of round-001 failed" in out
    assert "task round-001-000" in out and "completed no game group" in out
    assert not layout.leaderboard_json(VARIANT).exists()


class FakeExecutor:
    """One array whose tasks finish after a set number of polls; records polls and cancels."""

    def __init__(self, polls_to_finish: int, fail: Sequence[int] = ()) -> None:
        self.polls_to_finish = polls_to_finish
        self.fail = set(fail)
        self.refs: list[JobRef] = []
        self.polls: list[list[JobRef]] = []
        self.cancelled: list[JobRef] = []

    @property
    def scheduler_queries(self) -> int:
        return len(self.polls)

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        return self.submit_array(purpose, [spec])[0]

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        assert all(isinstance(spec, MatchSpec) for spec in specs)
        self.refs = [JobRef(purpose, "7", task) for task in range(len(specs))]
        return self.refs

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        refs = list(refs)
        self.polls.append(refs)
        if len(self.polls) < self.polls_to_finish:
            return {ref: JobState(JobStatus.RUNNING) for ref in refs}
        return {
            ref: JobState(JobStatus.FAILED if ref.task in self.fail else JobStatus.COMPLETED, detail="exit 1")
            for ref in refs
        }

    def cancel(self, refs: Iterable[JobRef]) -> None:
        self.cancelled.extend(refs)

    def cancel_all(self) -> None:
        self.cancel(self.refs)

    def error_text(self, ref: JobRef) -> str:
        return f"Traceback ...\nValueError: task {ref.task} broke"

    def result(self, ref: JobRef) -> Any:
        return f"result {ref.key}"


def plans(count: int) -> tuple[GroupPlan, ...]:
    lineup = (Participant(VARIANT, "random"), Participant(VARIANT, "heuristic"))
    return tuple(GroupPlan(lineup, seed) for seed in range(count))


def make_spec(task: str, groups: tuple[GroupPlan, ...]) -> MatchSpec:
    return MatchSpec(run_root="/run", variant=VARIANT, eval_id="t", task=task, groups=groups)


def test_round_tasks_cut_the_groups_in_order() -> None:
    tasks = round_tasks("round-002", plans(5), 2)
    assert list(tasks) == ["round-002-000", "round-002-001", "round-002-002"]
    assert [len(chunk) for chunk in tasks.values()] == [2, 2, 1]
    assert tuple(p for chunk in tasks.values() for p in chunk) == plans(5)


def test_progress_counts_each_kind_of_state() -> None:
    statuses = ["pending", "running", "running", "completed", "failed", "cancelled", "timeout", "unknown"]
    progress = progress_of("round-001", [JobState(JobStatus(s)) for s in statuses])
    assert progress.line == (
        "  round-001: 1/8 tasks done, 2 running, 1 queued, 3 failed, 1 unknown to the scheduler"
    )


def test_one_poll_per_interval_covers_every_task() -> None:
    executor = FakeExecutor(polls_to_finish=4)
    sleeps: list[float] = []
    lines: list[str] = []
    play = submitted_rounds(
        executor, make_spec, groups_per_task=3, poll_s=5.0, report=lines.append, sleep=sleeps.append
    )
    results = play("round-001", plans(7))
    # the fake's results stand in for MatchResults: what matters is each task's, in order
    assert results == ["result 7_0", "result 7_1", "result 7_2"]  # type: ignore[comparison-overlap]
    assert len(executor.polls) == 4 and sleeps == [5.0] * 3
    assert all(len(refs) == 3 for refs in executor.polls)
    assert lines[-1] == "  round-001: 3/3 tasks done, 0 running, 0 queued"
    assert executor.cancelled == []


def test_failed_tasks_are_named_with_their_error_text() -> None:
    executor = FakeExecutor(polls_to_finish=1, fail=[1])
    play = submitted_rounds(executor, make_spec, groups_per_task=1, poll_s=1.0, report=print, sleep=print)
    with pytest.raises(RuntimeError, match="1 of 2 tasks of round-001 failed") as error:
        play("round-001", plans(2))
    assert "task round-001-001 (job 7_1) failed (exit 1)" in str(error.value)
    assert "ValueError: task 1 broke" in str(error.value)


def test_ctrl_c_while_waiting_cancels_the_tasks() -> None:
    executor = FakeExecutor(polls_to_finish=10)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    play = submitted_rounds(executor, make_spec, groups_per_task=1, poll_s=1.0, report=print, sleep=interrupt)
    with pytest.raises(KeyboardInterrupt):
        play("round-001", plans(3))
    assert executor.cancelled == [JobRef("tournament", "7", task) for task in range(3)]


@pytest.mark.slurm
@pytest.mark.timeout(180)
def test_submitted_tournament_on_slurm_runs_its_tasks_as_the_runs_tournament_jobs(tmp_path: Path) -> None:
    name = f"tourn{os.getpid()}"
    layout, models = new_run(tmp_path, "slurm", name)
    since = dt.datetime.now() - dt.timedelta(seconds=5)
    code, out = submit_tournament(layout, models)
    assert code == 0, out
    assert "slurm executor" in out and "3/3 tasks done" in out
    assert read_leaderboard(layout.leaderboard_json(VARIANT))["games"] == 12
    purposes = {summary.purpose: summary for summary in query_accounting(name, since)}
    assert purposes["tournament"].states == {"COMPLETED": 3}
