"""The match job: seat rotation, cross-variant refusal, zero-game tasks, the published match file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from tiny_nets import publish_model, tiny_checkpoint

from ringrift_hpc.jobs.evaluate import (
    MatchSpec,
    NoGamesPlayedError,
    run_match,
)
from ringrift_hpc.jobs.evaluate_games import GroupPlan, opening
from ringrift_hpc.jobs.registry import run_from_spec_file
from ringrift_hpc.rating.match_files import load_match_history
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import CrossVariantError, rotation_seats
from ringrift_hpc.store import RunLayout, read_manifest

RANDOM = "random"
HEURISTIC = "heuristic"


def lineup(variant: str, *kinds: str) -> tuple[Participant, ...]:
    return tuple(Participant(variant=variant, kind=kind) for kind in kinds)


def spec(root: Path, variant: str, lineups: list[tuple[Participant, ...]], **extra: object) -> MatchSpec:
    plans = tuple(GroupPlan(lineup=line, seed=1000 + k) for k, line in enumerate(lineups))
    return MatchSpec(
        run_root=str(root),
        variant=variant,
        eval_id="eval-1",
        task="000000",
        groups=plans,
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        ("square8_2p", (HEURISTIC, RANDOM)),
        ("square8_3p", (HEURISTIC, RANDOM, RANDOM)),
        ("hex8_4p", (RANDOM, HEURISTIC, RANDOM, HEURISTIC)),
    ],
)
def test_every_participant_takes_every_seat_once_per_group(
    tmp_path: Path, variant: str, kinds: tuple[str, ...]
) -> None:
    line = lineup(variant, *kinds)
    result = run_match(spec(tmp_path, variant, [line, line], concurrent_games=2))
    history = load_match_history(RunLayout(tmp_path), variant)
    assert [f.path for f in history.files] == [result.path]
    groups = history.groups
    assert len(groups) == 2 and result.games == 2 * len(kinds)
    per_lineup = Counter(p.id for p in line)
    for group in groups:
        assert len(group.games) == len(kinds)
        for seat in range(len(kinds)):
            assert Counter(game.seats[seat] for game in group.games) == per_lineup
        assert [game.seats for game in group.games] == [rotation_seats(line, r) for r in range(len(kinds))]
        assert all(game.moves > 0 and game.duration_s >= 0 for game in group.games)
    assert groups[0].opening_seed != groups[1].opening_seed


def test_group_games_share_one_opening() -> None:
    a = opening("square8", 2, 7, 6)
    b = opening("square8", 2, 7, 6)
    c = opening("square8", 2, 8, 6)
    assert a.move_count == b.move_count == 6
    assert a.cells == b.cells and a.stacks == b.stacks
    assert (a.cells, a.stacks) != (c.cells, c.stacks)


def test_cross_variant_match_is_refused_before_any_game(tmp_path: Path) -> None:
    mixed = (Participant("square8_2p", HEURISTIC), Participant("hex8_2p", RANDOM))
    with pytest.raises(CrossVariantError, match="hex8_2p/random"):
        spec(tmp_path, "square8_2p", [mixed])
    good = json.loads(spec(tmp_path, "square8_2p", [lineup("square8_2p", HEURISTIC, RANDOM)]).to_json())
    good["groups"][0]["lineup"][1]["variant"] = "hex8_2p"
    doc = json.dumps(good)
    path = tmp_path / "spec.json"
    path.write_text(doc)
    with pytest.raises(CrossVariantError):
        run_from_spec_file("evaluate", path)
    assert not (tmp_path / "variants").exists()


def test_a_task_that_played_no_game_fails_and_publishes_nothing(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.halt.write_text("stop\n")
    with pytest.raises(NoGamesPlayedError, match="completed no game group"):
        run_match(spec(tmp_path, "square8_2p", [lineup("square8_2p", HEURISTIC, RANDOM)]))
    assert load_match_history(layout, "square8_2p").files == ()


def test_an_empty_match_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="groups is empty"):
        spec(tmp_path, "square8_2p", [])


def test_spec_round_trips_and_rerun_is_a_no_op(tmp_path: Path) -> None:
    match = spec(tmp_path, "hex8_2p", [lineup("hex8_2p", RANDOM, HEURISTIC)], opening_moves=2)
    assert MatchSpec.from_json(match.to_json()) == match
    path = tmp_path / "spec.json"
    path.write_text(match.to_json())
    first = run_from_spec_file("evaluate", path)
    again = run_from_spec_file("evaluate", path)
    assert again.already_published and (again.path, again.games) == (first.path, first.games)
    assert read_manifest(first.path).manifest.metadata["cpu_seconds"] > 0


def test_spec_refuses_unknown_fields_and_unplayable_participants(tmp_path: Path) -> None:
    match = spec(tmp_path, "hex8_2p", [lineup("hex8_2p", RANDOM, HEURISTIC)])
    with pytest.raises(ValueError, match="unknown field"):
        MatchSpec.from_json(match.to_json().replace('"device"', '"devise"'))
    with pytest.raises(ValueError, match="needs a budget"):
        spec(
            tmp_path,
            "hex8_2p",
            [(Participant("hex8_2p", RANDOM), Participant("hex8_2p", "gumbel", 0, "a" * 64))],
        )


def test_network_participants_play_from_the_run_models_at_their_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    threads = torch.get_num_threads()
    data = tiny_checkpoint(0)
    model = publish_model(tmp_path, "square8_2p", data)
    path = RunLayout(tmp_path).model_weights("square8_2p", model)
    searcher = Participant("square8_2p", "gumbel", 2, model)
    prior = Participant("square8_2p", "policy", 0, model)
    try:
        run_match(
            spec(tmp_path, "square8_2p", [(searcher, prior)], device="cpu", gumbel_actions=2, opening_moves=2)
        )
    finally:
        torch.set_num_threads(threads)
    (group,) = load_match_history(RunLayout(tmp_path), "square8_2p").groups
    assert {p.id for p in group.lineup} == {f"gumbel@2#{model}", f"policy#{model}"}
    path.write_bytes(data + b"x")  # the file no longer holds the model its name promises
    with pytest.raises(ValueError, match="re-publish the model"):
        run_match(
            MatchSpec.from_json(
                spec(tmp_path, "square8_2p", [(searcher, prior)], device="cpu")
                .to_json()
                .replace("000000", "000001")
            )
        )
