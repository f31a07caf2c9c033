"""The replay window: sub-linear size, newest shards first, versions never mixed, bad shards
rejected and reported (never moved by a job), the window the spec names is the one pinned, and
the window's samples loaded under a memory cap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from train_data import VARIANT, publish_shard, spec_for

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.config.learning import ReplayWindow
from ringrift_hpc.data.dataset import load_window
from ringrift_hpc.data.shards import read_shard
from ringrift_hpc.data.shard_store import ShardEntry
from ringrift_hpc.jobs.replay_window import (
    ReplayWindowError,
    Window,
    check_versions,
    choose_window,
    published_shards,
    select_window,
    window_size,
)
from ringrift_hpc.jobs.train import pin_window, run_training
from ringrift_hpc.store import RunLayout, list_quarantined

WINDOW = ReplayWindow(min_samples=1000, max_samples=5000, exponent=0.5, growth=0.4)


def test_window_holds_everything_up_to_min_samples() -> None:
    assert window_size(0, WINDOW) == 0
    assert window_size(1000, WINDOW) == 1000


def test_window_follows_the_katago_formula_then_the_cap() -> None:
    # 1000 * (1 + 0.4 * ((9000 / 1000) ** 0.5 - 1) / 0.5) = 1000 * (1 + 0.8 * 2)
    assert window_size(9000, WINDOW) == 2600
    assert window_size(10**9, WINDOW) == 5000


@given(st.integers(1, 10**8), st.integers(1, 10**6))
def test_window_grows_but_never_faster_than_the_data(total: int, more: int) -> None:
    small, large = window_size(total, WINDOW), window_size(total + more, WINDOW)
    assert small <= large <= total + more
    assert large - small <= more


def entry(generation: int, task: str, samples: int, codec: str = "c1") -> ShardEntry:
    return ShardEntry(Path(f"/run/{generation:06d}/{task}.h5"), generation, samples, "e1", codec)


def test_newest_shards_cover_the_window() -> None:
    shards = (entry(0, "a", 50), entry(2, "a", 30), entry(1, "b", 40), entry(1, "a", 40), entry(2, "b", 30))
    chosen = select_window(shards, 101)
    assert [(s.generation, s.path.stem) for s in chosen] == [(2, "b"), (2, "a"), (1, "b"), (1, "a")]
    assert select_window(shards, 60) == chosen[:2]
    assert select_window(shards, 100) == chosen[:3]
    assert select_window(shards, 0) == ()


def test_other_codec_in_the_window_is_refused_by_name() -> None:
    shards = (entry(1, "a", 10), entry(1, "b", 10, codec="c0"))
    check_versions(shards[:1], encoder_version="e1", codec_version="c1")
    with pytest.raises(
        ReplayWindowError, match=r"/run/000001/b.h5: encoder_version 'e1', codec_version 'c0'"
    ):
        check_versions(shards, encoder_version="e1", codec_version="c1")


def test_training_on_data_of_another_codec_is_refused(tmp_path: Path) -> None:
    publish_shard(tmp_path, 0, "old", metadata={"codec_version": "codec-from-last-year"})
    publish_shard(tmp_path, 1, "new")
    spec = spec_for(tmp_path, steps=1)
    with pytest.raises(ReplayWindowError, match=r"000000/old.h5: encoder_version .*'codec-from-last-year'"):
        run_training(spec)


def test_corrupt_and_mislabelled_shards_are_rejected_and_left_in_place(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    good = publish_shard(tmp_path, 0, "good")
    flipped = publish_shard(tmp_path, 0, "flipped")
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    unlabelled = publish_shard(tmp_path, 1, "unlabelled", metadata={"positions": None})
    scan = published_shards(layout, VARIANT)
    assert [s.path for s in scan.shards] == [good]
    assert len(scan.rejected) == 2
    assert any("flipped" in name and "sha256" in reason for name, reason in scan.rejected)
    assert any(name.endswith("unlabelled.h5") and "'positions' is None" in why for name, why in scan.rejected)
    assert flipped.exists() and unlabelled.exists()  # only the controller quarantines
    assert list_quarantined(layout) == ()


def test_loading_keeps_a_uniform_subsample_under_the_cap(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    for generation in range(3):
        publish_shard(tmp_path, generation, "t", games=2, seed=generation)
    shards = [(entry.path, entry.samples) for entry in published_shards(layout, VARIANT).shards]
    total = sum(n for _, n in shards)
    full = load_window(layout, shards, variant=VARIANT, cap=total, seed=5)
    assert full.data.samples == total and len(full.provenance) == 3
    capped = load_window(layout, shards, variant=VARIANT, cap=total // 2, seed=5)
    assert capped.data.samples == total // 2
    assert sum(n for _, n in capped.provenance) == total // 2
    assert all(n > 0 for _, n in capped.provenance)  # every shard contributes
    again = load_window(layout, shards, variant=VARIANT, cap=total // 2, seed=5)
    assert np.array_equal(again.data.planes, capped.data.planes)


def test_shard_damaged_after_the_window_was_chosen_is_rejected_while_loading(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    kept = publish_shard(tmp_path, 0, "kept")
    damaged = publish_shard(tmp_path, 0, "damaged")
    shards = [(entry.path, entry.samples) for entry in published_shards(layout, VARIANT).shards]
    damaged.write_bytes(damaged.read_bytes()[:-100])
    loaded = load_window(layout, shards, variant=VARIANT, cap=10**6, seed=0)
    assert [name for name, _ in loaded.provenance] == ["000000/kept.h5"]
    ((name, reason),) = loaded.rejected
    assert name == "variants/square8_2p/selfplay/000000/damaged.h5" and "size" in reason
    assert kept.exists() and damaged.exists() and list_quarantined(layout) == ()
    # A second reader of the same window (another DDP rank, a resumed job) skips it the same way.
    again = load_window(layout, shards, variant=VARIANT, cap=10**6, seed=0)
    assert np.array_equal(again.data.values, loaded.data.values) and again.rejected == loaded.rejected
    # Once the controller quarantined it, a reader reports it missing.
    damaged.unlink()
    gone = load_window(layout, shards, variant=VARIANT, cap=10**6, seed=0)
    assert gone.missing == (name,) and gone.rejected == ()
    assert np.array_equal(gone.data.values, loaded.data.values)


def test_a_job_keeps_its_window_when_new_shards_arrive(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    publish_shard(tmp_path, 0, "t")
    spec = spec_for(tmp_path, steps=1)
    first = pin_window(layout, spec, tmp_path / "window.json")
    publish_shard(tmp_path, 1, "t")
    assert pin_window(layout, spec, tmp_path / "window.json") == first
    assert len(pin_window(layout, spec, tmp_path / "other.json").shards) == 2


def test_loaded_samples_are_the_shards_samples(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    for generation in range(2):
        publish_shard(tmp_path, generation, "t", games=2, seed=generation)
    entries = published_shards(layout, VARIANT).shards
    capped = load_window(layout, [(e.path, e.samples) for e in entries], variant=VARIANT, cap=20, seed=2)
    shards = [
        read_shard(e.path, expect_encoder=ENCODER_VERSION, expect_codec=CODEC_VERSION, expect_variant=VARIANT)
        for e in entries
    ]
    # Every loaded sample is a sample of the shard its key names, with its own target and legal moves.
    data = capped.data

    def csr_row(owner: object, prefix: str, column: str, row: int) -> np.ndarray:
        offsets = getattr(owner, f"{prefix}_offsets")
        return np.asarray(getattr(owner, f"{prefix}_{column}")[offsets[row] : offsets[row + 1]])

    columns = (("policy", "indices"), ("policy", "probs"), ("legal", "indices"))
    for row in range(data.samples):
        shard = shards[int(data.game_keys[row] >> 32)]
        game = int(data.game_keys[row] & 0xFFFFFFFF)
        assert any(
            np.array_equal(shard.planes[original], data.planes[row])
            and np.array_equal(shard.values[original], data.values[row])
            and all(
                np.array_equal(csr_row(shard, prefix, column, original), csr_row(data, prefix, column, row))
                for prefix, column in columns
            )
            for original in np.flatnonzero(shard.game == game).tolist()
        )


def test_the_window_the_spec_names_is_pinned_and_nothing_else(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    named = publish_shard(tmp_path, 0, "named")
    publish_shard(tmp_path, 1, "unnamed")  # newer, published, but not in the controller's record
    samples = published_shards(layout, VARIANT).shards[0].samples
    window = Window((("variants/square8_2p/selfplay/000000/named.h5", samples),), samples, samples)
    spec = spec_for(tmp_path, steps=1).replace(window=window.to_doc())
    pinned = pin_window(layout, spec, tmp_path / "window.json")
    assert pinned.shards == ((named, samples),) and pinned.total_samples == samples
    assert json.loads((tmp_path / "window.json").read_text())["shards"] == [[window.shards[0][0], samples]]


def test_a_spec_window_outside_the_variants_shards_is_refused(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    publish_shard(tmp_path, 0, "named")
    window = Window((("variants/square8_2p/models/x.h5", 5),), 5, 5)
    spec = spec_for(tmp_path, steps=1).replace(window=window.to_doc())
    with pytest.raises(ReplayWindowError, match=r"'variants/square8_2p/models/x\.h5' is not a shard of"):
        pin_window(layout, spec, tmp_path / "window.json")


def test_window_documents_round_trip_and_bad_ones_are_refused_by_field(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    shards = (
        ShardEntry(layout.selfplay_shard(VARIANT, 0, "a"), 0, 700, "e", "c"),
        ShardEntry(layout.selfplay_shard(VARIANT, 1, "a"), 1, 500, "e", "c"),
    )
    window = choose_window(layout, shards, WINDOW)
    assert window.shards == (
        ("variants/square8_2p/selfplay/000001/a.h5", 500),
        ("variants/square8_2p/selfplay/000000/a.h5", 700),
    )
    assert (window.total_samples, window.window_samples) == (1200, window_size(1200, WINDOW))
    assert Window.from_doc(json.loads(json.dumps(window.to_doc())), source="s") == window
    with pytest.raises(ReplayWindowError, match=r"spec\.json: field 'shards' is \[\['a', -1\]\]"):
        Window.from_doc({**window.to_doc(), "shards": [["a", -1]]}, source="spec.json")
    with pytest.raises(ReplayWindowError, match=r"spec\.json: field 'total_samples' is None"):
        Window.from_doc({**window.to_doc(), "total_samples": None}, source="spec.json")
