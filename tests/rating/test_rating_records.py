"""Participants, match groups and match files: validation at write time, round trips, quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rating_helpers import heuristic, net, pair, rotated_group

from ringrift_hpc.config import Variant
from ringrift_hpc.rating.match_files import encode_match_file, load_match_history, publish_match_file
from ringrift_hpc.rating.participants import (
    Participant,
    ParticipantError,
    parse_participant_id,
    random_player,
)
from ringrift_hpc.rating.records import (
    CrossVariantError,
    GameRecord,
    MatchGroup,
    MatchRecordError,
    group_from_json,
)
from ringrift_hpc.store import RunLayout, list_quarantined, publish_bytes

V2 = "square8_2p"
V4 = "hex8_4p"
SQUARE8_2P, HEX8_4P = Variant.model_validate(V2), Variant.model_validate(V4)


def test_participant_ids_are_stable_and_round_trip() -> None:
    candidate = net(V2, "a", budget=200)
    assert candidate.id == f"gumbel@200#{candidate.model_id}"
    assert random_player(V2).id == "random"
    assert heuristic(V2).id == "heuristic"
    for participant in (candidate, random_player(V2), heuristic(V2), Participant(V2, "mcts", 32)):
        assert parse_participant_id(V2, participant.id) == participant
    with pytest.raises(ParticipantError, match="malformed"):
        parse_participant_id(V2, "gumbel@200#nothex")
    with pytest.raises(ValueError, match="sha256"):
        Participant(V2, "gumbel", 10, model_id="candidate_square8.pth")


def test_group_json_round_trip_keeps_everything() -> None:
    lineup = [net(V4, "a"), heuristic(V4), random_player(V4), net(V4, "b")]
    group = rotated_group(lineup, [[1, 2, 3, 4], [2, 2, 1, 4], [4, 3, 2, 1], [1, 1, 1, 4]])
    data = encode_match_file(V4, [group])
    lines = data.decode().splitlines()
    assert json.loads(lines[0])["groups"] == 1
    again = MatchGroup(
        variant=HEX8_4P,
        lineup=group.lineup,
        opening_seed=group.opening_seed,
        games=tuple(
            GameRecord(**{**g, "seats": tuple(g["seats"]), "ranks": tuple(g["ranks"])})
            for g in json.loads(lines[1])["games"]
        ),
    )
    assert again == group


def test_participants_of_different_variants_cannot_share_a_group() -> None:
    with pytest.raises(CrossVariantError, match="only valid between participants of one variant"):
        pair(V2, net(V2, "a"), net("square8_4p", "a"), (1, 0))


def test_groups_of_another_variant_are_refused_by_the_writer(tmp_path: Path) -> None:
    group = pair(V2, net(V2, "a"), random_player(V2), (1, 1))
    with pytest.raises(CrossVariantError, match="hex8_2p"):
        publish_match_file(RunLayout(tmp_path), "hex8_2p", "eval-1", "task-0", [group])


def test_inconsistent_seats_and_ranks_are_rejected() -> None:
    a, b = net(V2, "a"), random_player(V2)
    with pytest.raises(MatchRecordError, match="competition ranks"):
        GameRecord(seats=(a.id, b.id), ranks=(2, 2), moves=10, seed=1, duration_s=1.0)
    with pytest.raises(MatchRecordError, match="one rank per seat"):
        GameRecord(seats=(a.id, b.id), ranks=(1,), moves=10, seed=1, duration_s=1.0)
    same_seats = tuple(
        GameRecord(seats=(a.id, b.id), ranks=(1, 2), moves=10, seed=s, duration_s=1.0) for s in (1, 2)
    )
    with pytest.raises(MatchRecordError, match="every participant must take every seat"):
        MatchGroup(variant=SQUARE8_2P, lineup=(a, b), opening_seed=1, games=same_seats)
    with pytest.raises(MatchRecordError, match="a group is 2 games"):
        MatchGroup(variant=SQUARE8_2P, lineup=(a, b), opening_seed=1, games=same_seats[:1])
    stranger = GameRecord(seats=(a.id, "heuristic"), ranks=(1, 2), moves=10, seed=1, duration_s=1.0)
    with pytest.raises(MatchRecordError, match="not in the lineup"):
        MatchGroup(variant=SQUARE8_2P, lineup=(a, b), opening_seed=1, games=(stranger, same_seats[0]))
    with pytest.raises(MatchRecordError, match="lineup of 2; it needs exactly 4"):
        MatchGroup(variant=HEX8_4P, lineup=(net(V4, "a"), random_player(V4)), opening_seed=1, games=())


def test_a_lineup_may_repeat_the_baseline_in_several_seats() -> None:
    lineup = [net(V4, "cand"), net(V4, "best"), net(V4, "best"), net(V4, "best")]
    group = rotated_group(lineup, [[1, 2, 3, 4], [4, 1, 2, 3], [2, 1, 3, 4], [1, 2, 2, 4]])
    points, comparisons = group.head_to_head(lineup[0].id, lineup[1].id)
    assert comparisons == 12
    assert points == 3 + 0 + 2 + 3


def test_a_group_with_a_bad_variant_field_names_the_place_the_value_and_the_fix() -> None:
    doc = pair(V2, net(V2, "a"), random_player(V2), (1, 0)).to_json()
    assert doc["variant"] == V2
    with pytest.raises(MatchRecordError) as caught:
        group_from_json({**doc, "variant": "square8_7p"}, where="m.jsonl:2")
    assert str(caught.value) == (
        "m.jsonl:2 field 'variant': square8 is played by 2, 3 or 4 players, not 7; "
        "use square8_2p, square8_3p or square8_4p"
    )
    with pytest.raises(MatchRecordError, match="m.jsonl:2 field 'variant': expected a variant name"):
        group_from_json({**doc, "variant": 2}, where="m.jsonl:2")


def test_an_empty_match_file_is_refused() -> None:
    with pytest.raises(MatchRecordError, match="played nothing failed"):
        encode_match_file(V2, [])


def test_match_files_round_trip_through_the_store(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    a, b, r = net(V2, "a"), net(V2, "b"), random_player(V2)
    first = [pair(V2, a, b, (1, 0.5), seed=1), pair(V2, a, r, (1, 1), seed=2)]
    second = [pair(V2, b, r, (0, 1), seed=3)]
    publish_match_file(layout, V2, "eval-1", "task-1", second)
    publish_match_file(layout, V2, "eval-1", "task-0", first)
    publish_match_file(layout, V2, "eval-1", "task-0", first)  # idempotent
    history = load_match_history(layout, V2)
    assert history.groups == (*first, *second)
    assert history.quarantined == ()
    assert load_match_history(layout, "hex8_2p").groups == ()


def test_a_corrupt_match_file_is_quarantined_and_the_rest_still_load(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    a, r = net(V2, "a"), random_player(V2)
    good = [pair(V2, a, r, (1, 1))]
    publish_match_file(layout, V2, "eval-1", "good", good)
    damaged = publish_match_file(layout, V2, "eval-1", "damaged", good)
    damaged.path.write_bytes(damaged.path.read_bytes().replace(b'"moves": 40', b'"moves": 41'))
    # Correct manifest, unreadable content (as a buggy writer would leave it).
    publish_bytes(layout.match_file(V2, "eval-2", "garbled"), b'{"format": "ringrift-hpc.matches"\n')
    # A well-formed file of another variant moved into this variant's directory.
    foreign = encode_match_file(
        "hex8_2p", [pair("hex8_2p", net("hex8_2p", "a"), random_player("hex8_2p"), (1, 1))]
    )
    publish_bytes(layout.match_file(V2, "eval-2", "foreign"), foreign)

    history = load_match_history(layout, V2)

    assert history.groups == tuple(good)
    reasons = {Path(q.original).name: q.reason for q in history.quarantined}
    assert set(reasons) == {"damaged.jsonl", "garbled.jsonl", "foreign.jsonl"}
    assert "sha256" in reasons["damaged.jsonl"]
    assert "not valid JSON" in reasons["garbled.jsonl"]
    assert "field 'variant' is 'hex8_2p'" in reasons["foreign.jsonl"]
    assert len(list_quarantined(layout)) == 3
    assert not layout.match_file(V2, "eval-1", "damaged").exists()
    assert load_match_history(layout, V2).quarantined == ()  # nothing left to quarantine
