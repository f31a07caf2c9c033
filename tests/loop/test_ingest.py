"""Ingest on the login node: a shard is described by its manifest and hashed, never decoded (a
manifest of earlier selfplay, tests/data/golden, ingests to the same record); a manifest without
the describing fields is answered by reading the shard once; shards of another encoder are
quarantined; a training job's report quarantines a shard only when the controller cannot read it
either, and only a shard of the variant's selfplay directories. A model's record carries the
training losses its manifest gives, and only those; a shard's, model's and match file's record
carries the CPU seconds its manifest gives when they are a finite, non-negative number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rating.rating_helpers import pair

from ringrift_hpc.data import shard_store
from ringrift_hpc.data.shards import Shard
from ringrift_hpc.jobs.train import REJECTED_SHARDS
from ringrift_hpc.loop.events import ModelIngested, Quarantined, parse_event, to_record
from ringrift_hpc.loop.ingest import ShardIndex, scan_variant
from ringrift_hpc.rating.match_files import publish_match_file
from ringrift_hpc.rating.participants import Participant, random_player
from ringrift_hpc.store import RunLayout, list_quarantined, manifest_path, publish_bytes

VARIANT = "square8_2p"
GOLDEN = Path(__file__).parents[1] / "data" / "golden" / VARIANT / "selfplay" / "000000"
SHARD = f"variants/{VARIANT}/selfplay/000000/000000.h5"


def _scan(layout: RunLayout, variant: str, ingested: frozenset[str]) -> list[dict[str, Any]]:
    """The journal records of what the controller's ingest finds."""
    return [to_record(event) for event in scan_variant(layout, variant, ingested)]


def _golden_run(root: Path) -> RunLayout:
    layout = RunLayout(root)
    target = layout.selfplay_dir(VARIANT, 0)
    target.mkdir(parents=True)
    for name in ("000000.h5", "000000.json"):
        shutil.copyfile(GOLDEN / name, target / name)
    return layout


