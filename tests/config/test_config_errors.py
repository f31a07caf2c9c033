"""Golden messages for every class of config error.

Each test writes a small YAML file, loads it, and compares the whole ConfigError message, so a
change of wording, key path, line number or fix shows up as a diff here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ringrift_hpc.config import ConfigError, load_config, parse_config


def _message(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).replace(str(tmp_path), "DIR")


def _golden(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def test_unknown_key_suggests_the_closest_valid_key(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        slurm:
          selfplay:
            partiton: gpu-selfplay
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - slurm.selfplay.partiton, line 3, column 5: unknown key 'partiton'
            fix: did you mean 'partition'?
        """
    )


def test_unknown_key_without_a_close_match_lists_the_valid_keys(tmp_path: Path) -> None:
    message = _message(tmp_path, "curriculum:\n  xyzzy: 1\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - curriculum.xyzzy, line 2, column 3: unknown key 'xyzzy'
            fix: remove it; valid keys here: enabled, min_weight, max_weight, smoothing, lookback_generations, data_share
        """
    )


def test_unknown_top_level_section(tmp_path: Path) -> None:
    message = _message(tmp_path, "trainig:\n  lr: 0.01\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - trainig, line 1, column 1: unknown key 'trainig'
            fix: did you mean 'training'?
        """
    )


def test_key_of_another_job_kind_is_unknown(tmp_path: Path) -> None:
    # array_parallelism throttles arrays; training is a single job.
    message = _message(tmp_path, "slurm:\n  train:\n    array_parallelism: 4\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - slurm.train.array_parallelism, line 3, column 5: unknown key 'array_parallelism'
            fix: remove it; valid keys here: partition, time, cpus, mem, gpus, account, qos, constraint, extra_sbatch_args, setup
        """
    )


def test_wrong_types(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        selfplay:
          games_per_task: ten
          simulations: 2.5
        slurm:
          selfplay:
            cpus: "8"
            setup: source venv/bin/activate
        curriculum:
          enabled: yes
          min_weight: "0.5"
        training:
          replay_window: 5
        run:
          root: 7
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (8 problems):
          - selfplay.games_per_task, line 2, column 3: expected a whole number, got the text 'ten'
            fix: write a whole number without quotes, e.g. games_per_task: 64
          - selfplay.simulations, line 3, column 3: expected a whole number, got the number 2.5
            fix: write a whole number without quotes, e.g. simulations: 64
          - slurm.selfplay.cpus, line 6, column 5: expected a whole number, got the text '8'
            fix: write a whole number without quotes, e.g. cpus: 4
          - slurm.selfplay.setup, line 7, column 5: expected a list, got the text 'source venv/bin/activate'
            fix: write a YAML list, one '- item' line per entry, e.g. setup: [<item>]
          - curriculum.enabled, line 9, column 3: expected true or false, got the text 'yes'
            fix: write true or false (yes, no, on and off are not booleans here)
          - curriculum.min_weight, line 10, column 3: expected a number, got the text '0.5'
            fix: write a number without quotes, e.g. min_weight: 0.5
          - training.replay_window, line 12, column 3: expected a section of 'key: value' lines, got the number 5
            fix: indent the section's keys under 'replay_window:'
          - run.root, line 14, column 3: expected text, got the number 7
            fix: quote the value, e.g. root: "runs/demo"
        """
    )


def test_unknown_choice_suggests_the_closest(tmp_path: Path) -> None:
    message = _message(tmp_path, "executor: slurmm\ntraining:\n  optimizer: sgdd\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (2 problems):
          - executor, line 1, column 1: the text 'slurmm' is not one of auto, slurm, local
            fix: did you mean slurm? valid values: auto, slurm, local
          - training.optimizer, line 3, column 3: the text 'sgdd' is not one of adamw, sgd
            fix: did you mean sgd? valid values: adamw, sgd
        """
    )


def test_negative_counts_and_out_of_range_values(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        run:
          seed: -1
        selfplay:
          games_per_task: 0
          tasks_in_flight: -3
        promotion:
          sprt:
            alpha: 1.5
            beta: 0
        metrics:
          port: 70000
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (6 problems):
          - run.seed, line 2, column 3: must be at least 0, got the number -1
            fix: use a value at least 0
          - selfplay.games_per_task, line 4, column 3: must be at least 1, got the number 0
            fix: use a value at least 1
          - selfplay.tasks_in_flight, line 5, column 3: must be at least 1, got the number -3
            fix: use a value at least 1
          - promotion.sprt.alpha, line 8, column 5: must be less than 1, got the number 1.5
            fix: use a value less than 1
          - promotion.sprt.beta, line 9, column 5: must be greater than 0, got the number 0
            fix: use a value greater than 0
          - metrics.port, line 11, column 3: must be at most 65535, got the number 70000
            fix: use a value at most 65535
        """
    )


