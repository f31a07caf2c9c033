"""Publishing with a manifest written last; readers accept only verified, manifested artifacts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ringrift_hpc.store import (
    CorruptArtifactError,
    NotPublishedError,
    PublishConflictError,
    StoreError,
    atomic_write_json,
    clean_temp_files,
    list_published,
    manifest_path,
    publish_bytes,
    publish_file,
    read_manifest,
    sha256_file,
    temp_path_for,
)


def test_published_artifact_reads_back_with_its_manifest(tmp_path: Path) -> None:
    target = tmp_path / "gen" / "task-0.h5"
    published = publish_bytes(target, b"shard bytes", {"games": 12, "seeds": [1, 2]})
    assert target.read_bytes() == b"shard bytes"
    doc = json.loads(manifest_path(target).read_text())
    assert doc["artifact"] == "task-0.h5"
    assert doc["size"] == len(b"shard bytes")
    assert doc["sha256"] == sha256_file(target)[1]
    assert doc["format_version"] == 1
    assert doc["metadata"] == {"games": 12, "seeds": [1, 2]}
    assert read_manifest(target) == published


def test_publishing_identical_content_again_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    first = publish_bytes(target, b"weights", {"generation": 3, "parent": None})
    manifest_before = manifest_path(target).read_bytes()
    second = publish_bytes(target, b"weights", {"parent": None, "generation": 3})
    assert second == first
    assert manifest_path(target).read_bytes() == manifest_before
    assert sorted(os.listdir(tmp_path)) == ["model.json", "model.pt"]


def test_different_content_under_a_published_name_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "task.jsonl"
    publish_bytes(target, b'{"game": 1}\n')
    with pytest.raises(PublishConflictError, match=r"task\.jsonl is already published with different content"):
        publish_bytes(target, b'{"game": 2}\n')
    assert target.read_bytes() == b'{"game": 1}\n'
    assert sorted(os.listdir(tmp_path)) == ["task.json", "task.jsonl"]


def test_different_metadata_under_a_published_name_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "task.h5"
    publish_bytes(target, b"x", {"generation": 1})
    with pytest.raises(PublishConflictError, match="different metadata"):
        publish_bytes(target, b"x", {"generation": 2})


def test_an_artifact_named_like_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot end in \.json"):
        publish_bytes(tmp_path / "results.json", b"{}")


def test_non_json_metadata_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="metadata is not plain JSON"):
        publish_bytes(tmp_path / "a.h5", b"x", {"loss": float("nan")})
    assert not (tmp_path / "a.h5").exists()


def test_publish_file_moves_a_finished_file_into_place(tmp_path: Path) -> None:
    target = tmp_path / "gen" / "task-1.h5"
    target.parent.mkdir()
    staging = temp_path_for(target)
    staging.write_bytes(b"written by h5py")
    published = publish_file(target, staging, {"rows": 5})
    assert not staging.exists()
    assert target.read_bytes() == b"written by h5py"
    assert published.manifest.metadata == {"rows": 5}
    elsewhere = tmp_path / "scratch.h5"
    elsewhere.write_bytes(b"written by h5py")
    assert publish_file(target, elsewhere, {"rows": 5}) == published
    assert not elsewhere.exists()


def test_an_artifact_without_manifest_does_not_exist_for_readers(tmp_path: Path) -> None:
    (tmp_path / "orphan.h5").write_bytes(b"half a shard")
    with pytest.raises(NotPublishedError, match=r"orphan\.json does not exist"):
        read_manifest(tmp_path / "orphan.h5")
    listing = list_published(tmp_path)
    assert listing.published == ()
    assert listing.unmanifested == (tmp_path / "orphan.h5",)


def test_republishing_over_a_crashed_writers_orphan_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "task.h5"
    target.write_bytes(b"partial")
    publish_bytes(target, b"complete shard")
    assert read_manifest(target).manifest.size == len(b"complete shard")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b"same size?"), "sha256 is"),
        (lambda p: p.write_bytes(b"longer than before"), "size is 18 bytes"),
        (lambda p: p.unlink(), "the artifact is missing"),
        (lambda p: manifest_path(p).write_text("{not json"), "manifest is not valid JSON"),
        (lambda p: manifest_path(p).write_text('{"format": "other"}'), "field 'format'"),
    ],
)
def test_damaged_artifacts_are_rejected_with_the_file_and_the_fix(tmp_path: Path, damage, message: str) -> None:
    target = tmp_path / "task.h5"
    publish_bytes(target, b"same size!")
    damage(target)
    with pytest.raises(CorruptArtifactError, match=message) as caught:
        read_manifest(target)
    assert str(tmp_path) in str(caught.value)
    assert "quarantine" in str(caught.value)
    listing = list_published(tmp_path)
    assert listing.published == ()
    assert [rejected.path.name for rejected in listing.corrupt] == ["task.json"]


def test_manifest_naming_another_artifact_is_rejected(tmp_path: Path) -> None:
    publish_bytes(tmp_path / "a.h5", b"a")
    publish_bytes(tmp_path / "b.h5", b"b")
    os.replace(manifest_path(tmp_path / "a.h5"), manifest_path(tmp_path / "b.h5"))
    listing = list_published(tmp_path)
    assert listing.published == ()
    assert "manifest names artifact 'a.h5', whose manifest would be a.json" in listing.corrupt[0].reason
    with pytest.raises(CorruptArtifactError, match="field 'artifact' is 'a.h5', expected 'b.h5'"):
        read_manifest(tmp_path / "b.h5")


def test_listing_separates_published_corrupt_unmanifested_and_temp(tmp_path: Path) -> None:
    good = publish_bytes(tmp_path / "good.h5", b"good")
    publish_bytes(tmp_path / "bad.h5", b"bad!")
    (tmp_path / "bad.h5").write_bytes(b"evil")
    (tmp_path / "pending.h5").write_bytes(b"no manifest yet")
    leftover = temp_path_for(tmp_path / "crashed.h5")
    leftover.write_bytes(b"interrupted")
    (tmp_path / "subdir").mkdir()
    listing = list_published(tmp_path)
    assert listing.published == (good,)
    assert [r.path.name for r in listing.corrupt] == ["bad.json"]
    assert listing.unmanifested == (tmp_path / "pending.h5",)
    assert listing.temp_files == (leftover,)
    assert list_published(tmp_path / "missing").published == ()


def test_listing_leaves_out_skipped_manifests_without_reading_them(tmp_path: Path) -> None:
    known = publish_bytes(tmp_path / "known.h5", b"read before")
    fresh = publish_bytes(tmp_path / "fresh.h5", b"new")
    manifest_path(known.path).write_text("not even JSON")  # reading it would reject it
    listing = list_published(tmp_path, skip={"known.json"})
    assert listing.published == (fresh,)
    assert listing.corrupt == () and listing.unmanifested == ()


def test_clean_temp_files_removes_only_old_temp_files(tmp_path: Path) -> None:
    publish_bytes(tmp_path / "kept.h5", b"kept")
    old = temp_path_for(tmp_path / "x.h5")
    old.write_bytes(b"old")
    young = temp_path_for(tmp_path / "y.h5")
    young.write_bytes(b"young")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert clean_temp_files(tmp_path, min_age_s=3600) == [old]
    assert young.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["kept.h5", "kept.json"]


def test_atomic_write_json_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    atomic_write_json(target, {"tick": 1})
    atomic_write_json(target, {"tick": 2, "b": [1]})
    assert json.loads(target.read_text()) == {"tick": 2, "b": [1]}
    assert os.listdir(target.parent) == ["state.json"]
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("inf")})
    assert json.loads(target.read_text()) == {"tick": 2, "b": [1]}
    assert os.listdir(target.parent) == ["state.json"]
