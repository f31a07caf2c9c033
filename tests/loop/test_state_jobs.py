"""The fold's job records: a completed match task is kept only while its match file is awaited."""

from __future__ import annotations

from ringrift_hpc.cluster.executor import JobRef, JobStatus
from ringrift_hpc.loop.events import (
    Event,
    IntentTask,
    JobEnded,
    MatchIngested,
    SubmitIntent,
    Submitted,
    TournamentStarted,
)
from ringrift_hpc.loop.state import RunState, fold_events

VARIANT = "square8_2p"
TASK = f"tournament/{VARIANT}/t000001/000000"


def _submit(attempt: int = 0) -> list[Event]:
    started = TournamentStarted(eval_id="t000001", decisions=3) if attempt == 0 else None
    return [
        SubmitIntent(
            purpose="tournament",
            variant=VARIANT,
            tasks=(IntentTask(task=TASK, spec="{}", attempt=attempt),),
            started=started,
        ),
        Submitted(tasks=(TASK,), refs=(JobRef("tournament", "71", attempt),)),
    ]


def _ended(status: JobStatus = JobStatus.COMPLETED) -> JobEnded:
    retry = 5.0 if status is JobStatus.FAILED else None
    return JobEnded(
        task=TASK, job="71_0", status=status, exit_code=0, elapsed_s=3.0, detail="", retry_at=retry, time=2.0
    )


INGESTED = MatchIngested(
    variant=VARIANT, path=f"variants/{VARIANT}/matches/t000001/000000.jsonl", eval_id="t000001", groups=2
)


def _jobs(events: list[Event]) -> dict[str, str]:
    state = fold_events(RunState.empty([VARIANT]), events)
    return {task: job.status for task, job in state.jobs.items()}


def test_a_match_task_ending_before_its_file_is_ingested_is_kept_until_then() -> None:
    assert _jobs([*_submit(), _ended()]) == {TASK: "completed"}
    assert _jobs([*_submit(), _ended(), INGESTED]) == {}


def test_a_match_task_whose_file_was_ingested_while_it_ran_leaves_nothing_awaited() -> None:
    # The file can be ingested in the tick before the executor reports the job's end; a run
    # ending there showed the task as "completed, awaiting artifact" for good.
    assert _jobs([*_submit(), INGESTED]) == {TASK: "pending"}
    assert _jobs([*_submit(), INGESTED, _ended()]) == {}


def test_a_rerun_remembers_that_its_file_is_ingested() -> None:
    assert _jobs([*_submit(), INGESTED, _ended(JobStatus.FAILED), *_submit(attempt=1), _ended()]) == {}