def test_elo1_not_above_elo0(tmp_path: Path) -> None:
    message = _message(tmp_path, "promotion:\n  sprt:\n    elo0: 5\n    elo1: 5\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - promotion.sprt.elo1, line 4, column 5: elo1 (5) must be greater than elo0 (5)
            fix: set elo1 above elo0, e.g. elo0: 0 and elo1: 30
        """
    )


def test_minimum_above_maximum(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        training:
          min_steps: 10
          max_steps: 5
        promotion:
          sprt: {min_groups: 30, max_groups: 20}
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (2 problems):
          - training.max_steps, line 3, column 3: max_steps (5) is below min_steps (10)
            fix: make max_steps at least min_steps
          - promotion.sprt.max_groups, line 5, column 26: max_groups (20) is below min_groups (30)
            fix: make max_groups at least min_groups
        """
    )
    window = _message(tmp_path, "training:\n  replay_window: {min_samples: 100, max_samples: 50}\n")
    assert window == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - training.replay_window.max_samples, line 2, column 37: max_samples (50) is below min_samples (100)
            fix: make max_samples at least min_samples
        """
    )


def test_checks_across_fields_wait_for_the_fields_themselves(tmp_path: Path) -> None:
    # A section's cross-field checks run only once its own fields are valid, so a fix never
    # leans on a value that is itself wrong.
    message = _message(tmp_path, "training:\n  min_steps: 10\n  max_steps: 5\n  lr: zero\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - training.lr, line 4, column 3: expected a number, got the text 'zero'
            fix: write a number without quotes, e.g. lr: 0.001
        """
    )


def test_bad_variants(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        run:
          variants:
            - square9_2p
            - hex8_5p
            - {board: hexagnal, players: 2}
            - square8
            - {board: square19, players: 1}
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (5 problems):
          - run.variants[0], line 3, column 7: unknown board 'square9' in 'square9_2p'
            fix: did you mean square19_2p? boards are square8, square19, hex8, hexagonal
          - run.variants[1], line 4, column 7: hex8 is played by 2, 3 or 4 players, not 5
            fix: use hex8_2p, hex8_3p or hex8_4p
          - run.variants[2].board, line 5, column 8: the text 'hexagnal' is not one of square8, square19, hex8, hexagonal
            fix: did you mean hexagonal? valid values: square8, square19, hex8, hexagonal
          - run.variants[3], line 6, column 7: 'square8' is not a variant name
            fix: write <board>_<players>p, e.g. square8_2p, or a mapping {board: square8, players: 2}
          - run.variants[4], line 7, column 7: square19 is played by 2, 3 or 4 players, not 1
            fix: use square19_2p, square19_3p or square19_4p
        """
    )


def test_duplicate_and_empty_variant_lists(tmp_path: Path) -> None:
    duplicate = _message(tmp_path, "run:\n  variants: [hex8_3p, square8_2p, {board: hex8, players: 3}]\n")
    assert duplicate == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - run.variants, line 2, column 3: hex8_3p listed more than once
            fix: list each variant once
        """
    )
    empty = _message(tmp_path, "run:\n  variants: []\n")
    assert empty == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - run.variants, line 2, column 3: needs at least 1 item(s), got 0
            fix: list at least 1 item(s), e.g. variants: [square8_2p]
        """
    )


def test_slurm_values(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        slurm:
          selfplay:
            time: 2 hours
            mem: 16GB
          train:
            time: "0"
            extra_sbatch_args: ["--time=10", "mail-type=END", "--mail-type=FAIL"]
          evaluate:
            time: 1-2:3:4:5
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (6 problems):
          - slurm.selfplay.time, line 3, column 5: '2 hours' is not a Slurm time
            fix: write a Slurm time such as 90 (minutes), 04:00:00 or 2-00:00:00, quoted in YAML
          - slurm.selfplay.mem, line 4, column 5: '16GB' is not a Slurm memory size
            fix: write a positive integer with an optional unit K, M, G or T, e.g. 16G
          - slurm.train.time, line 6, column 5: time limit '0' is zero
            fix: write a Slurm time such as 90 (minutes), 04:00:00 or 2-00:00:00, quoted in YAML
          - slurm.train.extra_sbatch_args[0], line 7, column 25: '--time=10' sets --time, which this config sets itself
            fix: set time instead
          - slurm.train.extra_sbatch_args[1], line 7, column 38: 'mail-type=END' is not an sbatch option
            fix: write one option per item as --option=value or --flag, e.g. --mail-type=FAIL
          - slurm.evaluate.time, line 9, column 5: '1-2:3:4:5' is not a Slurm time
            fix: write a Slurm time such as 90 (minutes), 04:00:00 or 2-00:00:00, quoted in YAML
        """
    )


