"""Typed journal events: a journal written before the types existed replays to the same state and
its records are written back key for key; the documented event list is the set of types, each
with a fold handler; unknown events only count; a bad record is an error naming file, record,
field and value; the controller's new records have today's keys."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest
from test_controller_fake import FakeExecutor, _controller
from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobState, JobStatus
from ringrift_hpc.loop import events
from ringrift_hpc.loop.events import (
    EVENT_NAMES,
    EVENT_TYPES,
    JournalEventError,
    ShardIngested,
    Tick,
    UnknownEvent,
    parse_event,
    read_events,
    to_record,
)
from ringrift_hpc.loop.state import FOLD, RunState, apply_event, replay_state
from ringrift_hpc.store import replay_journal

GOLDEN = Path(__file__).parent / "golden"
V = "square8_2p"


def _golden_records() -> list[dict[str, typing.Any]]:
    return replay_journal(GOLDEN / "journal.jsonl").records


def _ref_by_purpose(ref: dict[str, typing.Any] | None) -> dict[str, typing.Any] | None:
    """Since the job registry a JobRef is written with `purpose` where the golden journal has
    `kind` (the same word for these jobs; both are read): the one expected change."""
    if ref is None:
        return None
    renamed = {("purpose" if key == "kind" else key): value for key, value in ref.items()}
    assert renamed["purpose"] in ("selfplay", "train", "evaluate")
    return renamed


def test_a_journal_written_before_typed_events_replays_to_the_same_state() -> None:
    records = _golden_records()
    # The golden journal has every event but those added after it was written.
    assert {r["event"] for r in records} == EVENT_NAMES - {
        "submit_refused",
        "shadow_checked",
        "shadow_rollback",
    }
    state = replay_state([V], records, source="golden journal")
    expected = json.loads((GOLDEN / "state.json").read_text())
    # Ticks are counted by the controller process now, not folded from `tick` records.
    del expected["ticks"]
    # The jobs' resource kind follows from their purpose and is no longer kept.
    expected["jobs"] = [
        {**{k: v for k, v in job.items() if k != "kind"}, "ref": _ref_by_purpose(job["ref"])}
        for job in expected["jobs"]
    ]
    assert any(job["ref"] for job in expected["jobs"])
    assert json.loads(json.dumps(state.to_json())) == expected
    assert state.events == len(records) == 844


def test_records_are_written_back_with_the_keys_they_were_read_with() -> None:
    for record in _golden_records():
        if "refs" in record:
            record = {**record, "refs": [_ref_by_purpose(ref) for ref in record["refs"]]}
        assert to_record(parse_event(record)) == record


def test_an_event_made_in_code_is_written_with_its_tags_and_read_back() -> None:
    shard = ShardIngested(variant=V, path="variants/x/selfplay/000000/000001.h5", samples=9, generation=0)
    record = to_record(shard)
    assert record == {
        "event": "ingested",
        "artifact": "shard",
        "variant": V,
        "path": "variants/x/selfplay/000000/000001.h5",
        "samples": 9,
        "generation": 0,
    }
    assert parse_event(record) == shard
    assert to_record(Tick(halted=True, queries=2)) == {"event": "tick", "halted": True, "queries": 2}


def test_the_documented_event_list_is_the_set_of_event_types() -> None:
    doc = events.__doc__ or ""
    listed = doc[doc.index("Journal events (field ``event``):") :]
    documented = re.findall(r"^\* ``(\w+)``", listed, flags=re.MULTILINE)
    assert len(documented) == len(set(documented))
    assert set(documented) == EVENT_NAMES
    assert len(EVENT_TYPES) == 21  # the three kinds of `ingested` are one event


def test_every_event_type_has_a_fold_handler() -> None:
    assert set(FOLD) == {*EVENT_TYPES, UnknownEvent}


def test_an_unknown_event_only_counts() -> None:
    state = RunState.empty([V])
    (unknown,) = read_events([{"event": "from_a_newer_controller", "x": 1}], source="journal")
    assert unknown == UnknownEvent("from_a_newer_controller")
    after = apply_event(state, unknown)
    assert after == RunState(variants=state.variants, events=1)
    assert replay_state([V], [{"event": "from_a_newer_controller"}, {"no": "event"}]).events == 2


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"event": "tick", "halted": "yes", "queries": 1},
            "run/journal.jsonl, record 2: tick event, field 'halted': Input should be a valid boolean (value 'yes')",
        ),
        (
            {"event": "job_cancelled", "task": "t"},
            "run/journal.jsonl, record 2: job_cancelled event, field 'why': Field required;",
        ),
        (
            {
                "event": "submit_intent",
                "purpose": "selfplay",
                "variant": V,
                "kind": "selfplay",
                "tasks": [{}],
            },
            "run/journal.jsonl, record 2: submit_intent event, field 'tasks.0.task': Field required;",
        ),
        (
            {"event": "ingested", "artifact": "movie", "variant": V, "path": "p"},
            "run/journal.jsonl, record 2: ingested event, field 'artifact': 'movie' is not one of shard, model, match",
        ),
        (
            {
                "event": "ingested",
                "artifact": "shard",
                "variant": V,
                "path": "p",
                "samples": 1,
                "generation": 0,
                "x": 1,
            },
            "run/journal.jsonl, record 2: ingested event, field 'x': Extra inputs are not permitted (value 1)",
        ),
        (
            {"event": "submitted", "tasks": ["t"], "refs": [{"kind": "selfplay", "job_id": "x1", "task": 0}]},
            "run/journal.jsonl, record 2: submitted event, field 'refs.0': Value error, job id 'x1' is not a number",
        ),
    ],
)
def test_a_bad_record_names_the_file_the_record_the_field_and_the_value(
    record: dict[str, typing.Any], message: str
) -> None:
    good = {"event": "tick", "halted": False, "queries": 1}
    with pytest.raises(JournalEventError) as caught:
        replay_state([V], [good, record], source="run/journal.jsonl")
    assert str(caught.value).startswith(message)
    assert "restore journal.jsonl" in str(caught.value)


def test_an_unknown_name_is_an_error_where_a_known_event_is_required() -> None:
    with pytest.raises(
        JournalEventError, match=r"ingesting x: field 'event': 'tik' is not a journal event \("
    ):
        parse_event({"event": "tik"}, where="ingesting x")


def test_events_are_frozen() -> None:
    tick = Tick(halted=False, queries=1)
    with pytest.raises(ValueError, match="frozen"):
        tick.queries = 2  # type: ignore[misc]


def test_the_controller_writes_todays_keys(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", changes={"loop": {"max_job_retries": 1}})
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: 1000.0)
    with journal:
        controller.tick()
        first, second = (j.ref for j in controller.state.jobs.values())
        assert first is not None and second is not None
        executor.states[first] = JobState(JobStatus.COMPLETED, exit_code=0, elapsed_s=7)
        executor.states[second] = JobState(JobStatus.FAILED, exit_code=1)
        controller.tick()
    records = replay_journal(layout.journal).records
    keys = {(r["event"], r.get("status")): sorted(r) for r in records}
    stamp = ["time", "token"]
    assert keys[("submit_intent", None)] == sorted(["event", "purpose", "variant", "tasks", *stamp])
    assert keys[("submitted", None)] == sorted(["event", "tasks", "refs", *stamp])
    assert ("tick", None) not in keys  # a tick is no journal event
    ended = ["event", "task", "job", "status", "exit_code", "elapsed_s", "detail", *stamp]
    assert keys[("job_ended", "completed")] == sorted(ended)
    assert keys[("job_ended", "failed")] == sorted([*ended, "error", "retry_at"])
    task = records[0]["tasks"][0]
    assert sorted(task) == ["attempt", "spec", "task"] and task["attempt"] == 0
    assert records[1]["refs"][0] == first.to_json()
    assert all(r["time"] == 1000.0 and r["token"] == controller.lease.token for r in records)
