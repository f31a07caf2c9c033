"""`promote --candidate FILE`: validation, import into the model store, the gate, --force, the
gate file, and the walk back of `rollback`, on a tiny run.

The gate's verdicts here never depend on how a model plays: the anchors ask for a score of at
least 0 with no comparison to the best, and the SPRT settings decide after one group whatever
its score (see `ALWAYS_ACCEPT` and `NEVER_ACCEPT`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from rating_cli import invoke
from tiny_nets import publish_model, write_checkpoint

from ringrift_hpc.ai.net import NetConfig, PolicyValueNet
from ringrift_hpc.config import NetworkSection
from ringrift_hpc.loop.requests import apply_pending_requests, pending_request_files
from ringrift_hpc.rating.best import promotion_history, read_best
from ringrift_hpc.store import RunLayout, atomic_write_json, read_manifest

VARIANT = "square8_2p"
NETWORK = NetworkSection(channels=8, blocks=1, value_hidden=8)
RUN_CONFIG = """\
version: 1
executor: local
run: {name: promote, variants: [square8_2p], seed: 3}
network: {channels: 8, blocks: 1, value_hidden: 8}
selfplay: {simulations: 2, device: cpu}
evaluation: {concurrent_games: 4, device: cpu}
promotion:
  sprt: {min_groups: 1, max_groups: 2}
  anchors:
    - {player: random, groups: 1, min_score: 0.0, max_score_drop: null}
