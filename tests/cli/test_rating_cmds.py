"""The rating commands end to end: tournament, leaderboard, gate exit codes, promote and rollback."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rating_cli import invoke
from tiny_nets import publish_model, tiny_checkpoint

from ringrift_hpc.ai.players import HeuristicPlayer, RandomPlayer
from ringrift_hpc.cli.rating_cmds import _gate_text
from ringrift_hpc.config import Variant
from ringrift_hpc.config.gating import AnchorGate, PromotionSection, SprtSection
from ringrift_hpc.jobs.evaluate_games import PlayedGroups
from ringrift_hpc.jobs.evaluate_gate import ERROR, FAIL, PASS, game_player, run_gate
from ringrift_hpc.rating.best import promotion_history, read_best
from ringrift_hpc.rating.leaderboard import read_leaderboard
from ringrift_hpc.rating.match_files import load_match_history
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.store import RunLayout, atomic_write_json

VARIANT = "square8_2p"
RUN_CONFIG = """\
version: 1
executor: local
run: {name: rating, variants: [square8_2p], seed: 3}
selfplay: {simulations: 4, device: cpu}
evaluation: {concurrent_games: 8, device: cpu, tournament_groups_per_pair: 1, tournament_recent_bests: 2}
"""
GATE_CONFIG = """\
version: 1
promotion:
  sprt: {min_groups: 2, max_groups: 4}
  anchors:
    - {player: random, groups: 1, min_score: 0.0, max_score_drop: null}
