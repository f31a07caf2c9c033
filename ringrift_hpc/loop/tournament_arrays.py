"""Tournament rounds submitted through the run's executor: each round is ONE job array.

A round's groups are cut into match tasks of `groups_per_task` groups, submitted together as an
array of the `tournament` purpose, and waited for with one `executor.poll` per poll interval (one
scheduler query, whatever the number of tasks). Round-robin is one round, so one array; Swiss
pairs each round from the last one's results, so its arrays follow one another.

A failed task fails the round (`RoundFailedError`, with every failed task's error text): the
ratings are never refitted from a tournament with missing games. Leaving the wait early (Ctrl-C,
or any error) cancels the round's tasks that have not finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ringrift_hpc.cluster.executor import Executor, JobRef, JobState, JobStatus
from ringrift_hpc.jobs.evaluate import MatchResult, MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan
from ringrift_hpc.loop.tournament_rounds import PlayRound


class RoundFailedError(RuntimeError):
    """Some of a round's tasks did not complete; the message names each one and why."""


@dataclass(frozen=True)
class RoundProgress:
    """How far a submitted round is, from one poll."""

    round: str
    total: int
    pending: int
    running: int
    completed: int
    failed: int  # failed, cancelled or timed out
    unknown: int  # the scheduler does not know them (past the executor's grace after submission)

    @property
    def line(self) -> str:
        return (
            f"  {self.round}: {self.completed}/{self.total} tasks done, {self.running} running, "
            f"{self.pending} queued"
            + (f", {self.failed} failed" if self.failed else "")
            + (f", {self.unknown} unknown to the scheduler" if self.unknown else "")
        )


def round_tasks(
    task: str, plans: Sequence[GroupPlan], groups_per_task: int
) -> dict[str, tuple[GroupPlan, ...]]:
    """The round's groups in tasks of at most `groups_per_task`, named `<round>-000`, `<round>-001`, ..."""
    if groups_per_task < 1:
        raise ValueError(f"groups_per_task is {groups_per_task}; it must be at least 1")
    return {
        f"{task}-{number:03d}": tuple(plans[start : start + groups_per_task])
        for number, start in enumerate(range(0, len(plans), groups_per_task))
    }


def progress_of(task: str, states: Sequence[JobState]) -> RoundProgress:
    status = [state.status for state in states]
    return RoundProgress(
        round=task,
        total=len(status),
        pending=status.count(JobStatus.PENDING),
        running=status.count(JobStatus.RUNNING),
        completed=status.count(JobStatus.COMPLETED),
        failed=sum(s.is_terminal and s is not JobStatus.COMPLETED for s in status),
        unknown=status.count(JobStatus.UNKNOWN),
    )


def submitted_rounds(
    executor: Executor,
    make_spec: Callable[[str, tuple[GroupPlan, ...]], MatchSpec],
    *,
    groups_per_task: int,
    poll_s: float,
    report: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> PlayRound:
    """A `PlayRound` that submits each round as one array and waits for it (module docstring)."""

    def play_round(task: str, plans: tuple[GroupPlan, ...]) -> list[MatchResult]:
        specs = [make_spec(name, chunk) for name, chunk in round_tasks(task, plans, groups_per_task).items()]
        refs = executor.submit_array("tournament", specs)
        report(f"  {task}: submitted {len(refs)} tasks (job {refs[0].job_id}, {len(plans)} groups)")
        try:
            states = _wait(executor, task, refs, poll_s=poll_s, report=report, sleep=sleep)
        except BaseException:
            # Ctrl-C or a failed query ends the command; its tasks must not play on unseen.
            executor.cancel(refs)
            raise
        failed = [
            _failure(executor, spec, ref, states[ref])
            for spec, ref in zip(specs, refs, strict=True)
            if not states[ref].succeeded
        ]
        if failed:
            raise RoundFailedError(
                f"{len(failed)} of {len(refs)} tasks of {task} failed; the leaderboard was not refitted\n"
                + "\n".join(failed)
            )
        return [executor.result(ref) for ref in refs]

    return play_round


def _wait(
    executor: Executor,
    task: str,
    refs: list[JobRef],
    *,
    poll_s: float,
    report: Callable[[str], None],
    sleep: Callable[[float], None],
) -> dict[JobRef, JobState]:
    """Poll every `poll_s` until each task is finished; report the progress whenever it changes."""
    last: RoundProgress | None = None
    while True:
        states = executor.poll(refs)
        progress = progress_of(task, [states[ref] for ref in refs])
        if progress != last:
            report(progress.line)
            last = progress
        if all(state.is_terminal for state in states.values()):
            return states
        sleep(poll_s)


def _failure(executor: Executor, spec: MatchSpec, ref: JobRef, state: JobState) -> str:
    detail = f" ({state.detail})" if state.detail else ""
    text = executor.error_text(ref).strip() or "no error text was recorded"
    indented = "\n".join("      " + line for line in text.splitlines())
    return f"    task {spec.task} (job {ref.key}) {state.status.value}{detail}:\n{indented}"
