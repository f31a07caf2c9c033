"""The artifact index peers exchange, path validation, and installing a copied artifact."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from ringrift_hpc.p2p.artifacts import (
    ArtifactConflictError,
    ArtifactEntry,
    artifact_index,
    blob_path,
    check_relpath,
    clean_stale_blobs,
    install_artifact,
    missing_entries,
)
from ringrift_hpc.store import CorruptArtifactError, RunLayout, publish_bytes, quarantine, read_manifest
from ringrift_hpc.store.atomic import temp_path_for

VARIANT = "square8_2p"
MODEL = hashlib.sha256(b"weights").hexdigest()


def _publish_sample(layout: RunLayout) -> None:
    publish_bytes(layout.model_weights(VARIANT, MODEL), b"weights", {"generation": 1})
    publish_bytes(layout.selfplay_shard(VARIANT, 3, "task-0"), b"shard", {"games": 4})
    publish_bytes(layout.match_file(VARIANT, "eval-1", "task-0"), b'{"game": 1}\n')


def _stage(layout: RunLayout, data: bytes) -> Path:
    blob = blob_path(layout, hashlib.sha256(data).hexdigest())
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    return blob


def test_index_lists_every_published_artifact_sorted_with_its_manifest_text(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    _publish_sample(layout)
    entries = artifact_index(layout)
    assert [entry.artifact for entry in entries] == [
        f"variants/{VARIANT}/matches/eval-1/task-0.jsonl",
        f"variants/{VARIANT}/models/{MODEL}.pt",
        f"variants/{VARIANT}/selfplay/000003/task-0.h5",
    ]
    model = entries[1]
    assert model.path == f"variants/{VARIANT}/models/{MODEL}.json"
    assert model.sha256 == MODEL and model.size == len(b"weights")
    assert model.manifest == layout.model_manifest(VARIANT, MODEL).read_text()
    assert [ArtifactEntry.from_json(entry.to_json()) for entry in entries] == entries


def test_index_skips_temp_files_unmanifested_and_quarantined_artifacts(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    _publish_sample(layout)
    shard = layout.selfplay_shard(VARIANT, 3, "task-0")
    temp_path_for(shard).write_bytes(b"half written")
    (shard.parent / "task-9.h5").write_bytes(b"no manifest yet")
    quarantine(layout, layout.match_file(VARIANT, "eval-1", "task-0"), "test")
    orphan = layout.selfplay_shard(VARIANT, 4, "task-1")
    publish_bytes(orphan, b"gone")
    orphan.unlink()  # manifest without artifact: not published
    assert [entry.artifact for entry in artifact_index(layout)] == [
        f"variants/{VARIANT}/models/{MODEL}.pt",
        f"variants/{VARIANT}/selfplay/000003/task-0.h5",
    ]


def test_index_of_an_empty_run_is_empty(tmp_path: Path) -> None:
    assert artifact_index(RunLayout(tmp_path / "nothing")) == []


@pytest.mark.parametrize(
    "text",
    [
        "/etc/passwd",
        "variants/../state.json",
        "variants/square8_2p/./models/x.pt",
        "variants//x",
        "variants\\square8_2p\\x",
        "variants/x\x00y",
        "state.json",
        "",
        "variants",
    ],
)
def test_unsafe_relative_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        check_relpath(text)


def test_check_relpath_accepts_a_plain_path_under_variants() -> None:
    assert check_relpath("variants/square8_2p/models/a.pt").parts[-1] == "a.pt"


def _entry_doc(tmp_path: Path) -> dict[str, object]:
    layout = RunLayout(tmp_path / "src")
    _publish_sample(layout)
    return artifact_index(layout)[1].to_json()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("path", "variants/square8_2p/models/../../../state.json", r"'\.\.'"),
        ("artifact", "variants/square8_2p/best.json", "does not belong|not an artifact"),
        ("path", "variants/square8_2p/best.json", "not an artifact path"),
        ("path", "variants/Bad/models/x.json", "variant"),
        ("sha256", "A" * 64, "sha256"),
        ("size", -1, "size"),
        ("size", True, "size"),
        ("manifest", "{}", "format"),
        ("manifest", 3, "manifest"),
    ],
)
def test_entry_from_json_refuses_bad_fields(tmp_path: Path, field: str, value: object, message: str) -> None:
    doc = _entry_doc(tmp_path)
    doc[field] = value
    with pytest.raises(ValueError, match=message):
        ArtifactEntry.from_json(doc)


def test_entry_whose_manifest_disagrees_with_it_is_refused(tmp_path: Path) -> None:
    doc = _entry_doc(tmp_path)
    doc["size"] = 999
    with pytest.raises(ValueError, match="its manifest names"):
        ArtifactEntry.from_json(doc)


def test_install_puts_artifact_and_identical_manifest_in_place(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entries = artifact_index(src)
    assert missing_entries(artifact_index(dst), entries) == entries
    for entry in entries:
        blob = _stage(dst, (src.root / entry.artifact).read_bytes())
        assert install_artifact(dst, entry, blob) is True
        assert not blob.exists()
    assert artifact_index(dst) == entries
    assert missing_entries(artifact_index(dst), entries) == []
    assert read_manifest(dst.model_weights(VARIANT, MODEL)).manifest.metadata == {"generation": 1}


def test_installing_the_identical_artifact_again_returns_false(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    _publish_sample(dst)  # published independently: other created_at, same identity
    entry = artifact_index(src)[1]
    assert missing_entries(artifact_index(dst), [entry]) == []
    blob = _stage(dst, b"weights")
    assert install_artifact(dst, entry, blob) is False
    assert blob.exists()


def test_tampered_blob_is_refused_and_nothing_installed(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entry = artifact_index(src)[1]
    blob = blob_path(dst, entry.sha256)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weightz")  # same size, other bytes
    with pytest.raises(CorruptArtifactError, match="sha256"):
        install_artifact(dst, entry, blob)
    assert not (dst.root / entry.artifact).exists()
    assert not (dst.root / entry.path).exists()
    assert artifact_index(dst) == []


def test_manifest_that_names_another_file_is_refused_as_corrupt(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entry = artifact_index(src)[1]
    # Built without validation, as a bug elsewhere might: install still checks the entry.
    forged = ArtifactEntry.model_construct(
        path=entry.path,
        artifact=entry.artifact,
        sha256=entry.sha256,
        size=entry.size,
        manifest=entry.manifest.replace(f"{MODEL}.pt", "other.pt"),
    )
    with pytest.raises(CorruptArtifactError, match="its manifest names 'other.pt'"):
        install_artifact(dst, forged, _stage(dst, b"weights"))
    assert not dst.models_dir(VARIANT).exists()


def test_path_traversal_in_an_entry_is_refused_before_any_write(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entry = artifact_index(src)[1]
    evil = ArtifactEntry.model_construct(
        path="variants/square8_2p/models/../../../../escape.json",
        artifact="variants/square8_2p/models/../../../../escape.pt",
        sha256=entry.sha256,
        size=entry.size,
        manifest=entry.manifest,
    )
    with pytest.raises(ValueError, match=r"'\.\.'"):
        install_artifact(dst, evil, _stage(dst, b"weights"))
    assert not (tmp_path / "escape.pt").exists()
    assert not dst.variants_dir.exists()


def test_different_artifact_published_at_the_path_is_a_conflict_and_kept(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    shard = dst.selfplay_shard(VARIANT, 3, "task-0")
    publish_bytes(shard, b"other shard", {"games": 4})
    entry = artifact_index(src)[2]
    assert missing_entries(artifact_index(dst), [entry]) == [entry]
    with pytest.raises(ArtifactConflictError, match="already published"):
        install_artifact(dst, entry, _stage(dst, b"shard"))
    assert shard.read_bytes() == b"other shard"


def test_unmanifested_leftover_is_replaced_by_the_install(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entry = artifact_index(src)[2]
    leftover = dst.root / entry.artifact
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"crashed writer's half")
    assert install_artifact(dst, entry, _stage(dst, b"shard")) is True
    assert read_manifest(leftover).path.read_bytes() == b"shard"


def test_missing_blob_is_reported_with_the_fix(tmp_path: Path) -> None:
    src, dst = RunLayout(tmp_path / "src"), RunLayout(tmp_path / "dst")
    _publish_sample(src)
    entry = artifact_index(src)[1]
    with pytest.raises(FileNotFoundError, match="upload it first"):
        install_artifact(dst, entry, blob_path(dst, entry.sha256))


def test_blob_path_refuses_a_name_that_is_not_a_digest(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    assert blob_path(layout, MODEL) == tmp_path / "p2p" / "blobs" / MODEL
    for bad in ("../x", MODEL.upper(), MODEL[:-1]):
        with pytest.raises(ValueError, match="not a sha256 digest"):
            blob_path(layout, bad)


def test_index_does_not_follow_a_symlinked_artifact_directory(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    _publish_sample(layout)
    outside = tmp_path / "outside"
    shutil.copytree(layout.selfplay_dir(VARIANT, 3), outside)
    os.symlink(outside, layout.selfplay_dir(VARIANT, 4))
    assert [entry.artifact for entry in artifact_index(layout)][-1].endswith("000003/task-0.h5")


def test_stale_staged_blobs_are_cleaned_and_young_ones_kept(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    old, young = blob_path(layout, "a" * 64), blob_path(layout, "b" * 64)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"never installed")
    young.write_bytes(b"upload in flight")
    os.utime(old, (1000.0, 1000.0))
    os.utime(young, (4000.0, 4000.0))
    removed = clean_stale_blobs(layout, min_age_s=3600, clock=lambda: 4700.0)
    assert removed == [old]
    assert young.exists() and not old.exists()
    assert clean_stale_blobs(RunLayout(tmp_path / "empty"), min_age_s=0) == []