"""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def new_run(tmp_path: Path, models: int = 2) -> tuple[RunLayout, list[str]]:
    layout = RunLayout(tmp_path / "run")
    layout.root.mkdir()
    layout.run_config.write_text(RUN_CONFIG)
    return layout, [publish_model(layout.root, VARIANT, tiny_checkpoint(seed)) for seed in range(models)]


def fake_live_lease(layout: RunLayout) -> None:
    now = time.time()
    atomic_write_json(
        layout.lease,
        {
            "format": "ringrift-hpc.lease",
            "format_version": 1,
            "host": "controller-host",
            "pid": 4242,
            "nonce": "cd" * 16,
            "token": 3,
            "acquired_at": now - 5,
            "expires_at": now + 600,
            "released": False,
        },
    )


def test_tournament_rates_models_and_anchors_and_leaderboard_prints_it(tmp_path: Path) -> None:
    layout, (a, b) = new_run(tmp_path)
    code, out = invoke("promote", str(layout.root), "--variant", VARIANT, "--model", f"policy#{a}")
    assert code == 0, out
    code, out = invoke(
        "tournament", str(layout.root), "--variant", VARIANT, "--participants", f"policy#{b}", "--local"
    )
    assert code == 0, out
    history = load_match_history(layout, VARIANT)
    assert len(history.files) == 1
    # 4 participants (2 models, random, heuristic): 6 pairs of 1 group of 2 games
    assert len(history.groups) == 6
    board = read_leaderboard(layout.leaderboard_json(VARIANT))
    assert sorted(row["participant"] for row in board["rows"]) == sorted(
        ["random", "heuristic", f"policy#{a}", f"policy#{b}"]
    )
    assert board["games"] == 12
    code, printed = invoke("leaderboard", str(layout.root))
    assert code == 0 and printed == layout.leaderboard_md(VARIANT).read_text()
    assert "| `heuristic` |" in printed and "pinned" in printed
    code, printed = invoke("leaderboard", str(layout.root), "--variant", VARIANT)
    assert code == 0 and "# square8_2p leaderboard" in printed


def test_tournament_seats_the_configured_anchors_only(tmp_path: Path) -> None:
    layout, (a, b) = new_run(tmp_path)
    layout.run_config.write_text(
        RUN_CONFIG
        + "promotion:\n  anchors:\n    - {player: random, groups: 1, min_score: 0.0, max_score_drop: null}\n"
    )
    code, out = invoke(
        "tournament", str(layout.root), "-v", VARIANT, "-p", f"policy#{a}", "-p", f"policy#{b}", "--local"
    )
    assert code == 0, out
    assert "3 participants" in out
    board = read_leaderboard(layout.leaderboard_json(VARIANT))
    assert sorted(row["participant"] for row in board["rows"]) == sorted(
        ["random", f"policy#{a}", f"policy#{b}"]
    )
    seated = {p.id for g in load_match_history(layout, VARIANT).groups for p in g.lineup}
    assert "heuristic" not in seated and len(load_match_history(layout, VARIANT).groups) == 3


def test_swiss_tournament_plays_rounds(tmp_path: Path) -> None:
    layout, (a, b) = new_run(tmp_path)
    code, out = invoke(
        "tournament",
        str(layout.root),
        "--variant",
        VARIANT,
        "-p",
        f"policy#{a}",
        "-p",
        f"policy#{b}",
        "--format",
        "swiss",
        "--local",
    )
    assert code == 0, out
    history = load_match_history(layout, VARIANT)
    assert [f.path.name for f in history.files] == ["round-001.jsonl", "round-002.jsonl", "round-003.jsonl"]
    pairs = [{p.id for p in g.lineup} for f in history.files[:2] for g in f.groups]
    assert len(pairs) == 4 and len({frozenset(p) for p in pairs}) == 4  # no rematch in the first two rounds


def test_tournament_refuses_without_models_or_with_a_foreign_one(tmp_path: Path) -> None:
    layout, _ = new_run(tmp_path, models=0)
    code, out = invoke("tournament", str(layout.root), "--variant", VARIANT, "--local")
    assert code == 2 and "has no models to rate" in out
    code, out = invoke("tournament", str(layout.root), "--variant", VARIANT, "-p", "e" * 64, "--local")
    assert code == 2 and "square8_2p has no model" in out
    code, out = invoke("tournament", str(layout.root), "--variant", "hex8_2p", "-p", "e" * 64, "--local")
    assert code == 2 and "plays square8_2p" in out
    code, out = invoke("tournament", str(layout.root), "--variant", VARIANT, "-p", "e" * 64)
    assert code == 2 and "square8_2p has no model" in out  # submitting refuses before submitting
    assert not layout.matches_root(VARIANT).exists()


def test_leaderboard_without_one_is_an_error(tmp_path: Path) -> None:
    layout, _ = new_run(tmp_path, models=0)
    code, out = invoke("leaderboard", str(layout.root))
    assert code == 2 and "no leaderboard" in out and "tournament" in out
    code, out = invoke("leaderboard", str(layout.root), "--variant", "square8_9p")
    assert code == 2 and "--variant: square8 is played by 2, 3 or 4 players, not 9" in out


def test_promote_and_rollback_directly_then_through_requests(tmp_path: Path) -> None:
    layout, (a, b) = new_run(tmp_path)
    assert invoke("promote", str(layout.root), "-v", VARIANT, "--model", a)[0] == 0
    first = layout.best(VARIANT).read_bytes()
    code, out = invoke("promote", str(layout.root), "-v", VARIANT, "--model", b, "--reason", "try it")
    assert code == 0 and f"gumbel@4#{b}" in out
    assert invoke("rollback", str(layout.root), "-v", VARIANT, "--to", a)[0] == 0
    assert layout.best(VARIANT).read_bytes() == first
    fake_live_lease(layout)
    code, out = invoke("promote", str(layout.root), "-v", VARIANT, "--model", b)
    assert code == 0 and "queued" in out and "controller-host" in out
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT)
    assert code == 0 and "queued" in out
    assert len(list(layout.requests_dir.glob("*.json"))) == 2
    assert layout.best(VARIANT).read_bytes() == first
    assert [r["event"] for r in promotion_history(layout, VARIANT)] == ["promote", "promote", "rollback"]


def test_promote_refuses_a_model_the_run_does_not_have(tmp_path: Path) -> None:
    layout, _ = new_run(tmp_path)
    code, out = invoke("promote", str(layout.root), "-v", VARIANT, "--model", "f" * 64)
    assert code == 2 and "has no model" in out
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT)
    assert code == 2 and "nothing has been promoted" in out
    assert read_best(layout, VARIANT) is None


@dataclass(frozen=True)
class Strong(HeuristicPlayer):
    """The heuristic under another name, so it is not the heuristic anchor."""

    kind: str = "strong"


@dataclass(frozen=True)
class Weak(RandomPlayer):
    kind: str = "weak"


FAST_GATE = PromotionSection(
    sprt=SprtSection(min_groups=4, max_groups=40),
    anchors=(
        AnchorGate(player="random", groups=2, min_score=0.5),
        AnchorGate(player="heuristic", groups=2, min_score=0.0),
    ),
)


def _cheap_play():  # type: ignore[no-untyped-def]
    players = {"strong": Strong(), "weak": Weak(), "random": RandomPlayer(), "heuristic": HeuristicPlayer()}
    return game_player(Variant.model_validate(VARIANT), players, opening_moves=4, concurrent_games=8)


def test_gate_passes_a_stronger_candidate_and_fails_a_weaker_one() -> None:
    strong, weak = Participant(VARIANT, "strong"), Participant(VARIANT, "weak")
    passed = run_gate(strong, weak, FAST_GATE, _cheap_play(), batch_groups=4)
    assert passed.exit_code == PASS, passed.reasons
    assert passed.statistics["sprt"]["status"] == "accept"
    assert [a["anchor"] for a in passed.statistics["anchors"]] == ["random", "heuristic"]
    failed = run_gate(weak, strong, FAST_GATE, _cheap_play(), batch_groups=4)
    assert failed.exit_code == FAIL
    assert any("SPRT rejected" in reason for reason in failed.reasons)


def test_gate_with_zero_games_is_an_error_never_a_pass() -> None:
    strong, weak = Participant(VARIANT, "strong"), Participant(VARIANT, "weak")
    report = run_gate(strong, weak, FAST_GATE, lambda plans: PlayedGroups((), "halt"))
    assert report.exit_code == ERROR
    assert "zero game groups" in report.reasons[0]
    assert json.loads(json.dumps(report.to_json()))["verdict"] == "error"


def test_gate_command_exit_codes_from_checkpoint_files(tmp_path: Path) -> None:
    candidate, baseline, hexnet = tmp_path / "c.pt", tmp_path / "b.pt", tmp_path / "h.pt"
    candidate.write_bytes(tiny_checkpoint(1))
    baseline.write_bytes(tiny_checkpoint(2))
    hexnet.write_bytes(tiny_checkpoint(3, board="hex8"))
    config = tmp_path / "gate.yaml"
    config.write_text(GATE_CONFIG)
    common = ["--variant", VARIANT, "--player", "policy", "--config", str(config), "--json"]
    code, out = invoke("gate", "--candidate", str(candidate), "--baseline", str(baseline), *common)
    report = json.loads(out)
    assert code == report["exit_code"] and code in (PASS, FAIL)
    assert 2 <= report["statistics"]["sprt"]["groups"] <= 4
    code, out = invoke("gate", "--candidate", str(candidate), "--baseline", str(candidate), *common)
    assert code == ERROR and "the same participant" in json.loads(out)["reasons"][0]
    code, out = invoke("gate", "--candidate", str(hexnet), "--baseline", str(baseline), *common)
    assert code == ERROR and "hex8" in json.loads(out)["reasons"][0]
    code, out = invoke(
        "gate", "--candidate", str(tmp_path / "missing.pt"), "--baseline", str(baseline), *common
    )
    assert code == ERROR and "does not exist" in json.loads(out)["reasons"][0]
    code, out = invoke(
        "gate", "--candidate", str(candidate), "--baseline", str(baseline), *common, "--variant", "square9_2p"
    )
    assert code == ERROR and "--variant: unknown board 'square9'" in json.loads(out)["reasons"][0]


def test_tournament_refuses_while_a_controller_holds_the_lease(tmp_path: Path) -> None:
    layout, (a, _) = new_run(tmp_path)
    fake_live_lease(layout)
    code, out = invoke("tournament", str(layout.root), "--variant", VARIANT, "-p", a, "--local")
    assert code == 2 and "controller-host" in out and "refits the leaderboard itself" in out
    assert not layout.matches_root(VARIANT).exists()


def test_gate_text_report_names_the_verdict_and_the_evidence() -> None:
    strong, weak = Participant(VARIANT, "strong"), Participant(VARIANT, "weak")
    report = run_gate(strong, weak, FAST_GATE, _cheap_play(), batch_groups=4)
    text = _gate_text(report)
    assert text.startswith("gate PASS: strong against weak (square8_2p)")
    assert (
        f"{report.games} games" in text
        and report.games == 2 * report.statistics["sprt"]["groups"] + 2 * 2 * 2 * 2
    )
    assert "SPRT accept" in text and "against heuristic" in text


def test_tournament_refuses_an_unplayable_participant_before_playing(tmp_path: Path) -> None:
    layout, (a, _) = new_run(tmp_path)
    code, out = invoke(
        "tournament", str(layout.root), "-v", VARIANT, "-p", a, "-p", f"random@8#{a}", "--local"
    )
    assert code == 2 and "neither model nor budget" in out
    assert not layout.matches_root(VARIANT).exists()
