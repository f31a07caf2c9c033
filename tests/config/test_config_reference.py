"""docs/config.md is the generated reference, complete and up to date."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ringrift_hpc.config import Config, config_reference_markdown
from ringrift_hpc.config.reference import REGENERATE

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _sections(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    found = [(path, model)]
    for name, field in model.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default
        if isinstance(default, BaseModel):
            found += _sections(type(default), f"{path}.{name}" if path else name)
    return found


def test_committed_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == config_reference_markdown(), (
        f"docs/config.md is out of date; regenerate it with: {REGENERATE}"
    )


def test_reference_documents_every_key_of_every_section() -> None:
    text = config_reference_markdown()
    for path, model in _sections(Config, ""):
        heading = f"## `{path}`" if path else "## Top level"
        assert heading in text, f"section {path} missing from the reference"
        table = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for name, field in model.model_fields.items():
            assert field.description, f"{path}.{name} has no description"
            assert f"| `{name}` |" in table, f"{path}.{name} missing from the reference"


def test_reference_lists_the_anchor_items_and_bounds() -> None:
    text = config_reference_markdown()
    anchors = text.split("## `promotion.anchors`", 1)[1].split("\n## ", 1)[0]
    assert "Each list item is a mapping with these keys." in anchors
    assert "| `player` | one of `random`, `heuristic` | *required* |" in anchors
    assert "| `alpha` | number, > 0, < 1 | `0.05` |" in text
    assert "`a100\\|h100`" in text  # a pipe inside a cell must not split the table
