"""The lines `loop` prints: one exact line per record type, records of older journals (without
a shard's games, a model's losses, an evaluation batch's SPRT) still format, the summary, and
the `loop` command printing the records its ticks appended, and the controller journaling an
evaluation batch's SPRT progress."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from test_controller_fake import FakeExecutor, _controller
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.loop_cmds import loop_command
from ringrift_hpc.config import load_config
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.loop.event_feed import JournalFeed
from ringrift_hpc.loop.event_lines import EventLines, Rated, Tally, summary_lines
from ringrift_hpc.loop.events import EvaluationStarted, SprtProgress, parse_event, to_record
from ringrift_hpc.loop.halt import clear_halt, write_halt
from ringrift_hpc.loop.state import RunState, apply_event
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import GameRecord, MatchGroup
from ringrift_hpc.rating.sprt import SprtParams, sprt_test
from ringrift_hpc.store import JournalWriter, replay_journal

T = 1765000000.0  # 05:46:40 UTC
V = "square8_2p"
GOLDEN = Path(__file__).parent / "golden" / "journal.jsonl"


def _intent(purpose: str, tasks: list[tuple[str, dict[str, Any], int]], **extra: Any) -> dict[str, Any]:
    return {
        "event": "submit_intent",
        "time": T,
        "purpose": purpose,
        "variant": V,
        "tasks": [
            {"task": task, "spec": json.dumps(spec), "attempt": attempt} for task, spec, attempt in tasks
        ],
        **extra,
    }


SPRT = {"llr": 0.523, "lower_bound": -1.386, "upper_bound": 1.386, "groups": 4, "mean": 0.625}
SHADOW = {
    "eval_id": "tournament-shadow-000002",
    "best": "b",
    "against": "a",
    "verdict": "undecided",
    "difference_elo": -12.0,
    "lower_elo": -80.0,
    "upper_elo": 56.0,
    "games": 40,
    "detail": "b against its predecessor a",
}
BOARD = {
    "gumbel@8#" + "c" * 64: Rated(1234.4, 1180.2, 1290.0),
    "heuristic": Rated(1000.0, 950.0, 1050.0),
}

CASES: list[tuple[dict[str, Any], list[str]]] = [
    (
        _intent("selfplay", [(f"selfplay/{V}/000003/00000{i}", {"generation": 3}, 0) for i in range(4)]),
        ["05:46:40 square8_2p gen 3: submitted selfplay, 4 tasks"],
    ),
    (
        _intent(
            "train",
            [(f"train/{V}/abc", {"generation": 4}, 0)],
            started={"job_key": "abc", "samples_total": 4500},
        ),
        ["05:46:40 square8_2p gen 4: submitted train, 1 task (4500 samples so far)"],
    ),
    (
        _intent(
            "evaluate",
            [(f"evaluate/{V}/eval-g0004-cccc/t0", {}, 0)],
            started={"eval_id": "eval-g0004-cccc", "batch": 1, "sprt": SPRT},
        ),
        [
            (
                "05:46:40 square8_2p gen 4: SPRT LLR 0.52 in [-1.39, 1.39] after 4 groups (8 games), "
                "score 0.625: continuing"
            ),
            "05:46:40 square8_2p gen 4: submitted evaluate, 1 task (batch 2 of eval-g0004-cccc)",
        ],
    ),
    (
        _intent("selfplay", [(f"selfplay/{V}/000003/000001", {"generation": 3}, 2)]),
        ["05:46:40 square8_2p: resubmitting selfplay/square8_2p/000003/000001 (attempt 3)"],
    ),
    ({"event": "submitted", "time": T, "tasks": ["t"], "refs": []}, []),
    (
        {
            "event": "submit_refused",
            "time": T,
            "tasks": ["a", "b"],
            "attempt": 2,
            "error": "sbatch: down",
            "retry_at": T + 60,
        },
        ["05:46:40 submission of 2 tasks refused (attempt 2): sbatch: down; retry at 05:47:40"],
    ),
    (
        {
            "event": "job_ended",
            "time": T,
            "task": f"train/{V}/abc",
            "job": "4711",
            "status": "failed",
            "exit_code": 1,
            "elapsed_s": 12.4,
            "detail": "",
            "error": "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory\n",
            "retry_at": None,
        },
        [
            "05:46:40 job train/square8_2p/abc (4711) failed, exit 1 after 12 s: RuntimeError: CUDA out of memory; given up"
        ],
    ),
    (
        {
            "event": "job_ended",
            "time": T,
            "task": f"selfplay/{V}/000003/000001",
            "job": "4711_1",
            "status": "completed",
            "exit_code": 0,
            "elapsed_s": 30,
            "detail": "",
        },
        [],
    ),
    (
        {"event": "job_cancelled", "time": T, "task": "selfplay/x", "why": "variant finished"},
        ["05:46:40 job selfplay/x cancelled: variant finished"],
    ),
    (
        {
            "event": "ingested",
            "time": T,
            "artifact": "shard",
            "variant": V,
            "path": "p",
            "samples": 812,
            "generation": 3,
            "games": 8,
        },
        ["05:46:40 square8_2p gen 3: selfplay shard ingested, 8 games, 812 positions"],
    ),
    (
        {
            "event": "ingested",
            "time": T,
            "artifact": "shard",
            "variant": V,
            "path": "p",
            "samples": 812,
            "generation": 3,
        },
        ["05:46:40 square8_2p gen 3: selfplay shard ingested, 812 positions"],
    ),
    (
        {
            "event": "ingested",
            "time": T,
            "artifact": "model",
            "variant": V,
            "path": "p",
            "model_id": "c" * 64,
            "job_key": "abc",
            "generation": 4,
            "train_policy_loss": 2.3456,
            "train_value_loss": 0.4321,
            "validation_policy_loss": 2.5,
            "validation_value_loss": 0.5,
        },
        [
            (
                "05:46:40 square8_2p gen 4: model cccccccccccc ingested, training loss policy 2.346 value 0.432, "
                "validation policy 2.500 value 0.500"
            )
        ],
    ),
    (
        {
            "event": "ingested",
            "time": T,
            "artifact": "model",
            "variant": V,
            "path": "p",
            "model_id": "c" * 64,
            "job_key": None,
            "generation": None,
        },
        ["05:46:40 square8_2p: model cccccccccccc ingested"],
    ),
    (
        {
            "event": "ingested",
            "time": T,
            "artifact": "match",
            "variant": V,
            "path": "p",
            "eval_id": "eval-g0004-cccc",
            "groups": 1,
        },
        ["05:46:40 square8_2p: match file of eval-g0004-cccc ingested, 1 group"],
    ),
    (
        {
            "event": "decision",
            "time": T,
            "variant": V,
            "candidate": "gumbel@8#" + "c" * 64,
            "model_id": "c" * 64,
            "best": "gumbel@8#" + "b" * 64,
            "promote": True,
            "reasons": [],
            "statistics": {"sprt": {**SPRT, "status": "accept", "llr": 1.5, "groups": 6}},
            "eval_id": "eval-g0004-cccc",
        },
        [
            (
                "05:46:40 square8_2p gen 4 promoted: 1234 Elo [1180, 1290] vs heuristic 1000 "
                "(SPRT accept: LLR 1.50 in [-1.39, 1.39] after 6 groups (12 games), score 0.625)"
            )
        ],
    ),
    (
        {
            "event": "decision",
            "time": T,
            "variant": V,
            "candidate": "gumbel@8#" + "d" * 64,
            "model_id": "d" * 64,
            "best": None,
            "promote": True,
            "reasons": [],
            "statistics": {"sprt": None, "first_model": True},
            "eval_id": "eval-g0001-dddd",
        },
        ["05:46:40 square8_2p gen 1 promoted (first model: anchor gate only)"],
    ),
    (
        {
            "event": "decision",
            "time": T,
            "variant": V,
            "candidate": "gumbel@8#" + "d" * 64,
            "model_id": "d" * 64,
            "best": "gumbel@8#" + "b" * 64,
            "promote": False,
            "reasons": [
                "SPRT rejected after 4 groups",
                "score 0.100 against random is below the minimum 0.500",
            ],
            "statistics": {},
            "eval_id": "eval-g0005-dddd",
        },
        [
            (
                "05:46:40 square8_2p gen 5 rejected; SPRT rejected after 4 groups; "
                "score 0.100 against random is below the minimum 0.500"
            )
        ],
    ),
    ({"event": "decision_recorded", "time": T, "variant": V, "candidate": "x"}, []),
    (
        {"event": "best_changed", "time": T, "variant": V, "model_id": "b" * 64, "participant": "x"},
        ["05:46:40 square8_2p: best model is now bbbbbbbbbbbb (changed outside a decision)"],
    ),
    (
        _intent(
            "tournament",
            [(f"tournament/{V}/tournament-shadow-000002/best-random", {}, 0)],
            started={"eval_id": "tournament-shadow-000002", "best": "b", "against": "a"},
        ),
        [
            (
                "05:46:40 square8_2p: submitted tournament, 1 task "
                "(shadow check tournament-shadow-000002 of the best against its predecessor)"
            )
        ],
    ),
    (
        {"event": "shadow_checked", "time": T, "variant": V, "result": SHADOW},
        ["05:46:40 square8_2p: shadow check tournament-shadow-000002 undecided: b against its predecessor a"],
    ),
    (
        {
            "event": "shadow_rollback",
            "time": T,
            "variant": V,
            "result": {**SHADOW, "verdict": "weaker"},
            "to_model": "a" * 64,
            "predecessor": None,
        },
        [
            (
                "05:46:40 square8_2p: best rolled back to aaaaaaaaaaaa by shadow check "
                "tournament-shadow-000002: b against its predecessor a"
            )
        ],
    ),
    (
        {"event": "request", "time": T, "name": "r-rollback.json", "applied": True, "detail": "rollback"},
        ["05:46:40 request r-rollback.json applied: rollback"],
    ),
    (
        {"event": "leaderboard", "time": T, "variant": V, "games": 24},
        ["05:46:40 square8_2p: leaderboard refitted over 24 games"],
    ),
    (
        {"event": "quarantined", "time": T, "variant": V, "path": "a.h5", "reason": "bad hash"},
        ["05:46:40 square8_2p: quarantined a.h5: bad hash"],
    ),
    (
        {"event": "training_failed", "time": T, "variant": V, "error": "training job abc gave up"},
        ["05:46:40 square8_2p: training failed: training job abc gave up"],
    ),
    (
        {
            "event": "evaluation_failed",
            "time": T,
            "variant": V,
            "eval_id": None,
            "error": "a match task gave up",
        },
        ["05:46:40 square8_2p: evaluation failed: a match task gave up"],
    ),
    (
        {"event": "coordinator", "time": T, "node": "n1", "term": 3},
        ["05:46:40 coordinator n1 took over the run (term 3)"],
    ),
    (
        {"event": "error", "time": T, "error": "square8_2p: leaderboard refit failed: no anchor"},
        ["05:46:40 error: square8_2p: leaderboard refit failed: no anchor"],
    ),
    ({"event": "tick", "halted": False, "queries": 1}, []),
    ({"event": "from_a_newer_controller"}, []),
]


@pytest.mark.parametrize(("record", "expected"), CASES)
def test_each_record_type_has_its_line(record: dict[str, Any], expected: list[str]) -> None:
    lines = EventLines(ratings=lambda variant: BOARD if variant == V else {})
    assert lines.lines(record) == expected


def test_every_record_of_an_old_journal_formats() -> None:
    lines = EventLines()
    printed = [text for line in GOLDEN.read_bytes().splitlines() for text in lines.lines(json.loads(line))]
    assert len(printed) > 100
    assert lines.tally.promoted == {V: 1} and lines.tally.rejected == {V: 1}
    assert set(lines.tally.job_seconds) == {"selfplay", "train", "evaluate", "tournament"}


def test_an_evaluation_batch_with_its_sprt_round_trips_and_folds_as_one_without() -> None:
    started = EvaluationStarted(eval_id="eval-g0002-c", batch=1, sprt=SprtProgress.model_validate(SPRT))
    record = _intent("evaluate", [(f"evaluate/{V}/eval-g0002-c/t0", {}, 0)], started=started.model_dump())
    event = parse_event(record)
    assert to_record(event)["started"]["sprt"] == SPRT
    without = parse_event({**record, "started": {"eval_id": "eval-g0002-c", "batch": 1}})
    assert "sprt" not in to_record(without)["started"]
    state = RunState.empty([V])
    assert apply_event(state, event) == apply_event(state, without)


def test_the_summary_gives_decisions_best_rating_and_job_time() -> None:
    tally = Tally()
    tally.promoted[V] = 2
    tally.rejected[V] = 1
    tally.job_seconds.update({"selfplay": 300.0, "train": 100.0})
    tally.failures = 1
    variants = {
        V: {
            "generation": 3,
            "decisions": 3,
            "promotions": 2,
            "best_model": "c" * 64,
            "rating": {"rating": 1234.4, "lower": 1180.2, "upper": 1290.0, "games": 40, "rank": 1},
        }
    }
    assert summary_lines(variants, tally, 125.4) == [
        "summary: 3 generations decided in 125 s (2 promoted, 1 rejected)",
        "  square8_2p: generation 3, 3 decisions in all (2 promoted), best cccccccccccc, 1234 Elo [1180, 1290]",
        "  job time: selfplay 300 s (75%), train 100 s (25%)",
        "  failed job attempts: 1",
    ]
    assert summary_lines({}, Tally(), 0.0) == [
        "summary: 0 generations decided in 0 s (0 promoted, 0 rejected)"
    ]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("loop")(loop_command)
    app.command("unused")(lambda: None)  # two commands: `loop` stays a subcommand
    return app


def test_loop_prints_the_records_its_ticks_appended_and_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = make_tiny_run(tmp_path / "run")
    monkeypatch.setattr("ringrift_hpc.loop.runner.make_executor", lambda *args: FakeExecutor())
    result = CliRunner().invoke(_cli(), ["loop", str(layout.root), "--max-ticks", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    submitted = [line for line in lines if "submitted selfplay" in line]
    assert len(submitted) == 1 and submitted[0].endswith("square8_2p gen 0: submitted selfplay, 2 tasks")
    assert "stopped after 2 tick(s)" in lines
    assert "summary: 0 generations decided" in lines[-2]
    assert lines[-1].startswith(
        "  square8_2p: generation 0, 0 decisions in all (0 promoted), no model promoted yet"
    )
    # A second loop prints only what it appended itself; --quiet prints no event and no summary.
    again = CliRunner().invoke(_cli(), ["loop", str(layout.root), "--once", "--quiet"])
    assert again.exit_code == 0 and again.output.splitlines() == ["stopped after 1 tick(s)"]


def _group(candidate: Participant, best: Participant, won: bool) -> MatchGroup:
    first, second = (candidate, best) if won else (best, candidate)
    games = (
        GameRecord(seats=(first.id, second.id), ranks=(1, 2), moves=10, seed=0, duration_s=0.0),
        GameRecord(seats=(second.id, first.id), ranks=(2, 1), moves=10, seed=1, duration_s=0.0),
    )
    return MatchGroup(
        variant=Variant.model_validate(V), lineup=(candidate, best), opening_seed=0, games=games
    )


def test_a_later_evaluation_batch_journals_the_sprt_over_the_groups_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = make_tiny_run(tmp_path / "run")
    controller, journal = _controller(layout, FakeExecutor(), lambda: T)
    config = load_config(layout.run_config)
    budget = config.evaluation_simulations
    candidate = Participant(variant=V, kind="gumbel", budget=budget, model_id="c" * 64)
    best = Participant(variant=V, kind="gumbel", budget=budget, model_id="b" * 64)
    played = [_group(candidate, best, won) for won in (True, True, False)]
    with journal:
        v = replace(
            controller.state.variants[V],
            phase="evaluate",
            generation=1,
            best_model="b" * 64,
            best_participant=best.id,
            candidate="c" * 64,
        )
        controller.state = replace(controller.state, variants={V: v})
        monkeypatch.setattr(controller.artifacts, "evaluation_groups", lambda variant, eval_id: played)
        controller._submit_evaluation(v, 0)  # the first batch: nothing played yet
        controller._submit_evaluation(controller.state.variants[V], 1)
    first, later = (r for r in replay_journal(layout.journal).records if r["event"] == "submit_intent")
    assert "sprt" not in first["started"]
    expected = sprt_test([1.0, 1.0, 0.0], SprtParams.from_section(config.promotion.sprt))
    assert later["started"]["sprt"] == {
        "llr": expected.llr,
        "lower_bound": expected.lower_bound,
        "upper_bound": expected.upper_bound,
        "groups": 3,
        "mean": expected.mean,
    }


def test_the_feed_prints_each_appended_record_once_and_a_halt_as_it_comes_and_goes(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    board = {"event": "leaderboard", "time": T, "variant": V, "games": 2}
    layout.journal.write_bytes(json.dumps(board).encode() + b"\n" + b'{"event": "torn')
    printed: list[str] = []
    feed = JournalFeed(layout, printed.append)
    with JournalWriter(layout.journal) as journal:  # cuts the torn line off, as the controller does
        journal.append({**board, "games": 4})
        feed.poll()
        write_halt(layout, "disk full")
        journal.append({**board, "games": 6})
        feed.poll()
        feed.poll()
        clear_halt(layout)
        feed.poll()
    assert printed == [
        "05:46:40 square8_2p: leaderboard refitted over 4 games",
        "HALTED: disk full",
        "05:46:40 square8_2p: leaderboard refitted over 6 games",
        "resumed: HALT removed",
    ]
