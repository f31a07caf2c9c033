"""The shipped configs load, say what they promise, and freeze to YAML that loads back equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.config import Config, PromotionSection, Variant, dump_config, load_config
from ringrift_hpc.config.gate_file import load_gate_file

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SHIPPED = ["unified_loop.yaml", "unified_loop.slurm.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads_and_round_trips(name: str, tmp_path: Path) -> None:
    config = load_config(CONFIG_DIR / name)
    frozen = tmp_path / "run.yaml"
    frozen.write_text(dump_config(config), encoding="utf-8")
    assert load_config(frozen) == config


def test_local_default_runs_on_a_laptop() -> None:
    config = load_config(CONFIG_DIR / "unified_loop.yaml")
    assert config.executor == "local"
    assert config.run.variants == (Variant(board="square8", players=2),)
    assert (config.selfplay.device, config.training.device, config.evaluation.device) == ("cpu", "cpu", "cpu")
    assert config.local.max_parallel_jobs * config.local.threads_per_job <= 2
    assert (
        config.network.channels * config.network.blocks < Config().network.channels * Config().network.blocks
    )


def test_slurm_example_uses_kind_specific_partitions_and_a_venv() -> None:
    config = load_config(CONFIG_DIR / "unified_loop.slurm.yaml")
    assert config.executor == "slurm"
    assert (
        config.slurm.selfplay.partition,
        config.slurm.train.partition,
        config.slurm.evaluate.partition,
    ) == (
        "gpu-selfplay",
        "gpu-train",
        "cpu-eval",
    )
    assert any("bin/activate" in line for line in config.slurm.setup)
    assert config.slurm.train.gpus >= 1 and config.training.device == "cuda"
    assert config.slurm.job("evaluate") is config.slurm.evaluate
    assert config.slurm.train.time_minutes == 12 * 60


def test_the_example_gate_file_is_the_built_in_gate_written_out() -> None:
    assert load_gate_file(CONFIG_DIR / "promotion_daemon.yaml") == PromotionSection()
