"""Selfplay shards: write/read round trip, and every kind of damage refused by name.

Checks that a shard written game by game reads back bit-exactly; that each validation rule
(attributes, versions, offsets, probabilities, values, legal targets, ranks) names its field;
that a truncated file or a flipped data byte (Fletcher-32) is refused; that the run-level
loader rejects a shard whose size or sha256 no longer match its manifest, or whose content
fails validation, with the reason, and moves nothing (only the controller quarantines); and that
a shard and manifest written by earlier selfplay (tests/data/golden) still load and describe.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from ringrift_hpc.ai.codec import CODEC_VERSION, ActionCodec
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.ai.players import RandomPlayer
from ringrift_hpc.data.shard_store import ShardRejectedError, describe_shard, list_shards, load_shard
from ringrift_hpc.data.shards import GameRecord, ShardFormatError, ShardHeader, ShardWriter, read_shard
from ringrift_hpc.jobs.selfplay_games import BootstrapMover, play_selfplay
from ringrift_hpc.rules import initial_state
from ringrift_hpc.store import RunLayout, list_quarantined, manifest_path, publish_file, temp_path_for

VARIANT = "square8_2p"


def _games(count: int, num_players: int = 2) -> list[GameRecord]:
    records: list[GameRecord] = []
    play_selfplay(
        BootstrapMover(RandomPlayer(), 0),
        lambda: initial_state("square8", num_players),
        list(range(100, 100 + count)),
        ActionCodec.for_board("square8", num_players),
        concurrent=count,
        on_game=records.append,
        hard_stop=lambda: None,
        soft_stop=lambda: False,
    )
    return records


@pytest.fixture(scope="module")
def games() -> list[GameRecord]:
    return _games(3)


def _header() -> ShardHeader:
    return ShardHeader(VARIANT, "square8", 2, "none", 0, "000007", 42)


def _write(path: Path, games: list[GameRecord]) -> Path:
    writer = ShardWriter(path, _header())
    for game in games:
        writer.add_game(game)
    return writer.finish()


def _read(path: Path):  # type: ignore[no-untyped-def]
    return read_shard(
        path, expect_encoder=ENCODER_VERSION, expect_codec=CODEC_VERSION, expect_variant=VARIANT
    )


def test_round_trip_is_exact(tmp_path: Path, games: list[GameRecord]) -> None:
    shard = _read(_write(tmp_path / "s.h5", games))
    assert shard.header == _header()
    assert shard.games == 3 and shard.samples == sum(g.samples for g in games)
    np.testing.assert_array_equal(shard.planes, np.concatenate([g.planes for g in games]).astype(np.float16))
    np.testing.assert_array_equal(shard.values, np.concatenate([g.values for g in games]))
    np.testing.assert_array_equal(shard.game, np.repeat(np.arange(3), [g.samples for g in games]))
    np.testing.assert_array_equal(shard.game_seeds, [g.seed for g in games])
    np.testing.assert_array_equal(shard.game_ranks, np.stack([g.ranks for g in games]))
    assert shard.header.format_version == 2
    np.testing.assert_array_equal(shard.ownership, np.concatenate([g.ownership for g in games]))
    np.testing.assert_array_equal(shard.score, np.concatenate([g.score for g in games]))
    assert shard.ownership is not None and shard.ownership.any()  # random games collapse territory
    flat = [p for g in games for p in g.policy_indices]
    legal = [p for g in games for p in g.legal_indices]
    for i in (0, shard.samples // 2, shard.samples - 1):
        lo, hi = shard.policy_offsets[i], shard.policy_offsets[i + 1]
        np.testing.assert_array_equal(shard.policy_indices[lo:hi], flat[i])
        lo, hi = shard.legal_offsets[i], shard.legal_offsets[i + 1]
        np.testing.assert_array_equal(shard.legal_indices[lo:hi], legal[i])


def _set_attr(name: str, value: object) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f.attrs[name] = value

    return edit


def _edit(name: str, change: Callable[[np.ndarray], None]) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        data = f[name][()]
        change(data)
        f[name][...] = data

    return edit


def _scale_first(data: np.ndarray) -> None:
    data[0] *= 0.5


def _values_out_of_range(data: np.ndarray) -> None:
    data[0, 0] = 1.5


def _offsets_backwards(data: np.ndarray) -> None:
    data[2] = data[1] - 1


def _illegal_target(f: h5py.File) -> None:
    legal = f["legal_indices"][: f["legal_offsets"][1]]
    illegal = np.setdiff1d(np.arange(ActionCodec.for_board("square8", 2).size), legal)[0]
    f["policy_indices"][0] = illegal


def _bad_rank(data: np.ndarray) -> None:
    data[0, 0] = 3


def _bad_owner(data: np.ndarray) -> None:
    data[0, 0, 0] = 3  # 2 players: labels 0, 1, 2


def _score_out_of_range(data: np.ndarray) -> None:
    data[0, 1, 0] = 1.5


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_set_attr("format_version", 3), "format_version"),
        (_set_attr("encoder_version", "enc0-000000000000"), "encoder_version"),
        (_set_attr("codec_version", "codec0-000000000000"), "codec_version"),
        (_set_attr("variant", "square8_3p"), "variant"),
        (_set_attr("policy_size", 5), "policy_size"),
        (_edit("policy_probs", _scale_first), "policy_probs"),
        (_edit("values", _values_out_of_range), "values"),
        (_edit("policy_offsets", _offsets_backwards), "policy_offsets"),
        (_illegal_target, "policy_indices"),
        (_edit("game_ranks", _bad_rank), "game_ranks"),
        (_edit("ownership", _bad_owner), "ownership"),
        (_edit("score", _score_out_of_range), "score"),
    ],
)
def test_each_rule_names_its_field(
    tmp_path: Path, games: list[GameRecord], edit: Callable[[h5py.File], None], field: str
) -> None:
    path = _write(tmp_path / "s.h5", games)
    with h5py.File(path, "r+", locking=False) as f:
        edit(f)
    with pytest.raises(ShardFormatError) as caught:
        _read(path)
    assert caught.value.field == field
    message = str(caught.value)
    assert str(path) in message and ("quarantine" in message or "regenerate" in message)


def test_missing_dataset_is_named(tmp_path: Path, games: list[GameRecord]) -> None:
    path = _write(tmp_path / "s.h5", games)
    with h5py.File(path, "r+", locking=False) as f:
        del f["legal_indices"]
    with pytest.raises(ShardFormatError, match="legal_indices"):
        _read(path)


def test_version_2_shard_without_auxiliary_targets_is_refused(
    tmp_path: Path, games: list[GameRecord]
) -> None:
    path = _write(tmp_path / "s.h5", games)
    with h5py.File(path, "r+", locking=False) as f:
        del f["score"]
    with pytest.raises(ShardFormatError) as caught:
        _read(path)
    assert caught.value.field == "score"


def test_version_1_shard_reads_without_auxiliary_targets(tmp_path: Path, games: list[GameRecord]) -> None:
    """A shard as version 1 wrote it: the same datasets less the auxiliary ones."""
    path = _write(tmp_path / "s.h5", games)
    with h5py.File(path, "r+", locking=False) as f:
        f.attrs["format_version"] = 1
        del f["ownership"], f["score"]
    shard = _read(path)
    assert shard.header.format_version == 1 and shard.ownership is None and shard.score is None
    np.testing.assert_array_equal(shard.values, np.concatenate([g.values for g in games]))


def test_truncated_file_is_refused(tmp_path: Path, games: list[GameRecord]) -> None:
    path = _write(tmp_path / "s.h5", games)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardFormatError) as caught:
        _read(path)
    assert caught.value.field in ("file", "planes", "scalars", "values")


def test_flipped_data_byte_fails_its_checksum(tmp_path: Path, games: list[GameRecord]) -> None:
    path = _write(tmp_path / "s.h5", games)
    with h5py.File(path, "r", locking=False) as f:
        offset = f["scalars"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 40] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ShardFormatError) as caught:
        _read(path)
    assert caught.value.field == "scalars"


def test_game_record_of_wrong_shape_is_refused(tmp_path: Path, games: list[GameRecord]) -> None:
    writer = ShardWriter(tmp_path / "s.h5", _header())
    bad = GameRecord(**{**games[0].__dict__, "values": games[0].values[:, :1]})
    with pytest.raises(ValueError, match="disagree"):
        writer.add_game(bad)
    bad = GameRecord(**{**games[0].__dict__, "score": games[0].score[:, :1]})
    with pytest.raises(ValueError, match="auxiliary"):
        writer.add_game(bad)
    writer.abort()
    assert not (tmp_path / "s.h5").exists()


def _publish(layout: RunLayout, games: list[GameRecord], task: str) -> Path:
    shard = layout.selfplay_shard(VARIANT, 0, task)
    shard.parent.mkdir(parents=True, exist_ok=True)
    return publish_file(shard, _write(temp_path_for(shard), games), {"games": len(games)}).path


def test_truncated_published_shard_is_rejected_and_left_in_place(
    tmp_path: Path, games: list[GameRecord]
) -> None:
    layout = RunLayout(tmp_path)
    good = _publish(layout, games, "000000")
    bad = _publish(layout, games, "000001")
    with bad.open("r+b") as f:
        f.truncate(bad.stat().st_size - 100)
    listing = list_shards(layout, VARIANT, 0)
    assert [p.path for p in listing.shards] == [good]
    (rejected,) = listing.rejected
    assert rejected.path == bad.with_suffix(".json")
    assert "size" in rejected.reason and "quarantine" in rejected.reason
    assert bad.exists() and list_quarantined(layout) == ()  # only the controller moves files
    assert load_shard(good, variant=VARIANT).games == 3


def test_invalid_content_is_rejected_on_load(tmp_path: Path, games: list[GameRecord]) -> None:
    layout = RunLayout(tmp_path)
    shard = layout.selfplay_shard(VARIANT, 0, "000002")
    shard.parent.mkdir(parents=True)
    temp = _write(temp_path_for(shard), games)
    with h5py.File(temp, "r+", locking=False) as f:
        f["values"][0, 0] = 7.0
    publish_file(shard, temp, {})  # a writer bug, faithfully published: the manifest verifies
    with pytest.raises(ShardRejectedError) as caught:
        load_shard(shard, variant=VARIANT)
    assert caught.value.path == shard
    assert "'values'" in caught.value.reason and str(shard) in caught.value.reason
    assert shard.exists() and list_quarantined(layout) == ()


GOLDEN = Path(__file__).parent / "golden" / VARIANT / "selfplay" / "000000"


def _golden_run(tmp_path: Path) -> RunLayout:
    """A run holding the shard and manifest that selfplay wrote before manifests described shards
    for ingest (1 random game of square8_2p, task 000000, generation 0)."""
    layout = RunLayout(tmp_path)
    target = layout.selfplay_dir(VARIANT, 0)
    target.mkdir(parents=True)
    for name in ("000000.h5", "000000.json"):
        shutil.copyfile(GOLDEN / name, target / name)
    return layout


def test_golden_shard_and_manifest_of_the_earlier_format_still_load(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    (published,) = list_shards(layout, VARIANT, 0).shards
    shard = load_shard(published.path, variant=VARIANT)
    assert (shard.samples, shard.games, shard.header.model_id, shard.header.run_seed) == (61, 1, "none", 7)
    assert shard.header.format_version == 1 and shard.ownership is None and shard.score is None
    entry = describe_shard(published, VARIANT)
    assert (entry.generation, entry.samples, entry.name) == (0, 61, "000000/000000.h5")
    assert (entry.encoder_version, entry.codec_version) == (ENCODER_VERSION, CODEC_VERSION)


def test_manifest_without_the_describing_fields_is_answered_from_the_shard(tmp_path: Path) -> None:
    layout = _golden_run(tmp_path)
    manifest = manifest_path(layout.selfplay_shard(VARIANT, 0, "000000"))
    doc = json.loads(manifest.read_text())
    for key in ("positions", "encoder_version", "codec_version", "generation", "variant"):
        del doc["metadata"][key]
    manifest.write_text(json.dumps(doc))
    (published,) = list_shards(layout, VARIANT, 0).shards
    entry = describe_shard(published, VARIANT)
    assert (entry.generation, entry.samples) == (0, 61)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"positions": "61"}, "'positions' is '61', expected a int"),
        ({"positions": -1}, "'positions' is negative"),
        ({"generation": 3}, "disagree with the directory"),
        ({"variant": "hex8_2p"}, "disagree with the directory"),
    ],
)
def test_manifest_that_contradicts_its_shard_is_rejected_by_name(
    tmp_path: Path, changes: dict[str, object], words: str
) -> None:
    layout = _golden_run(tmp_path)
    manifest = manifest_path(layout.selfplay_shard(VARIANT, 0, "000000"))
    doc = json.loads(manifest.read_text())
    doc["metadata"].update(changes)
    manifest.write_text(json.dumps(doc))
    (published,) = list_shards(layout, VARIANT, 0).shards
    with pytest.raises(ShardRejectedError, match=words) as caught:
        describe_shard(published, VARIANT)
    assert str(manifest) in caught.value.reason and "re-run its selfplay task" in caught.value.reason
