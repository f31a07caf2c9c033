"""The training job's textfile: valid for `promtool check metrics`, and one file per variant
that each training job of the variant replaces (never a file or a label per job)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_tools import check_metrics
from train_data import VARIANT, publish_shard, spec_for

from ringrift_hpc.jobs.train import run_training
from ringrift_hpc.store import RunLayout

pytestmark = pytest.mark.timeout(300)


def test_training_textfile_passes_promtool_and_stays_one_file_per_variant(tmp_path: Path) -> None:
    root = tmp_path / "run"
    publish_shard(root, 0, "t0", games=3, seed=1)
    publish_shard(root, 1, "t0", games=3, seed=2)
    first = run_training(spec_for(root))
    layout = RunLayout(root)
    text = layout.metrics_file(f"train-{VARIANT}").read_text()
    assert f'ringrift_train_step{{variant="{VARIANT}"}} 6' in text
    check_metrics(text)
    run_training(spec_for(root, parent=first.model_id, steps=4))
    assert [p.name for p in layout.metrics_dir.iterdir()] == [f"train-{VARIANT}.prom"]
    text = layout.metrics_file(f"train-{VARIANT}").read_text()
    assert f'ringrift_train_step{{variant="{VARIANT}"}} 4' in text
    check_metrics(text)
