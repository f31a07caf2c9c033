"""spec_fields: a spec's JSON is checked against the dataclass's own fields and annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from ringrift_hpc.jobs.spec_json import spec_fields


class DemoError(ValueError):
    pass


@dataclass(frozen=True)
class Demo:
    name: str
    count: int
    rate: float
    extra: dict[str, Any]
    items: tuple[int, ...]
    budget: float | None = None


GOOD = {"name": "a", "count": 2, "rate": 1, "extra": {}, "items": [1], "budget": None}


def parse(doc: object) -> dict[str, Any]:
    return spec_fields(Demo, json.dumps(doc), source="demo.json", error=DemoError)


def test_a_good_document_comes_back_as_its_fields() -> None:
    assert parse(GOOD) == GOOD
    assert parse({**GOOD, "budget": 2.5})["budget"] == 2.5


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([GOOD], r"demo.json: expected a JSON object of Demo fields, got list"),
        ({**GOOD, "nmae": "a"}, r"demo.json: unknown field\(s\) nmae; the fields are name, count, rate"),
        ({k: v for k, v in GOOD.items() if k != "count"}, r"missing field\(s\) count"),
        ({**GOOD, "count": 2.0}, r"field 'count' is 2.0; it must be an integer"),
        ({**GOOD, "count": True}, r"field 'count' is True; it must be an integer"),
        ({**GOOD, "rate": "1"}, r"field 'rate' is '1'; it must be a number"),
        ({**GOOD, "extra": []}, r"field 'extra' is \[\]; it must be an object"),
        ({**GOOD, "items": {}}, r"field 'items' is \{\}; it must be a list"),
        ({**GOOD, "budget": "x"}, r"field 'budget' is 'x'; it must be a number or null"),
        ({**GOOD, "name": None}, r"field 'name' is None; it must be a string"),
    ],
)
def test_each_problem_names_the_source_and_the_field(doc: object, message: str) -> None:
    with pytest.raises(DemoError, match=message):
        parse(doc)


def test_invalid_json_names_the_writer() -> None:
    with pytest.raises(ValueError, match=r"demo.json: not valid JSON .*; write it with Demo.to_json"):
        spec_fields(Demo, "{", source="demo.json")
