"""The pieces a selfplay task stands on: seeds, the Slurm end time, the stop rule, CPUs, the spec.

Checks that seeds are a pure function of their key and differ when any part of it does; that
squeue's end time is parsed (and "no limit" answers mean no deadline), with the job's
environment as the fallback; that HALT and the walltime each stop, with a throttled check that
sticks once stopped; that the CPU count follows Slurm's allocation; and that the spec's JSON
round-trips and refuses unknown, missing and mistyped fields by name.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from ringrift_hpc.jobs.seeds import game_rng, game_seed, task_seed
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.jobs.slurm_env import available_cpus, job_facts
from ringrift_hpc.jobs.walltime import HALT, WALLTIME, StopCheck, StopRule, parse_end_time, slurm_end_time


def test_seeds_depend_on_every_part_of_the_key() -> None:
    base = task_seed(7, "square8_2p", 3, 5)
    assert base == task_seed(7, "square8_2p", 3, 5)
    others = {
        task_seed(8, "square8_2p", 3, 5),
        task_seed(7, "hex8_2p", 3, 5),
        task_seed(7, "square8_2p", 4, 5),
        task_seed(7, "square8_2p", 3, 6),
    }
    assert base not in others and len(others) == 4
    games = [game_seed(base, k) for k in range(100)]
    assert len(set(games)) == 100 and all(0 <= s < 2**63 for s in games + [base])
    assert game_rng(games[0]).integers(1 << 30) == game_rng(games[0]).integers(1 << 30)


def test_parse_end_time_reads_local_time_and_no_limit() -> None:
    expected = datetime(2026, 11, 29, 5, 30, 0).timestamp()
    assert parse_end_time("2026-11-29T05:30:00\n") == expected
    for text in ("N/A", "Unknown", "NONE", ""):
        assert parse_end_time(text) is None
    with pytest.raises(ValueError, match="SLURM_TIME_FORMAT"):
        parse_end_time("Sun Nov 29 05:30")


def test_slurm_end_time_asks_squeue_then_falls_back_to_the_environment() -> None:
    asked: list[list[str]] = []

    def squeue(argv: list[str]) -> str:
        asked.append(argv)
        return "2026-11-29T05:30:00\n"

    assert slurm_end_time({}, runner=squeue) is None and not asked
    end = slurm_end_time({"SLURM_JOB_ID": "42"}, runner=squeue)
    assert asked == [["squeue", "-h", "-j", "42", "-o", "%e"]]
    assert end == datetime(2026, 11, 29, 5, 30).timestamp()

    def broken(argv: list[str]) -> str:
        raise subprocess.CalledProcessError(1, argv)

    assert slurm_end_time({"SLURM_JOB_ID": "42", "SLURM_JOB_END_TIME": "1900000000"}, runner=broken) == 1.9e9
    assert slurm_end_time({"SLURM_JOB_ID": "42"}, runner=broken) is None


def test_stop_rule_sees_halt_and_walltime(tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    rule = StopRule.for_job(halt, 60, {"SLURM_JOB_ID": "1"}, runner=lambda argv: "2026-11-29T05:30:00")
    end = datetime(2026, 11, 29, 5, 30).timestamp()
    assert rule.deadline == end - 60
    assert rule.reason(end - 61) is None
    assert rule.reason(end - 60) == WALLTIME
    halt.write_text("operator")
    assert rule.reason(0) == HALT
    assert StopRule.for_job(halt, 60, {}).deadline is None


def test_stop_check_is_throttled_and_sticky(tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    now = [100.0]
    check = StopCheck(StopRule(halt, None), every_s=5.0, clock=lambda: now[0])
    assert check() is None
    halt.write_text("x")
    now[0] = 104.0
    assert check() is None  # not looked at again yet
    now[0] = 105.0
    assert check() == HALT
    halt.unlink()
    now[0] = 200.0
    assert check() == HALT


def test_available_cpus_follow_slurm() -> None:
    assert available_cpus({"SLURM_CPUS_PER_TASK": "3"}) == 3
    assert available_cpus({}) == len(os.sched_getaffinity(0))
    # The local executor gives each job its threads_per_job through OMP_NUM_THREADS; Slurm's wins.
    assert available_cpus({"OMP_NUM_THREADS": "1"}) == 1
    assert available_cpus({"OMP_NUM_THREADS": "1", "SLURM_CPUS_PER_TASK": "4"}) == 4
    assert available_cpus({"OMP_NUM_THREADS": "0"}) == len(os.sched_getaffinity(0))
    facts = job_facts({"SLURM_JOB_ID": "12", "SLURM_ARRAY_TASK_ID": "4"})
    assert facts["slurm_job_id"] == "12" and facts["slurm_array_task_id"] == "4" and facts["host"]


def _spec(**changes: object) -> SelfplaySpec:
    fields: dict[str, object] = {
        "run_root": "/runs/a",
        "variant": "square8_2p",
        "generation": 0,
        "task_index": 3,
        "model_id": "none",
        "run_seed": 1,
        "games": 8,
    }
    fields.update(changes)
    return SelfplaySpec(**fields)  # type: ignore[arg-type]


def test_spec_json_round_trip_and_task_name() -> None:
    spec = _spec(time_budget_s=12.5, device="cpu")
    assert SelfplaySpec.from_json(spec.to_json()) == spec
    assert spec.task == "000003" and spec.board == "square8" and spec.num_players == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(colour="red"), "unknown field.*colour"),
        (lambda d: d.pop("games"), "missing field.*games"),
        (lambda d: d.update(games="8"), "'games' is '8'; it must be an integer"),
        (lambda d: d.update(simulations=True), "'simulations'"),
        (lambda d: d.update(games=0), "games = 0 must be at least 1"),
        (lambda d: d.update(run_root="relative/run"), "must be absolute"),
        (lambda d: d.update(variant="square8"), "variant"),
        (lambda d: d.update(generation=2), "model_id 'none'.*generation 0"),
        (lambda d: d.update(bootstrap_player="mcts"), "bootstrap_player"),
    ],
)
def test_spec_refuses_bad_fields_by_name(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(_spec().to_json())
    edit(data)
    with pytest.raises(ValueError, match=message):
        SelfplaySpec.from_json(json.dumps(data), source="spec.json")
