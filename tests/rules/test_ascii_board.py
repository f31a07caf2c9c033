"""The ASCII board notation: shapes, parsing, rendering and the JSON it produces."""

from __future__ import annotations

import pytest
from ascii_board import (
    BOARD_SPECS,
    Cell,
    board_rows,
    cells_from_json,
    parse_cells,
    render,
    sparse_text,
    state_json,
)

from ringrift_hpc import rules

HEX8_SAMPLE = """
    . . . . .
   . . . . . .
  . . m2 . . . .
 . . . . . . . .
. . . . 121 . . . #1
 . . . . . . . .
  . . . . . . .
   . . . . . .
    . . . . 2
"""


@pytest.mark.parametrize("board", sorted(BOARD_SPECS))
def test_rows_cover_every_cell_once(board: str) -> None:
    cells = [c for row in board_rows(board) for c in row]
    assert len(cells) == len(set(cells)) == BOARD_SPECS[board].cell_count


def test_hex_rows_place_cells_in_cube_coordinates() -> None:
    cells = parse_cells("hex8", HEX8_SAMPLE)
    assert cells == {
        (0, -2, 2): Cell(marker=2),
        (0, 0, 0): Cell(rings=(1, 2, 1)),
        (4, 0, -4): Cell(collapsed=1),
        (0, 4, -4): Cell(rings=(2,)),
    }


def test_square_rows_are_y_and_columns_are_x() -> None:
    text = sparse_text("square8", {"2,5": "21", "7,0": "m1"})
    lines = text.splitlines()
    assert lines[5].split()[2] == "21" and lines[0].split()[7] == "m1"


@pytest.mark.parametrize("board", sorted(BOARD_SPECS))
def test_render_inverts_parse(board: str) -> None:
    first, *_, last = [c for row in board_rows(board) for c in row]
    cells = {first: Cell(rings=(1, 1, 2)), last: Cell(collapsed=2)}
    assert parse_cells(board, render(board, cells)) == cells


def test_bad_shapes_and_tokens_name_the_row() -> None:
    with pytest.raises(ValueError, match="row 0 has 7 cells, expected 8"):
        parse_cells("square8", "\n".join([". " * 7] + [". " * 8] * 7))
    with pytest.raises(ValueError, match="bad cell token 'x1'"):
        parse_cells("square8", "\n".join(["x1 " + ". " * 7] + [". " * 8] * 7))
    with pytest.raises(ValueError, match="not on a hex8 board"):
        sparse_text("hex8", {"4,4,-8": "1"})


def test_state_json_keeps_every_colour_conserved() -> None:
    js = state_json("hex8", HEX8_SAMPLE, eliminated={1: 2})
    hands = {p["playerNumber"]: p["ringsInHand"] for p in js["players"]}
    assert hands == {1: 18 - 2 - 2, 2: 18 - 2}
    assert js["board"]["stacks"]["0,0,0"]["capHeight"] == 1
    assert js["players"][0]["territorySpaces"] == 1
    assert js["victoryThreshold"] == 18 and js["territoryVictoryMinimum"] == 31


@pytest.mark.parametrize("board", sorted(BOARD_SPECS))
def test_engine_round_trips_an_ascii_position(board: str) -> None:
    first, second, *_ = [c for row in board_rows(board) for c in row]
    text = sparse_text(board, {",".join(map(str, first)): "211", ",".join(map(str, second)): "m2"})
    state = rules.state_from_json(state_json(board, text, phase="ring_placement"))
    assert cells_from_json(rules.state_to_json(state)) == parse_cells(board, text)