"""
# The anchors of both files pass whatever the scores: at least 0, no comparison with the best.
ANCHORS = "  anchors:\n    - {player: random, groups: 1, min_score: 0.0, max_score_drop: null}\n"
# Upper Wald bound log(0.5 / 0.9) < 0 and a one-group LLR of at least -0.006 (elo1 - elo0 = 1):
# the test accepts after the first group, whoever won it.
ALWAYS_ACCEPT = (
    "version: 1\npromotion:\n"
    "  sprt: {elo0: 0, elo1: 1, alpha: 0.9, beta: 0.5, min_groups: 1, max_groups: 1}\n" + ANCHORS
)
# Upper bound log(0.95 / 0.05) = 2.9 and a one-group LLR of at most 0.006: capped, rejected.
NEVER_ACCEPT = (
    "version: 1\npromotion:\n"
    "  sprt: {elo0: 0, elo1: 1, alpha: 0.05, beta: 0.05, min_groups: 1, max_groups: 1}\n" + ANCHORS
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def new_run(tmp_path: Path) -> RunLayout:
    layout = RunLayout(tmp_path / "run")
    layout.root.mkdir()
    layout.run_config.write_text(RUN_CONFIG)
    return layout


def checkpoint(
    path: Path, seed: int, *, board: str = "square8", network: NetworkSection = NETWORK
) -> tuple[Path, str]:
    """A checkpoint file of a network made for `board`, 2 players; returns (path, model id)."""
    torch.manual_seed(seed)
    return path, write_checkpoint(path, PolicyValueNet(NetConfig.from_section(network), board, 2))


def gate_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    return str(path)


def promote(layout: RunLayout, *args: str) -> tuple[int, str]:
    return invoke("promote", str(layout.root), "--variant", VARIANT, *args)


def fake_live_lease(layout: RunLayout) -> None:
    now = time.time()
    atomic_write_json(
        layout.lease,
        {
            "format": "ringrift-hpc.lease",
            "format_version": 1,
            "host": "controller-host",
            "pid": 4242,
            "nonce": "ef" * 16,
            "token": 3,
            "acquired_at": now - 5,
            "expires_at": now + 600,
            "released": False,
        },
    )


def test_a_checkpoint_that_does_not_fit_the_run_is_refused_naming_file_field_and_fix(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    hexnet, _ = checkpoint(tmp_path / "hex.pt", 1, board="hex8")
    wide, _ = checkpoint(
        tmp_path / "wide.pt", 1, network=NetworkSection(channels=16, blocks=1, value_hidden=8)
    )
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    cases = [
        (hexnet, "variant: checkpoint hex8 2p, expected square8 2p"),
        (wide, "net_config (checkpoint vs expected): channels 16 vs 8"),
        (junk, "is not a ringrift-hpc checkpoint"),
        (tmp_path / "missing.pt", "does not exist"),
    ]
    for path, field in cases:
        code, out = promote(layout, "--candidate", str(path), "--force")
        assert code == 2, out
        assert str(path) in out and field in out
        if path in (hexnet, wide):
            assert "fix: bring a checkpoint of square8_2p" in out and str(layout.run_config) in out
    assert not layout.models_dir(VARIANT).exists()
    assert read_best(layout, VARIANT) is None


def test_option_mistakes_are_refused_with_the_fix(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    path, _ = checkpoint(tmp_path / "new_model.pt", 1)
    code, out = promote(layout, "--model", str(path))
    assert code == 2 and f"use --candidate {path}" in out
    code, out = promote(layout, "--model", "new_model.pt")
    assert code == 2 and "--candidate new_model.pt" in out
    assert promote(layout)[0] == 2
    code, out = promote(layout, "--model", "a" * 64, "--candidate", str(path))
    assert code == 2 and "--model ID" in out
    code, out = promote(layout, "--model", "a" * 64, "--force")
    assert code == 2 and "go with --candidate" in out
    code, out = promote(layout, "--candidate", str(path), "--force", "--gate-config", str(path))
    assert code == 2 and "drop one of them" in out


def test_force_imports_the_checkpoint_and_promotes_it_recorded_as_forced(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    path, model = checkpoint(tmp_path / "new_model.pt", 1)
    code, out = promote(layout, "--candidate", str(path), "--force")
    assert code == 0, out
    assert f"model {model} imported as variants/{VARIANT}/models/{model}.pt" in out
    assert f"best was nothing, is now gumbel@2#{model}" in out and "forced" in out
    meta = read_manifest(layout.model_weights(VARIANT, model)).manifest.metadata
    assert meta["kind"] == "imported" and meta["source"] == str(path.resolve())
    assert meta["net_config"] == NetConfig.from_section(NETWORK).to_dict()
    (record,) = promotion_history(layout, VARIANT)
    assert record["statistics"]["forced"] is True and record["statistics"]["manual"] is True
    assert record["statistics"]["source"] == str(path)
    # The same file again: already in the store, already the best.
    code, out = promote(layout, "--candidate", str(path), "--force")
    assert code == 2 and "already in the run" in out and "is already the best" in out


def test_a_first_model_is_promoted_on_the_anchor_gate(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    path, model = checkpoint(tmp_path / "first.pt", 1)
    code, out = promote(layout, "--candidate", str(path))
    assert code == 0, out
    assert "gate PASS" in out and "no best yet" in out
    assert read_best(layout, VARIANT)["model_id"] == model  # type: ignore[index]
    (record,) = promotion_history(layout, VARIANT)
    assert record["event"] == "promote" and record["best"] is None
    assert record["statistics"]["first_model"] is True and record["statistics"]["sprt"] is None
    assert record["statistics"]["anchors"][0]["anchor"] == "random"


def test_the_gate_against_the_best_decides_by_the_gate_file(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    best_path, best = checkpoint(tmp_path / "best.pt", 1)
    assert promote(layout, "--candidate", str(best_path), "--force")[0] == 0
    path, model = checkpoint(tmp_path / "candidate.pt", 2)

    code, out = promote(layout, "--candidate", str(path), "--gate-config", gate_file(tmp_path, NEVER_ACCEPT))
    assert code == 1, out
    assert "gate FAIL" in out and "SPRT rejected after 1 groups" in out and "not promoted" in out
    assert read_best(layout, VARIANT)["model_id"] == best  # type: ignore[index]
    assert layout.model_weights(VARIANT, model).exists()  # imported all the same
    assert len(promotion_history(layout, VARIANT)) == 1

    code, out = promote(layout, "--candidate", str(path), "--gate-config", gate_file(tmp_path, ALWAYS_ACCEPT))
    assert code == 0, out
    assert "gate PASS" in out and f"best was gumbel@2#{best}, is now gumbel@2#{model}" in out
    record = promotion_history(layout, VARIANT)[-1]
    assert record["best"] == f"gumbel@2#{best}" and record["candidate"] == f"gumbel@2#{model}"
    assert record["statistics"]["sprt"]["status"] == "accept"
    assert record["statistics"]["sprt"]["params"]["alpha"] == 0.9  # the gate file's test, not the run's
    assert record["reasons"] == []


def test_a_bad_gate_file_is_refused_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    path, _ = checkpoint(tmp_path / "first.pt", 1)
    bad = gate_file(tmp_path, "version: 1\nselfplay: {}\npromotion:\n  sprt: {elo0: 5, elo1: 1}\n")
    code, out = promote(layout, "--candidate", str(path), "--gate-config", bad)
    assert code == 2
    assert f"--gate-config: invalid config {bad} (2 problems)" in out
    assert "unknown key 'selfplay'" in out and "valid keys here: version, promotion" in out
    assert "promotion.sprt.elo1, line 4" in out and "fix: set elo1 above elo0" in out
    assert not layout.models_dir(VARIANT).exists()  # refused before anything was imported


def test_with_a_controller_a_passed_candidate_is_queued_and_applied_only_against_its_baseline(
    tmp_path: Path,
) -> None:
    layout = new_run(tmp_path)
    first_path, first = checkpoint(tmp_path / "first.pt", 1)
    assert promote(layout, "--candidate", str(first_path), "--force")[0] == 0
    fake_live_lease(layout)
    accept = gate_file(tmp_path, ALWAYS_ACCEPT)
    path, model = checkpoint(tmp_path / "candidate.pt", 2)
    code, out = promote(layout, "--candidate", str(path), "--gate-config", accept)
    assert code == 0 and "gate PASS" in out and "queued" in out and "controller-host" in out
    (request_file,) = pending_request_files(layout)
    doc = json.loads(request_file.read_text())
    assert doc["gate"]["baseline"] == f"gumbel@2#{first}" and doc["source"] == str(path)
    other_path, _ = checkpoint(tmp_path / "other.pt", 3)
    assert promote(layout, "--candidate", str(other_path), "--gate-config", accept)[0] == 0

    # The controller's tick: the first passed request goes in; the second was judged against a
    # best that is no longer current, so it is refused, not applied.
    first_outcome, second_outcome = apply_pending_requests(layout)
    assert first_outcome.applied and not second_outcome.applied
    assert "re-evaluate the candidate against the current best" in second_outcome.detail
    assert read_best(layout, VARIANT)["model_id"] == model  # type: ignore[index]


def test_rollback_walks_back_along_the_promotions_and_says_what_it_did(tmp_path: Path) -> None:
    layout = new_run(tmp_path)
    a, b, c = (publish_model(layout.root, VARIANT, bytes([seed]) * 8) for seed in range(3))
    for model in (a, b, c):
        assert promote(layout, "--model", model)[0] == 0
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT)
    assert code == 0, out
    assert f"best was gumbel@2#{c}, is now gumbel@2#{b}" in out
    assert f"a further rollback would return to gumbel@2#{a}" in out
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT)
    assert code == 0 and f"best was gumbel@2#{b}, is now gumbel@2#{a}" in out
    assert "first best on the promotion path" in out
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT)
    assert code == 2 and "no earlier best" in out and b in out and c in out
    code, out = invoke("rollback", str(layout.root), "-v", VARIANT, "--to", c)
    assert code == 0 and f"best was gumbel@2#{a}, is now gumbel@2#{c}" in out
    assert f"a further rollback would return to gumbel@2#{a}" in out
    assert read_best(layout, VARIANT)["model_id"] == c  # type: ignore[index]
