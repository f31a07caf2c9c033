"""How the config YAML is read: YAML 1.2 scalars, merge keys, Slurm times and memory sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.config import ConfigError, load_config, parse_config
from ringrift_hpc.config.base import InvalidValue
from ringrift_hpc.config.slurm import format_slurm_time, slurm_time_seconds
from ringrift_hpc.config.yaml_io import parse_yaml


def test_scalars_follow_the_yaml_1_2_core_schema() -> None:
    data, _ = parse_yaml(
        "lr: 3e-4\ntime: 1:30:00\nflag: yes\noctal: 0123\nbig: 1_000\nhalf: .5\nneg: -2\nnull: ~\nbool: false\n",
        "x",
    )
    assert data == {
        "lr": 0.0003,
        "time": "1:30:00",
        "flag": "yes",
        "octal": "0123",
        "big": 1000,
        "half": 0.5,
        "neg": -2,
        None: None,
        "bool": False,
    }


def test_unquoted_learning_rate_and_walltime_load_as_meant(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "training:\n  lr: 3e-4\nslurm:\n  train:\n    time: 1:30:00\n    mem: 16g\n", encoding="utf-8"
    )
    config = load_config(path)
    assert config.training.lr == pytest.approx(3e-4)
    assert config.slurm.train.time == "01:30:00" and config.slurm.train.time_minutes == 90
    assert config.slurm.train.mem == "16G"


def test_merge_keys_are_not_duplicates_and_explicit_keys_win(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "slurm:\n"
        "  selfplay: &common {account: proj, qos: normal, cpus: 8}\n"
        "  evaluate:\n"
        "    <<: *common\n"
        "    cpus: 2\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert (config.slurm.evaluate.account, config.slurm.evaluate.qos, config.slurm.evaluate.cpus) == (
        "proj",
        "normal",
        2,
    )


def test_problem_positions_point_into_merged_anchors(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("base: &b {cpus: -1}\nslurm:\n  evaluate:\n    <<: *b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "slurm.evaluate.cpus, line 1, column 11: must be at least 1" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90 * 60),
        ("90:30", 90 * 60 + 30),
        ("1:30:00", 5400),
        ("2-0", 2 * 86400),
        ("2-03", 2 * 86400 + 3 * 3600),
        ("2-03:04", 2 * 86400 + 3 * 3600 + 4 * 60),
        ("2-03:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("00:00:30", 30),
    ],
)
def test_slurm_time_formats(text: str, seconds: int) -> None:
    assert slurm_time_seconds(text) == seconds
    assert slurm_time_seconds(format_slurm_time(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "0", "00:00:00", "-5", "1h", "1-", "UNLIMITED"])
def test_slurm_time_rejects(text: str) -> None:
    with pytest.raises(InvalidValue):
        slurm_time_seconds(text)


def test_time_is_stored_canonically_and_rounds_up_to_minutes() -> None:
    config = parse_config({"slurm": {"selfplay": {"time": 90}, "train": {"time": "00:01:01"}}}, source="x")
    assert config.slurm.selfplay.time == "01:30:00"
    assert config.slurm.train.time_minutes == 2
    assert parse_config({"slurm": {"train": {"time": "3-0"}}}, source="x").slurm.train.time == "3-00:00:00"


def test_integer_memory_means_megabytes() -> None:
    assert parse_config({"slurm": {"train": {"mem": 4000}}}, source="x").slurm.train.mem == "4000M"
