"""dump_config -> load_config gives an equal Config, for the defaults and for random valid configs.

The random configs are drawn from the models themselves (every field, its bounds and choices), so a
knob added later is covered without touching this file. The frozen YAML must also read the same
with a plain YAML 1.1 reader, so other tools can read `RUN/run.yaml`.
"""

from __future__ import annotations

import tempfile
import typing
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ringrift_hpc.config import (
    BOARDS,
    PLAYER_COUNTS,
    AnchorGate,
    Config,
    ConfigError,
    P2PSection,
    RunSection,
    SlurmJob,
    config_differences,
    dump_config,
    load_config,
    parse_config,
)
from ringrift_hpc.config.base import is_nullable, unwrap

# Text that YAML readers like to turn into something else.
_TRICKY = [
    *(
        "yes",
        "no",
        "on",
        "true",
        "null",
        "~",
        "1e3",
        "0123",
        "12:00:00",
        "1_000",
        ".5",
        "- a",
        "a: b",
        "#x",
        "",
    ),
    *(" a", "a ", "a\nb", "\x85", "\u2028", "\ufeff", "é", "\U0001f600"),
]
_TEXT = st.one_of(st.sampled_from(_TRICKY), st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
_VARIANT_NAMES = [f"{board}_{players}p" for board in BOARDS for players in PLAYER_COUNTS]


def _variant(name: str) -> st.SearchStrategy[Any]:
    board, players = name.rsplit("_", 1)
    return st.sampled_from([name, {"board": board, "players": int(players[:-1])}])


def _slurm_time() -> st.SearchStrategy[Any]:
    seconds = st.integers(1, 30 * 86400)
    return st.one_of(
        st.integers(1, 10_000),
        seconds.map(lambda s: f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"),
        seconds.map(lambda s: f"{s // 86400}-{s // 3600 % 24}:{s // 60 % 60}:{s % 60}"),
    )


_SPECIAL: dict[tuple[type[BaseModel], str], st.SearchStrategy[Any]] = {
    (RunSection, "name"): st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", fullmatch=True),
    (RunSection, "variants"): st.lists(
        st.sampled_from(_VARIANT_NAMES), min_size=1, max_size=12, unique=True
    ).flatmap(lambda names: st.tuples(*(_variant(n) for n in names)).map(list)),
    (SlurmJob, "time"): _slurm_time(),
    (SlurmJob, "mem"): st.one_of(
        st.none(), st.integers(1, 10**6), st.from_regex(r"[1-9][0-9]{0,5}[KMGTkmgt]?", fullmatch=True)
    ),
    (SlurmJob, "extra_sbatch_args"): st.lists(
        st.from_regex(r"--(mail-type|exclusive|nice|comment)(=[A-Za-z0-9,]+)?", fullmatch=True), max_size=3
    ),
    (P2PSection, "coordinators"): st.lists(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", fullmatch=True), max_size=5, unique=True
    ),
}


def _bounds(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in field.metadata:
        for kind, name in (
            (annotated_types.Ge, "ge"),
            (annotated_types.Gt, "gt"),
            (annotated_types.Le, "le"),
            (annotated_types.Lt, "lt"),
        ):
            if isinstance(item, kind):
                found[name] = getattr(item, name)
        if isinstance(item, annotated_types.MinLen):
            found["min_length"] = item.min_length
    return found


def _scalar(annotation: Any, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else -(10**6))
        high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else 10**6)
        return st.integers(low, high)
    if annotation is float:
        return st.floats(
            min_value=bounds.get("ge", bounds.get("gt", -1e6)),
            max_value=bounds.get("le", bounds.get("lt", 1e6)),
            exclude_min="gt" in bounds,
            exclude_max="lt" in bounds,
            allow_nan=False,
            allow_infinity=False,
        )
    if annotation is str:
        return _TEXT.filter(lambda text: len(text) >= bounds.get("min_length", 0))
    raise AssertionError(f"no strategy for {annotation!r}; add one to this test")


def _field(model: type[BaseModel], name: str, field: FieldInfo) -> st.SearchStrategy[Any]:
    for owner in model.__mro__:
        if (owner, name) in _SPECIAL:
            return _SPECIAL[(owner, name)]
    inner = unwrap(field.annotation)
    if typing.get_origin(inner) is tuple:
        item = unwrap(typing.get_args(inner)[0])
        if item is AnchorGate:
            players = st.lists(st.sampled_from(["random", "heuristic"]), unique=True, max_size=2)
            return players.flatmap(
                lambda ps: st.tuples(*(_section(AnchorGate, {"player": p}) for p in ps)).map(list)
            )
        strategy = st.lists(
            _section(item) if isinstance(item, type) and issubclass(item, BaseModel) else _scalar(item, {}),
            max_size=3,
        )
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        strategy = _section(inner)
    else:
        strategy = _scalar(inner, _bounds(field))
    return st.one_of(st.none(), strategy) if is_nullable(field.annotation) else strategy


def _section(
    model: type[BaseModel], fixed: dict[str, Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    fixed = fixed or {}
    required = {
        n: _field(model, n, f)
        for n, f in model.model_fields.items()
        if f.default is PydanticUndefined and f.default_factory is None and n not in fixed
    }
    optional = {
        n: _field(model, n, f) for n, f in model.model_fields.items() if n not in required and n not in fixed
    }
    return st.fixed_dictionaries({**{k: st.just(v) for k, v in fixed.items()}, **required}, optional=optional)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=_section(Config))
def test_random_valid_configs_round_trip(data: dict[str, Any]) -> None:
    try:
        config = parse_config(data, source="hypothesis")
    except ConfigError as error:
        # Independent draws can break a check across fields (min above max and the like).
        assume(not all(p.key in _CROSS_FIELD_KEYS for p in error.problems))
        raise AssertionError(f"unexpected rejection: {error}") from error
    text = dump_config(config)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.yaml"
        path.write_text(text, encoding="utf-8")
        assert load_config(path) == config
    assert yaml.safe_load(text) == config.model_dump(mode="json")


_CROSS_FIELD_KEYS = {
    "training.max_steps",
    "training.replay_window.max_samples",
    "promotion.sprt.max_groups",
    "promotion.sprt.elo1",
    "training.device",
    "selfplay.device",
    "evaluation.device",
    "p2p.dead_after_s",
    "p2p.lease_s",
}


def test_defaults_round_trip_and_list_every_key(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(Config()), encoding="utf-8")
    loaded = load_config(path)
    assert loaded == Config()
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["slurm"]["train"]["time"] == "04:00:00"


def test_configs_compare_by_value_and_are_immutable() -> None:
    first = parse_config({"selfplay": {"simulations": 10}}, source="a")
    assert first == parse_config({"selfplay": {"simulations": 10}}, source="b")
    assert first != parse_config({"selfplay": {"simulations": 11}}, source="c")
    assert hash(first) == hash(parse_config({"selfplay": {"simulations": 10}}, source="d"))
    try:
        first.selfplay.simulations = 3  # type: ignore[misc]
    except Exception as error:  # pydantic raises ValidationError for frozen models
        assert "frozen" in str(error)
    else:
        raise AssertionError("a frozen config accepted an assignment")


def test_variants_accept_names_and_mappings_and_dump_as_names() -> None:
    config = parse_config(
        {"run": {"variants": ["hex8_3p", {"board": "hexagonal", "players": 4}]}}, source="x"
    )
    assert [v.name for v in config.variants] == ["hex8_3p", "hexagonal_4p"]
    assert yaml.safe_load(dump_config(config))["run"]["variants"] == ["hex8_3p", "hexagonal_4p"]


def test_config_differences_name_each_changed_key() -> None:
    old = parse_config(
        {"run": {"variants": ["square8_2p"]}, "slurm": {"train": {"partition": "gpu"}}}, source="a"
    )
    new = parse_config(
        {"run": {"variants": ["square8_2p", "hex8_2p"]}, "slurm": {"train": {"partition": None, "time": 90}}},
        source="b",
    )
    assert config_differences(old, old) == ()
    assert config_differences(old, new) == (
        "run.variants: ['square8_2p'] -> ['square8_2p', 'hex8_2p']",
        "slurm.train.partition: 'gpu' -> null",
        "slurm.train.time: '04:00:00' -> '01:30:00'",
    )
