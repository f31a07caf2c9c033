"""Leaderboard files: content of the three formats, and atomic rewrites that survive SIGKILL."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from rating_helpers import model_id, net, pair

from ringrift_hpc.config import Variant
from ringrift_hpc.rating.fit import fit_ratings
from ringrift_hpc.rating.leaderboard import (
    LeaderboardError,
    leaderboard_csv,
    leaderboard_document,
    leaderboard_markdown,
    read_leaderboard,
    write_leaderboard,
)
from ringrift_hpc.rating.participants import random_player
from ringrift_hpc.rating.table import table_from_groups
from ringrift_hpc.store import RunLayout, is_temp_name

CHILD = Path(__file__).with_name("leaderboard_child.py")
V = "square8_2p"


def _load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leaderboard_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_three_files_agree_and_are_readable(tmp_path: Path) -> None:
    a, b, r = net(V, "a"), net(V, "b"), random_player(V)
    groups = [pair(V, a, r, (1, 1), seed=1), pair(V, a, b, (1, 0.5), seed=2), pair(V, b, r, (1, 0), seed=3)]
    ratings = fit_ratings(table_from_groups(Variant.model_validate(V), groups))
    layout = RunLayout(tmp_path)
    json_path, md_path, csv_path = write_leaderboard(layout, ratings)

    doc = read_leaderboard(json_path)
    assert doc["variant"] == V and doc["anchor"] == "random" and doc["games"] == 6
    assert [row["participant"] for row in doc["rows"]] == [a.id, b.id, "random"]
    assert doc["rows"][-1]["rating"] == 0.0
    top = doc["rows"][0]
    assert top["lower"] < top["rating"] < top["upper"] and top["games"] == 4 and top["score"] == 0.875

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [row["participant"] for row in rows] == [row["participant"] for row in doc["rows"]]
    assert float(rows[0]["rating"]) == top["rating"]

    table = md_path.read_text()
    assert f"`gumbel@64#{model_id('a')[:12]}`" in table and a.id not in table  # hashes shortened
    assert "| 3 | `random` | 0 | pinned |" in table
    assert leaderboard_markdown(ratings, short_ids=False).count(a.id) == 1


def test_a_foreign_json_file_is_not_taken_for_a_leaderboard(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(LeaderboardError, match="format"):
        read_leaderboard(path)
    path.write_text("{")
    with pytest.raises(LeaderboardError, match="not valid JSON"):
        read_leaderboard(path)


def test_a_writer_killed_during_rewrites_leaves_complete_files(tmp_path: Path) -> None:
    child_module = _load_child()
    editions = [child_module.edition(k) for k in range(child_module.EDITIONS)]
    expected = {
        "leaderboard.json": {
            (json.dumps(leaderboard_document(e), indent=2, sort_keys=True) + "\n").encode() for e in editions
        },
        "leaderboard.md": {leaderboard_markdown(e).encode() for e in editions},
        "leaderboard.csv": {leaderboard_csv(e).encode() for e in editions},
    }
    assert all(len(contents) == len(editions) for contents in expected.values())  # editions differ
    rng = random.Random(0)
    for iteration in range(8):
        run = tmp_path / f"run-{iteration}"
        child = subprocess.Popen([sys.executable, str(CHILD), str(run)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        variant_dir = RunLayout(run).variant_dir("square8_2p")
        for name, contents in expected.items():
            assert (variant_dir / name).read_bytes() in contents, f"{name} is not a complete edition"
        leftovers = [p.name for p in variant_dir.iterdir() if p.name not in expected]
        assert all(is_temp_name(name) for name in leftovers), leftovers
