"""The controller's incremental ingest finds what a full scan finds, tick by tick, over any
sequence of publications (good and bad shards, models, match files, writers still running,
directories growing old), and it lists only directories that changed."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringrift_hpc.loop import ingest
from ringrift_hpc.loop.events import to_record
from ringrift_hpc.loop.ingest import ArtifactIndex, scan_variant
from ringrift_hpc.rating import match_files
from ringrift_hpc.rating.match_files import MatchFileError, load_match_history, publish_match_file
from ringrift_hpc.rating.participants import Participant, random_player
from ringrift_hpc.rating.records import GameRecord, MatchGroup
from ringrift_hpc.store import RunLayout, publish_bytes, temp_path_for

VARIANT = "square8_2p"
GOLDEN = Path(__file__).parents[1] / "data" / "golden" / VARIANT / "selfplay" / "000000"
OLD = time.time() - 3600  # a directory's mtime after "age": an hour ago, settled

Op = tuple[Any, ...]
OPS = st.one_of(
    st.tuples(st.just("shard"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("bad_shard"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("writing"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("temp"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("model"), st.integers(0, 3)),
    st.tuples(st.just("match"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("bad_match"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("age")),
    st.tuples(st.just("tick")),
)


def _group(opening_seed: int) -> MatchGroup:
    a, b = random_player(VARIANT), Participant(variant=VARIANT, kind="heuristic")
    games = tuple(
        GameRecord(seats=seats, ranks=(1, 2), moves=40, seed=seed, duration_s=1.0)
        for seed, seats in enumerate(((a.id, b.id), (b.id, a.id)))
    )
    return MatchGroup(variant=a.variant, lineup=(a, b), opening_seed=opening_seed, games=games)


def _apply(layout: RunLayout, op: Op, aged: int) -> None:
    """One publication (or an interrupted writer, or time passing) in the run directory."""
    kind = op[0]
    golden_meta = json.loads((GOLDEN / "000000.json").read_text())["metadata"]
    if kind in ("shard", "bad_shard", "writing", "temp"):
        shard = layout.selfplay_shard(VARIANT, op[1], f"{op[2]:06d}")
        shard.parent.mkdir(parents=True, exist_ok=True)
        if (shard.with_suffix(".json")).exists() or not shard.parent.is_dir():
            return  # published already (or quarantined): an artifact is written once
        if kind == "writing":
            shard.write_bytes(b"half")
        elif kind == "temp":
            temp_path_for(shard).write_bytes(b"half")
        else:
            meta = {**golden_meta, "generation": op[1]}
            if kind == "bad_shard":
                meta["encoder_version"] = "enc0-old"
            for leftover in (temp_path_for(shard), shard):
                leftover.unlink(missing_ok=True)  # the writer came back and finished
            publish_bytes(shard, (GOLDEN / "000000.h5").read_bytes(), meta)
    elif kind == "model":
        weights = layout.model_weights(VARIANT, f"{op[1]:064x}")
        weights.parent.mkdir(parents=True, exist_ok=True)
        publish_bytes(weights, b"weights", {"job_key": f"k{op[1]}", "generation": op[1]})
    elif kind in ("match", "bad_match"):
        path = layout.match_file(VARIANT, f"eval-{op[1]}", f"task-{op[2]}")
        if path.with_suffix(".json").exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "match":
            publish_match_file(
                layout, VARIANT, f"eval-{op[1]}", f"task-{op[2]}", [_group(10 * op[1] + op[2])]
            )
        else:
            publish_bytes(path, b"not a match file\n", {"kind": "matches"})
    elif kind == "age":
        for directory, _, _ in os.walk(layout.root):
            os.utime(directory, (OLD - aged, OLD - aged))


def _normal(layout: RunLayout, events: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(to_record(e)).replace(str(layout.root), "RUN")) for e in events]


@contextmanager
def _runs() -> Iterator[tuple[RunLayout, RunLayout]]:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        yield RunLayout(Path(a) / "run"), RunLayout(Path(b) / "run")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=30))
def test_incremental_ingest_equals_a_full_scan_after_every_tick(ops: list[Op]) -> None:
    with _runs() as (incremental, full):
        index = ArtifactIndex(incremental)
        ingested: set[str] = set()
        for aged, op in enumerate([*ops, ("tick",)]):
            if op[0] != "tick":
                _apply(incremental, op, aged)
                _apply(full, op, aged)
                continue
            found = index.scan(VARIANT)
            for event in found:
                index.apply(event)
            expected = scan_variant(full, VARIANT, ingested)
            ingested |= {e.path for e in expected if e.event == "ingested"}
            assert _normal(incremental, found) == _normal(full, expected)
        assert index.ingested == ingested


def _counting_listings(monkeypatch: pytest.MonkeyPatch, index: ArtifactIndex) -> list[Path]:
    listed: list[Path] = []
    real: Callable[..., Any] = index.listing

    def counting(directory: Path, **kwargs: Any) -> Any:
        listed.append(directory)
        return real(directory, **kwargs)

    monkeypatch.setattr(index, "listing", counting)
    return listed


def test_only_changed_directories_are_listed_and_no_ingested_manifest_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = RunLayout(tmp_path)
    for generation in range(3):
        _apply(layout, ("shard", generation, 0), 0)
    _apply(layout, ("age",), 0)
    index = ArtifactIndex(layout)
    for event in index.scan(VARIANT):
        index.apply(event)
    assert len(index.ingested) == 3
    listed = _counting_listings(monkeypatch, index)
    assert index.scan(VARIANT) == [] and listed == []  # nothing changed: nothing listed

    read: list[Path] = []
    real_read = ingest.read_manifest
    monkeypatch.setattr(
        ingest, "read_manifest", lambda path, **kw: read.append(path) or real_read(path, **kw)
    )
    _apply(layout, ("shard", 1, 1), 0)
    (event,) = index.scan(VARIANT)
    assert event.path == str(layout.relative(layout.selfplay_shard(VARIANT, 1, "000001")))
    assert listed == [layout.selfplay_dir(VARIANT, 1)]  # the other generations are old and unchanged
    assert read == [layout.selfplay_shard(VARIANT, 1, "000001")]  # 000000.json of generation 1 unread


def test_a_directory_with_a_writer_still_running_is_listed_until_it_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = RunLayout(tmp_path)
    _apply(layout, ("writing", 0, 0), 0)
    _apply(layout, ("age",), 0)
    index = ArtifactIndex(layout)
    assert index.scan(VARIANT) == []
    listed = _counting_listings(monkeypatch, index)
    assert index.scan(VARIANT) == [] and listed == [layout.selfplay_dir(VARIANT, 0)]
    shutil.rmtree(layout.selfplay_dir(VARIANT, 0))
    assert index.scan(VARIANT) == []  # a directory that went away is no error


def test_the_refit_groups_come_from_the_cache_in_history_order_and_each_file_is_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = RunLayout(tmp_path)
    for eval_id, task in ((1, 2), (0, 1), (1, 0), (0, 0)):
        _apply(layout, ("match", eval_id, task), 0)
    decoded: list[Path] = []
    real = match_files.decode_match_file

    def counting(path: Path, data: bytes, **kwargs: Any) -> Any:
        decoded.append(path)
        return real(path, data, **kwargs)

    monkeypatch.setattr(ingest, "decode_match_file", counting)
    monkeypatch.setattr(match_files, "decode_match_file", counting)
    index = ArtifactIndex(layout)
    events = index.scan(VARIANT)
    for event in events:
        index.apply(event)
    assert len(decoded) == 4  # by the ingest, which verifies each file
    assert index.match_groups(VARIANT) == load_match_history(layout, VARIANT).groups
    decoded.clear()
    assert len(index.match_groups(VARIANT)) == 4 and decoded == []  # refits decode nothing again
    assert len(index.evaluation_groups(VARIANT, "eval-1")) == 2 and decoded == []

    restarted = ArtifactIndex(layout)  # a new controller: the journal's events, an empty cache
    for event in events:
        restarted.apply(event)
    restarted.match_groups(VARIANT)
    restarted.match_groups(VARIANT)
    assert sorted(decoded) == sorted(layout.root / e.path for e in events)


def test_an_ingested_match_file_that_is_gone_is_a_match_file_error(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    _apply(layout, ("match", 0, 0), 0)
    index = ArtifactIndex(layout)
    (event,) = index.scan(VARIANT)
    restarted = ArtifactIndex(layout)
    restarted.apply(event)
    (layout.root / event.path).unlink()
    with pytest.raises(MatchFileError, match="was ingested but is gone"):
        restarted.match_groups(VARIANT)
