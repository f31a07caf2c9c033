"""Folding a journal at once (a restart) gives the state that applying its events one by one
(a running controller) gives, and the fold's fast `replace` refuses a field its class lacks."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ringrift_hpc.bench.controller_bench import bench_config, journal_records
from ringrift_hpc.loop.events import read_events
from ringrift_hpc.loop.state import RunState, VariantState, apply_event, fold_events, replace


def test_folding_at_once_equals_applying_one_by_one(tmp_path: Path) -> None:
    records = list(itertools.islice(journal_records(bench_config(tmp_path), tmp_path, 300, 30, 3), 1000))
    events = read_events(records, source="journal")
    one_by_one = RunState.empty(["square8_2p"])
    for event in events:
        one_by_one = apply_event(one_by_one, event)
    assert fold_events(RunState.empty(["square8_2p"]), events) == one_by_one
    assert one_by_one.events == 1000 and one_by_one.ingested == sum(r["event"] == "ingested" for r in records)


def test_replace_makes_a_new_object_and_refuses_unknown_fields() -> None:
    v = VariantState("square8_2p")
    changed = replace(v, shards=3)
    assert (changed.shards, v.shards) == (3, 0) and changed == VariantState("square8_2p", shards=3)
    with pytest.raises(TypeError, match=r"VariantState has no field \['shard'\]"):
        replace(v, shard=3)
