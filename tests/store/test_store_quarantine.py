"""Quarantine moves an artifact and its manifest aside with a reason; it never deletes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringrift_hpc.store import (
    RunLayout,
    UnsafePathError,
    list_published,
    list_quarantined,
    publish_bytes,
    quarantine,
)


def test_quarantine_keeps_the_bytes_and_records_the_reason(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    shard = layout.selfplay_shard("square8_2p", 3, "task-7")
    publish_bytes(shard, b"original shard", {"games": 4})
    shard.write_bytes(b"bit rot happen")
    reason = list_published(shard.parent).corrupt[0].reason

    record = quarantine(layout, shard, reason)

    assert not shard.exists() and not shard.with_suffix(".json").exists()
    assert list_published(shard.parent).published == ()
    kept = {path.name: path.read_bytes() for path in record.files}
    assert kept["task-7.h5"] == b"bit rot happen"
    assert json.loads(kept["task-7.json"])["metadata"] == {"games": 4}
    doc = json.loads((record.entry / "reason.json").read_text())
    assert doc["original"] == "variants/square8_2p/selfplay/000003/task-7.h5"
    assert doc["reason"] == reason and "sha256 is" in reason
    assert doc["time"] == record.time
    assert record.entry.parent == layout.quarantine_dir
    assert list_quarantined(layout) == (record,)


def test_quarantine_of_an_unmanifested_artifact_or_a_lone_manifest(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    orphan = layout.match_file("hex8_3p", "eval-2", "t1")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"torn")
    first = quarantine(layout, orphan, "no manifest after the job ended")
    assert [p.name for p in first.files] == ["t1.jsonl"]
    lone = layout.match_manifest("hex8_3p", "eval-2", "t2")
    lone.write_text("{garbage")
    second = quarantine(layout, lone, "unparseable manifest")
    assert [p.name for p in second.files] == ["t2.json"]
    assert [r.reason for r in list_quarantined(layout)] == [
        "no manifest after the job ended",
        "unparseable manifest",
    ]
    assert {r.original for r in list_quarantined(layout)} == {
        "variants/hex8_3p/matches/eval-2/t1.jsonl",
        "variants/hex8_3p/matches/eval-2/t2.json",
    }


def test_quarantine_refuses_paths_outside_the_run_or_already_quarantined(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    outside = tmp_path / "elsewhere.h5"
    outside.write_bytes(b"x")
    with pytest.raises(UnsafePathError, match="outside the run directory"):
        quarantine(layout, outside, "nope")
    assert outside.exists()
    inside = layout.root / "stray.h5"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"x")
    record = quarantine(layout, inside, "stray")
    with pytest.raises(UnsafePathError, match="already in quarantine"):
        quarantine(layout, record.files[0], "again")
    with pytest.raises(FileNotFoundError, match="nothing to quarantine"):
        quarantine(layout, inside, "gone")


def test_empty_quarantine_lists_nothing(tmp_path: Path) -> None:
    assert list_quarantined(RunLayout(tmp_path)) == ()