def test_run_name_must_fit_slurm_job_names(tmp_path: Path) -> None:
    message = _message(tmp_path, "run:\n  name: my run\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - run.name, line 2, column 3: run name 'my run' cannot tag Slurm job names
            fix: use 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit
        """
    )


def test_cuda_device_without_gpus_on_slurm(tmp_path: Path) -> None:
    message = _message(tmp_path, "executor: slurm\ntraining:\n  device: cuda\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - training.device, line 3, column 3: training.device is cuda but slurm.train.gpus is 0, so the job would get no GPU
            fix: set slurm.train.gpus to at least 1, or training.device to cpu or auto
        """
    )


def test_anchor_problems(tmp_path: Path) -> None:
    missing = _message(tmp_path, "promotion:\n  anchors:\n    - {groups: 3}\n")
    assert missing == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - promotion.anchors[0].player, line 3, column 7: required key is missing
            fix: add player: random or heuristic
        """
    )
    repeated = _message(tmp_path, "promotion:\n  anchors: [{player: random}, {player: random}]\n")
    assert repeated == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - promotion.anchors, line 2, column 3: anchor random listed more than once
            fix: list each anchor player once
        """
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(caught.value).replace(str(tmp_path), "DIR") == _golden(
        """\
        invalid config DIR/nope.yaml (1 problem):
          - the file does not exist
            fix: check the path, or start from config/unified_loop.yaml (docs/config.md lists every key)
        """
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).replace(str(tmp_path), "DIR") == _golden(
        """\
        invalid config DIR (1 problem):
          - this is a directory, not a file
            fix: name the YAML file itself
        """
    )


def test_unreadable_yaml_gives_line_and_column(tmp_path: Path) -> None:
    message = _message(tmp_path, "run:\n  seed: 1\n   name: x\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - line 3, column 8: cannot parse YAML: mapping values are not allowed here
            fix: check the indentation and quoting there; quote values that contain ': ' or ' #'
        """
    )
    unclosed = _message(tmp_path, "run:\n  variants: [square8_2p\n")
    assert unclosed == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - line 3, column 1: cannot parse YAML: while parsing a flow sequence: expected ',' or ']', but got '<stream end>'
            fix: check the indentation and quoting there; quote values that contain ': ' or ' #'
        """
    )


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    as_list = _message(tmp_path, "- run\n- slurm\n")
    assert as_list == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - the top level is a list, not a mapping of sections
            fix: write 'key: value' lines; start from config/unified_loop.yaml (docs/config.md lists every key)
        """
    )
    as_scalar = _message(tmp_path, "local\n")
    assert as_scalar == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - the top level is a single value ('local'), not a mapping of sections
            fix: write 'key: value' lines; start from config/unified_loop.yaml (docs/config.md lists every key)
        """
    )
    empty = _message(tmp_path, "# only a comment\n")
    assert empty == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - the file is empty
            fix: start from config/unified_loop.yaml (docs/config.md lists every key)
        """
    )


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        run:
          seed: 1
          name: a
          seed: 2
        selfplay:
          games_per_task: 3
        selfplay:
          games_per_task: 4
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (2 problems):
          - run.seed, line 4, column 3: key 'seed' appears twice (lines 2 and 4); YAML would keep only the last
            fix: delete one of them
          - selfplay, line 7, column 1: key 'selfplay' appears twice (lines 5 and 7); YAML would keep only the last
            fix: delete one of them
        """
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        executor: cloud
        selfplay:
          simulation: 64
        training:
          lr: -1
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (3 problems):
          - executor, line 1, column 1: the text 'cloud' is not one of auto, slurm, local
            fix: use one of auto, slurm, local
          - selfplay.simulation, line 3, column 3: unknown key 'simulation'
            fix: did you mean 'simulations'?
          - training.lr, line 5, column 3: must be greater than 0, got the number -1
            fix: use a value greater than 0
        """
    )


def test_parse_config_names_its_source_and_has_no_positions() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"selfplay": {"games_per_tsak": 3}}, source="<command line>")
    assert str(caught.value) == _golden(
        """\
        invalid config <command line> (1 problem):
          - selfplay.games_per_tsak: unknown key 'games_per_tsak'
            fix: did you mean 'games_per_task'?
        """
    )
    assert caught.value.source == "<command line>"
    assert [p.key for p in caught.value.problems] == ["selfplay.games_per_tsak"]


def test_parse_config_rejects_a_non_mapping() -> None:
    with pytest.raises(ConfigError, match="the top level is a list"):
        parse_config(["run"], source="x")  # type: ignore[arg-type]


def test_list_items_of_the_wrong_kind(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        run:
          variants: [~, 3]
        promotion:
          anchors: [random]
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (3 problems):
          - run.variants[0], line 2, column 14: expected a variant name, got an empty value (null)
            fix: write <board>_<players>p, e.g. square8_2p, or a mapping {board: square8, players: 2}
          - run.variants[1], line 2, column 17: expected a variant name, got the number 3
            fix: write <board>_<players>p, e.g. square8_2p, or a mapping {board: square8, players: 2}
          - promotion.anchors[0], line 4, column 13: expected a mapping of 'key: value' pairs, got the text 'random'
            fix: write the list item as {key: value, ...}
        """
    )


