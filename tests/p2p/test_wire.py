"""Wire documents: strict parsing, and errors that name the document, the field and the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import AfterValidator

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.p2p.agent_link import AgentUnreachableError, agent_file, ask_agent
from ringrift_hpc.p2p.job_messages import (
    ClaimReply,
    ClaimRequest,
    HaltRequest,
    JobHeartbeat,
    JobHeartbeatReply,
    JobReport,
    JobReportReply,
)
from ringrift_hpc.p2p.wire import WIRE_VERSION, Count, Name, Names, Version, WireError, WireModel
from ringrift_hpc.p2p.work_queue import ClaimedJob, Demand
from ringrift_hpc.store import RunLayout


def _even(value: int) -> int:
    if value % 2:
        raise ValueError(f"{value} is odd; send an even number")
    return value


class Inner(WireModel):
    count: Count
    even: Annotated[int, AfterValidator(_even)] = 0


class Outer(WireModel):
    WHAT = "sample"
    v: Version = WIRE_VERSION
    name: Name
    inner: Inner
    names: Names
    table: dict[str, Inner]


GOOD = {
    "v": 1,
    "name": "a",
    "inner": {"count": 1, "even": 2},
    "names": ["x"],
    "table": {"k": {"count": 0, "even": 0}},
}


def _error(doc: object) -> str:
    with pytest.raises(WireError) as raised:
        Outer.from_json(doc)
    return str(raised.value)


def test_a_document_round_trips_and_is_frozen() -> None:
    sample = Outer.from_json(GOOD)
    assert sample.names == ("x",) and sample.to_json() == GOOD
    assert Outer.from_json(json.loads(json.dumps(sample.to_json()))) == sample
    with pytest.raises(ValueError, match="frozen"):
        sample.name = "b"


def test_without_a_version_a_document_is_version_1() -> None:
    doc = dict(GOOD)
    del doc["v"]
    assert Outer.from_json(doc) == Outer.from_json(GOOD)


def test_every_bad_field_is_named_with_what_it_must_be_and_the_value() -> None:
    doc = GOOD | {"v": 2, "name": "", "names": ["x", ""], "inner": {"count": True, "even": 3}}
    assert _error(doc) == (
        "sample: field 'v' must be 1 (the wire version of this ringrift-hpc; run the same version on every "
        "node), got 2; field 'name' must be a non-empty string, got ''; field 'inner': field 'count' must be "
        "an integer >= 0, got True; field 'inner': field 'even': 3 is odd; send an even number; field 'names' "
        "must be a list of non-empty strings, got ['x', '']"
    )


def test_missing_and_unknown_fields_list_the_fields_once_per_object() -> None:
    doc = {k: v for k, v in GOOD.items() if k != "name"} | {"extra": 1, "inner": {"even": 0, "odd": 1}}
    assert _error(doc) == (
        "sample: field 'name' is missing (the fields are v, name, inner, names, table); "
        "field 'inner': field 'count' is missing (the fields are count, even); "
        "field 'inner': unknown field 'odd'; unknown field 'extra'"
    )


def test_non_objects_strings_for_numbers_and_lists_are_refused() -> None:
    assert _error([]) == "sample: expected a JSON object, got list"
    assert _error(GOOD | {"inner": "x"}) == "sample: field 'inner': expected a JSON object, got str"
    assert (
        _error(GOOD | {"names": "x"}) == "sample: field 'names' must be a list of non-empty strings, got 'x'"
    )
    assert _error(GOOD | {"table": {"k": {"count": "1"}}}) == (
        "sample: field 'table': field 'k': field 'count' must be an integer >= 0, got '1'"
    )


def test_job_messages_round_trip_through_json() -> None:
    claimed = ClaimedJob(
        job_id="3000001", term=3, purpose="selfplay", job={"purpose": "selfplay"}, lease_s=30.0
    )
    free = Demand(cpus=4, gpus=0, memory_mb=1000)
    messages: list[WireModel] = [
        ClaimRequest(node="w", term_seen=3, free=free),
        ClaimReply(job=claimed, halted=False),
        ClaimReply(job=None, halted=True),
        JobHeartbeat(node="w", job_id="3000001", term=3),
        JobHeartbeatReply(ok=True, cancel=False, reason="", halted=False),
        JobReport(
            node="w", job_id="3000001", term=3, status=JobStatus.FAILED, exit_code=1, elapsed_s=5, error="x"
        ),
        JobReportReply(accepted=True, reason=""),
        HaltRequest(reason="disk full", cancel=True),
    ]
    for message in messages:
        doc = json.loads(json.dumps(message.to_json()))
        assert doc["v"] == 1
        assert type(message).from_json(doc) == message
    assert (
        JobReport.from_json({"node": "w", "job_id": "1", "term": 0, "status": "completed"}).exit_code is None
    )


def test_bad_job_messages_name_the_field() -> None:
    with pytest.raises(
        WireError, match=r"job report: field 'status' must be one of pending, running, .*got 'done'"
    ):
        JobReport.from_json({"node": "w", "job_id": "1", "term": 1, "status": "done"})
    with pytest.raises(
        WireError, match=r"job heartbeat: field 'job_id' must be a string of digits \(a job id\)"
    ):
        JobHeartbeat.from_json({"node": "w", "job_id": "../1", "term": 1})
    with pytest.raises(
        WireError, match=r"claim reply: field 'job': field 'lease_s' must be a positive number, got 0"
    ):
        ClaimReply.from_json(
            {"job": {"job_id": "1", "term": 1, "purpose": "train", "job": {}, "lease_s": 0}, "halted": False}
        )
    with pytest.raises(
        WireError,
        match=r"claim reply: field 'job': field 'purpose' is missing \(the fields are job_id, term,",
    ):
        ClaimReply.from_json({"job": {"job_id": "1", "term": 1, "job": {}, "lease_s": 1}, "halted": False})
    with pytest.raises(
        WireError, match=r"halt request: field 'reason' must be a reason \(not blank\).*got '  '"
    ):
        HaltRequest.from_json({"reason": "  "})


def test_a_malformed_agent_file_is_named_with_its_field(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    where = agent_file(layout.root / "p2p")
    where.parent.mkdir(parents=True)
    where.write_text(json.dumps({"node": "a", "url": "http://127.0.0.1:1"}))
    with pytest.raises(
        AgentUnreachableError, match=r"agent\.json: agent file: field 'token_file' is missing"
    ):
        ask_agent(layout, "/v1/resume", {})