def _edit_manifest(layout: RunLayout, change: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
    manifest = manifest_path(layout.selfplay_shard(VARIANT, 0, "000000"))
    doc = json.loads(manifest.read_text())
    doc["metadata"].update(change)
    for key in remove:
        del doc["metadata"][key]
    manifest.write_text(json.dumps(doc))


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    decoded: list[Path] = []
    real = shard_store.read_shard

    def counting(path: Path, **kwargs: Any) -> Shard:
        decoded.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(shard_store, "read_shard", counting)
    return decoded


def test_golden_shard_ingests_from_its_manifest_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _golden_run(tmp_path)
    decoded = _no_decoding(monkeypatch)
    records = _scan(layout, VARIANT, frozenset())
    assert records == [
        {
            "event": "ingested",
            "artifact": "shard",
            "variant": VARIANT,
            "path": SHARD,
            "samples": 61,
            "generation": 0,
            "games": 1,
        }
    ]
    assert decoded == []
    assert _scan(layout, VARIANT, frozenset({SHARD})) == []
    index = ShardIndex()
    for record in records:
        index.apply(parse_event(record))
    (entry,) = index.entries(layout, VARIANT)
    assert (entry.path, entry.generation, entry.samples) == (layout.root / SHARD, 0, 61)
    index.apply(Quarantined(variant=VARIANT, path=SHARD, reason="r"))
    assert index.entries(layout, VARIANT) == ()


def test_manifest_without_the_describing_fields_is_answered_by_reading_the_shard_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _golden_run(tmp_path)
    _edit_manifest(layout, {}, remove=("positions", "encoder_version", "codec_version"))
    decoded = _no_decoding(monkeypatch)
    (record,) = _scan(layout, VARIANT, frozenset())
    assert (record["event"], record["samples"]) == ("ingested", 61)
    assert decoded == [layout.root / SHARD]


def test_shard_of_another_encoder_is_quarantined_by_the_controller(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    _edit_manifest(layout, {"encoder_version": "enc0-old"})
    (record,) = _scan(layout, VARIANT, frozenset())
    assert record["event"] == "quarantined" and record["path"] == SHARD
    assert "encoder_version 'enc0-old'" in record["reason"]
    assert not (layout.root / SHARD).exists() and len(list_quarantined(layout)) == 1


def _model_reporting(layout: RunLayout, *reports: list[str]) -> None:
    weights = layout.model_weights(VARIANT, "ab" * 32)
    weights.parent.mkdir(parents=True, exist_ok=True)
    publish_bytes(weights, b"weights", {"job_key": "k", "generation": 1, REJECTED_SHARDS: list(reports)})


def test_a_reported_shard_that_reads_here_is_kept(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    _model_reporting(layout, [SHARD, "the worker's copy was damaged"])
    records = _scan(layout, VARIANT, frozenset({SHARD}))
    assert [r["event"] for r in records] == ["ingested"] and records[0]["artifact"] == "model"
    assert (layout.root / SHARD).exists() and list_quarantined(layout) == ()


def test_reports_outside_the_variants_shards_are_ignored(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    (layout.root / "run.yaml").write_text("kept")
    elsewhere = ["run.yaml", "../outside.h5", f"variants/{VARIANT}/models/x.h5"]
    _model_reporting(layout, *([name, "no"] for name in elsewhere))
    records = _scan(layout, VARIANT, frozenset({SHARD}))
    assert [r["event"] for r in records] == ["ingested"]
    assert (layout.root / "run.yaml").exists() and list_quarantined(layout) == ()


def test_a_reported_shard_the_controller_cannot_read_either_is_quarantined(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    _edit_manifest(layout, {"positions": 60})  # the count ingest took, which the content contradicts
    _model_reporting(layout, [SHARD, "holds 61 samples but its manifest says 60"])
    records = _scan(layout, VARIANT, frozenset({SHARD}))
    assert [r["event"] for r in records] == ["quarantined", "ingested"]
    assert records[0]["path"] == SHARD and "holds 61 samples but its manifest says 60" in records[0]["reason"]
    assert not (layout.root / SHARD).exists()


def test_a_models_record_carries_the_losses_its_manifest_gives(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    weights = layout.model_weights(VARIANT, "ab" * 32)
    weights.parent.mkdir(parents=True)
    losses = {"train_policy_loss": 2.5, "train_value_loss": 0.25, "validation_policy_loss": None}
    publish_bytes(
        weights, b"weights", {"job_key": "k", "generation": 1, **losses, "validation_value_loss": "x"}
    )
    (record,) = _scan(layout, VARIANT, frozenset())
    assert {k: v for k, v in record.items() if k.endswith("_loss")} == {
        "train_policy_loss": 2.5,
        "train_value_loss": 0.25,
    }
    model = parse_event(record)
    assert isinstance(model, ModelIngested) and model.validation_policy_loss is None


def test_a_model_without_losses_has_no_loss_keys(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    _model_reporting(layout)
    (record,) = _scan(layout, VARIANT, frozenset({SHARD}))
    assert not [k for k in record if k.endswith("_loss")]


@pytest.mark.parametrize(
    ("value", "carried"),
    [(12.5, 12.5), (3, 3.0), (-1.0, None), (float("nan"), None), (True, None), ("7", None)],
)
def test_a_shards_record_carries_the_cpu_seconds_its_manifest_gives(
    tmp_path: Path, value: object, carried: float | None
) -> None:
    layout = _golden_run(tmp_path)
    _edit_manifest(layout, {"cpu_seconds": value})
    (record,) = _scan(layout, VARIANT, frozenset())
    assert record.get("cpu_seconds") == carried and ("cpu_seconds" in record) == (carried is not None)


def test_model_and_match_records_carry_their_cpu_seconds(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    weights = layout.model_weights(VARIANT, "ab" * 32)
    weights.parent.mkdir(parents=True)
    publish_bytes(weights, b"weights", {"job_key": "k", "generation": 1, "cpu_seconds": 4.25})
    group = pair(VARIANT, random_player(VARIANT), Participant(variant=VARIANT, kind="heuristic"), (1, 0))
    publish_match_file(layout, VARIANT, "tournament-0001", "000000", [group], cpu_seconds=2.0)
    publish_match_file(layout, VARIANT, "eval-g0001-ab", "000000", [group])  # as before jobs measured
    records = _scan(layout, VARIANT, frozenset())
    assert [(r["artifact"], r.get("cpu_seconds")) for r in records] == [
        ("model", 4.25),
        ("match", None),
        ("match", 2.0),
    ]