def test_an_empty_section_takes_its_defaults_but_an_empty_list_value_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("slurm:\n  # partition: gpu\ntraining:\n  replay_window:\n", encoding="utf-8")
    assert load_config(path) == parse_config({}, source="defaults")
    message = _message(tmp_path, "slurm:\n  setup:\n")
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - slurm.setup, line 2, column 3: expected a list, got an empty value (null)
            fix: write a YAML list, one '- item' line per entry, e.g. setup: [<item>]
        """
    )


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_bytes(b"run:\n  name: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).replace(str(tmp_path), "DIR") == _golden(
        """\
        invalid config DIR/cfg.yaml (1 problem):
          - the file is not UTF-8 text (invalid start byte)
            fix: save it as UTF-8
        """
    )


def test_keys_of_the_old_system_name_their_replacement(tmp_path: Path) -> None:
    message = _message(
        tmp_path,
        """\
        execution_backend: slurm
        slurm:
          enabled: true
          partition_training: gpu-train
          selfplay:
            partiton: cpu
        configurations:
          - {board_type: square8, num_players: [2]}
        """,
    )
    assert message == _golden(
        """\
        invalid config DIR/cfg.yaml (5 problems):
          - execution_backend, line 1, column 1: unknown key 'execution_backend', a key of the old RingRift loop
            fix: use executor: slurm, local or auto (the old ssh and p2p backends: run `ringrift-hpc p2p` on each machine); see docs/migrating.md
          - slurm.enabled, line 3, column 3: unknown key 'enabled', a key of the old RingRift loop
            fix: remove it and set executor: slurm (or auto: Slurm when sbatch is found); see docs/migrating.md
          - slurm.partition_training, line 4, column 3: unknown key 'partition_training', a key of the old RingRift loop
            fix: use slurm.train.partition; see docs/migrating.md
          - slurm.selfplay.partiton, line 6, column 5: unknown key 'partiton'
            fix: did you mean 'partition'?
          - configurations, line 7, column 1: unknown key 'configurations', a key of the old RingRift loop
            fix: use run.variants, a list of <board>_<players>p names such as [square8_2p, hex8_3p]; see docs/migrating.md
        """
    )


def test_every_old_key_is_unknown_here() -> None:
    """A mapped old key that became valid would never reach its hint: the table would lie."""
    from ringrift_hpc.config.errors import valid_keys
    from ringrift_hpc.config.legacy import LEGACY_KEYS
    from ringrift_hpc.config.root import Config

    for path in LEGACY_KEYS:
        *section, name = path.split(".")
        assert name not in valid_keys(Config, tuple(section)), path


def test_the_migration_guide_lists_every_old_key() -> None:
    from ringrift_hpc.config.legacy import LEGACY_KEYS

    guide = (Path(__file__).parents[2] / "docs" / "migrating.md").read_text(encoding="utf-8")
    assert [path for path in LEGACY_KEYS if f"`{path}`" not in guide] == []


def test_old_keys_get_their_hint_only_in_a_run_config(tmp_path: Path) -> None:
    """A gate file has no executor: pointing an old key there at `executor` would mislead."""
    from ringrift_hpc.config.gate_file import load_gate_file

    path = tmp_path / "gate.yaml"
    path.write_text("execution_backend: slurm\npromotion: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_gate_file(path)
    assert "unknown key 'execution_backend'\n" in str(caught.value)
    assert "old RingRift loop" not in str(caught.value)
