"""SpecModel: strict, frozen, versioned specs whose errors name the source, the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field, ValidationError

from ringrift_hpc.config import Config
from ringrift_hpc.config.base import Float, Int, Str
from ringrift_hpc.config.spec_model import SPEC_VERSION, SpecModel
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.rating.participants import Participant, ParticipantError

GOLDEN = Path(__file__).parent / "golden"
# TrainSpec.key of golden/train_spec.json, computed by the dataclass TrainSpec before specs
# became pydantic models: the key names a training job's files and its journal task.
GOLDEN_TRAIN_KEY = "02075119b3a23160"


class DemoError(ValueError):
    pass


class Demo(SpecModel):
    error_class: ClassVar[type[ValueError]] = DemoError
    what: ClassVar[str] = "demo"

    name: Str
    count: Int = Field(ge=1)
    rate: Float
    extra: dict[str, Any]
    items: tuple[Int, ...]
    budget: Float | None = None


GOOD = {"name": "a", "count": 2, "rate": 1, "extra": {}, "items": [1], "budget": None}


def parse(doc: object) -> Demo:
    return Demo.from_json(json.dumps(doc), source="demo.json")


def test_a_good_document_comes_back_as_its_fields() -> None:
    demo = parse(GOOD)
    fields = (demo.name, demo.count, demo.rate, demo.extra, demo.items, demo.budget)
    assert fields == ("a", 2, 1.0, {}, (1,), None)
    assert parse({**GOOD, "budget": 2.5}).budget == 2.5


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([GOOD], r"^demo.json: expected a JSON object of Demo fields, got list$"),
        (
            {**GOOD, "nmae": "a"},
            r"^demo.json: unknown field\(s\) nmae; the fields are name, count, rate, extra, items, budget, "
            r"spec_version$",
        ),
        ({k: v for k, v in GOOD.items() if k != "count"}, r"^demo.json: missing field\(s\) count"),
        ({**GOOD, "count": 2.0}, r"^demo.json: field 'count' is 2.0; it must be an integer$"),
        ({**GOOD, "count": True}, r"^demo.json: field 'count' is True; it must be an integer$"),
        ({**GOOD, "count": "3"}, r"^demo.json: field 'count' is '3'; it must be an integer$"),
        ({**GOOD, "count": 0}, r"^demo.json: count = 0 must be at least 1$"),
        ({**GOOD, "rate": "1"}, r"field 'rate' is '1'; it must be a number$"),
        ({**GOOD, "rate": True}, r"field 'rate' is True; it must be a number$"),
        ({**GOOD, "extra": []}, r"field 'extra' is \[\]; it must be an object$"),
        ({**GOOD, "items": {}}, r"field 'items' is \{\}; it must be a list$"),
        ({**GOOD, "items": [1, "2"]}, r"field 'items\[1\]' is '2'; it must be an integer$"),
        ({**GOOD, "budget": "x"}, r"field 'budget' is 'x'; it must be a number or null$"),
        ({**GOOD, "name": None}, r"field 'name' is None; it must be a string$"),
        (
            {**GOOD, "spec_version": 2},
            r"spec_version 2: is format version 2, but this code reads version 1; "
            r"run the ringrift-hpc that wrote it, or write the spec again with Demo.to_json",
        ),
    ],
)
def test_each_problem_names_the_source_and_the_field(doc: object, message: str) -> None:
    with pytest.raises(DemoError, match=message):
        parse(doc)


def test_several_problems_are_listed_together() -> None:
    with pytest.raises(DemoError) as caught:
        parse({**GOOD, "count": 0, "rate": "x", "extra": 1})
    assert str(caught.value).splitlines() == [
        "demo.json: invalid demo:",
        "  count = 0 must be at least 1",
        "  field 'rate' is 'x'; it must be a number",
        "  field 'extra' is 1; it must be an object",
    ]


def test_invalid_json_names_the_writer() -> None:
    with pytest.raises(DemoError, match=r"demo.json: not valid JSON .*; write it with Demo.to_json"):
        Demo.from_json("{", source="demo.json")


def test_the_constructor_refuses_with_the_same_words() -> None:
    with pytest.raises(DemoError, match=r"^invalid demo: field 'count' is True; it must be an integer$"):
        Demo(name="a", count=True, rate=1.0, extra={}, items=())


def test_specs_are_frozen_and_replace_validates() -> None:
    demo = parse(GOOD)
    with pytest.raises(ValidationError):
        demo.count = 3  # type: ignore[misc]
    assert demo.replace(count=5).count == 5 and demo.count == 2
    with pytest.raises(DemoError, match="count = 0 must be at least 1"):
        demo.replace(count=0)


def test_the_version_is_written_and_a_file_without_it_is_version_1() -> None:
    demo = parse(GOOD)
    assert demo.spec_version == SPEC_VERSION == 1
    assert json.loads(demo.to_json())["spec_version"] == 1
    assert "spec_version" not in json.loads(demo.content_json())
    assert Demo.from_json(demo.to_json()) == demo


# The golden files were written by the dataclass specs this code replaced.


def _without_version(spec: SpecModel, indent: int | None) -> str:
    doc = json.loads(spec.to_json())
    assert doc.pop("spec_version") == SPEC_VERSION
    return json.dumps(doc, indent=indent, sort_keys=True)


def test_a_selfplay_spec_written_before_versions_reads_field_by_field() -> None:
    text = (GOLDEN / "selfplay_spec.json").read_text()
    spec = SelfplaySpec.from_json(text, source="selfplay_spec.json")
    assert spec == SelfplaySpec(
        run_root="/runs/golden", variant="hex8_3p", generation=2, task_index=7, model_id="ab" * 32,
        run_seed=11, games=24, time_budget_s=90.5, bootstrap_player="random", simulations=48,
        gumbel_actions=8, c_visit=40.0, c_scale=0.5, opening_sample_moves=3, concurrent_games=12,
        max_batch_size=256, device="cpu", walltime_margin_s=120.0,
    )  # fmt: skip
    assert spec.variant == Variant(board="hex8", players=3) and (spec.board, spec.num_players) == ("hex8", 3)
    # Written back, it is the old file plus the fields added since, at their defaults (which
    # reproduce the old behaviour: every move fully searched, outcome-only value targets).
    added = {"fast_simulations": 4, "full_search_fraction": 1.0, "value_search_weight": 0.0}
    assert json.loads(_without_version(spec, 2)) == {**json.loads(text), **added}


def test_a_train_spec_written_before_versions_reads_and_its_key_ignores_the_run_root() -> None:
    text = (GOLDEN / "train_spec.json").read_text()
    spec = TrainSpec.from_json(text, source="train_spec.json")
    written = json.loads(text)
    assert {name: getattr(spec, name) for name in written if name != "variant"} == {
        name: value for name, value in written.items() if name != "variant"
    }
    assert spec.variant.name == written["variant"] == "square8_2p"
    assert _without_version(spec, None) == text
    assert spec.key == GOLDEN_TRAIN_KEY
    assert spec.window is None and "window" not in json.loads(spec.to_json())
    assert spec.replace(seed=6).key != GOLDEN_TRAIN_KEY
    assert spec.replace(run_root="/another/mount/of/the/run").key == GOLDEN_TRAIN_KEY


def test_a_match_spec_written_before_versions_reads_field_by_field() -> None:
    text = (GOLDEN / "match_spec.json").read_text()
    spec = MatchSpec.from_json(text, source="match_spec.json")
    v = "square8_2p"
    net = Participant(v, "gumbel", 32, "ef" * 32)
    groups = (
        GroupPlan((net, Participant(v, "random")), 17),
        GroupPlan((Participant(v, "heuristic"), net), 18),
    )
    assert spec == MatchSpec(
        run_root="/runs/golden", variant=v, eval_id="eval-0003", task="000001", groups=groups,
        opening_moves=3, concurrent_games=4, max_batch_size=64, gumbel_actions=8, c_visit=25.0,
        c_scale=2.0, device="cuda", walltime_margin_s=60.0,
    )  # fmt: skip
    # Written back, it is the old file plus the decisive-move check at its default (off, the old play).
    assert json.loads(_without_version(spec, 2)) == {**json.loads(text), "decisive_moves": False}


def test_a_nested_problem_names_its_place() -> None:
    doc = json.loads((GOLDEN / "match_spec.json").read_text())
    doc["groups"][1]["lineup"][0]["budget"] = "8"
    where = r"groups\[1\].lineup\[0\]"
    with pytest.raises(ValueError, match=rf"^m.json: field '{where}.budget' is '8'; it must be an integer$"):
        MatchSpec.from_json(json.dumps(doc), source="m.json")
    doc = json.loads((GOLDEN / "match_spec.json").read_text())
    doc["groups"][0]["sed"] = 1
    unknown = r"^m.json: groups\[0\]: unknown field\(s\) sed; the fields are lineup, seed$"
    with pytest.raises(ValueError, match=unknown):
        MatchSpec.from_json(json.dumps(doc), source="m.json")
    del doc["groups"][0]["sed"], doc["groups"][0]["seed"]
    missing = r"^m.json: groups\[0\]: missing field\(s\) seed; the fields are lineup, seed$"
    with pytest.raises(ValueError, match=missing):
        MatchSpec.from_json(json.dumps(doc), source="m.json")
    doc = json.loads((GOLDEN / "match_spec.json").read_text())
    doc["groups"][0]["lineup"][1]["id"] = "heuristic"
    edited = r"^m.json: groups\[0\].lineup\[1\]: field 'id' is 'heuristic'"
    with pytest.raises(ParticipantError, match=edited):
        MatchSpec.from_json(json.dumps(doc), source="m.json")


def test_device_and_bootstrap_player_name_their_choices() -> None:
    doc = json.loads((GOLDEN / "selfplay_spec.json").read_text())
    with pytest.raises(ValueError, match=r"^s.json: device 'gpu' must be auto, cpu or cuda$"):
        SelfplaySpec.from_json(json.dumps({**doc, "device": "gpu"}), source="s.json")
    with pytest.raises(ValueError, match=r"^s.json: bootstrap_player 'mcts' must be random or heuristic$"):
        SelfplaySpec.from_json(json.dumps({**doc, "bootstrap_player": "mcts"}), source="s.json")


def test_every_spec_is_built_from_the_config_the_same_way(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "run": {"seed": 9},
            "selfplay": {"simulations": 12, "c_visit": 30.0, "max_batch_size": 64, "walltime_margin_s": 90},
            "evaluation": {"concurrent_games": 3, "device": "cpu"},
        }
    )
    selfplay = SelfplaySpec.from_config(
        config, run_root=tmp_path, variant="hex8_2p", generation=0, task_index=2, model_id="none"
    )
    assert selfplay.variant == Variant(board="hex8", players=2) and selfplay.run_root == str(tmp_path)
    assert (selfplay.run_seed, selfplay.simulations, selfplay.walltime_margin_s) == (9, 12, 90.0)
    plans = (GroupPlan((Participant("hex8_2p", "random"), Participant("hex8_2p", "heuristic")), 4),)
    hex8 = Variant(board="hex8", players=2)
    match = MatchSpec.from_config(
        config, run_root=tmp_path, variant=hex8, eval_id="e", task="t", groups=plans
    )
    section = config.selfplay
    assert not match.decisive_moves and not match.knobs.decisive_moves
    checked = MatchSpec.from_config(
        config.model_copy(update={"evaluation": config.evaluation.model_copy(update={"decisive_moves": True})}),
        run_root=tmp_path, variant=hex8, eval_id="e", task="t", groups=plans,
    )  # fmt: skip
    assert checked.knobs.config(16).decisive_moves
    assert match == MatchSpec(
        run_root=str(tmp_path), variant="hex8_2p", eval_id="e", task="t", groups=plans,
        opening_moves=section.opening_sample_moves, concurrent_games=3, max_batch_size=64,
        gumbel_actions=section.gumbel_actions, c_visit=30.0, c_scale=section.c_scale, device="cpu",
        walltime_margin_s=90.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"run_root 'rel': must be absolute"):
        MatchSpec.from_json(match.replace(run_root="/x").to_json().replace('"/x"', '"rel"'))
