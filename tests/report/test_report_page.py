"""`RUN/report/`: a page with one image per chart, each an existing PNG beside it, stating the
run, the time of writing and what each chart shows, with the leaderboard; written atomically
(the old page and its images stay whole when drawing fails, images a page names survive the
next write for a while); "no data yet" images for a new run; the `report` command."""

from __future__ import annotations

import os
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_run import FIRST, T0, V, append, make_report_run
from typer.testing import CliRunner

from ringrift_hpc.cli.app import app
from ringrift_hpc.config import load_config
from ringrift_hpc.loop.events import MatchIngested
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.rating.participants import short_participant_id
from ringrift_hpc.report import charts, publish, refresh_report, write_report
from ringrift_hpc.store import RunLayout, is_temp_name

PNG = b"\x89PNG\r\n\x1a\n"
CHARTS = 5  # the compute split, then four per variant


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.captions = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        self.captions += tag == "figcaption"


def _write(layout: RunLayout, now: float = T0 + 100) -> Path:
    return write_report(layout, load_config(layout.run_config), now=now)


def _page(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text())
    return page


def _images_exist(index: Path) -> list[str]:
    images = _page(index).images
    for name in images:
        assert (index.parent / name).read_bytes().startswith(PNG), name
    return images


def test_the_page_shows_every_chart_from_its_png_with_what_it_shows(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    index = _write(layout)
    assert index == layout.report_dir / "index.html"
    images = _images_exist(index)
    assert len(images) == len(set(images)) == CHARTS and _page(index).captions == CHARTS
    assert sorted(p.name for p in layout.report_dir.iterdir()) == sorted([*images, "index.html"])
    text = index.read_text()
    assert "Run tiny" in text and str(layout.root) in text
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(T0 + 100)) in text
    assert (
        short_participant_id(FIRST.id) in text and "<td><code>heuristic</code>" in text and "pinned" in text
    )
    assert "<script src" not in text and "<link" not in text  # works offline
    assert "Reserved CPU-hours of the ended jobs" in text  # no job of this run measured its CPU time


def test_the_compute_caption_says_when_the_split_is_measured(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    match = MatchIngested(variant=V, path="p", eval_id="eval-9", groups=1)
    append(layout, [match.model_copy(update={"cpu_seconds": 60.0})])
    text = _write(layout).read_text()
    assert "CPU-hours the jobs measured" in text and "Reserved CPU-hours" not in text


def test_a_new_run_gets_no_data_images(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"version: 1\nexecutor: local\nrun: {{name: fresh, variants: [{V}], seed: 1}}\n")
    layout = init_run(tmp_path / "run", load_config(config), source=str(config)).layout
    index = _write(layout)
    assert len(_images_exist(index)) == CHARTS
    assert "No leaderboard for square8_2p yet" in index.read_text()


def test_a_failed_drawing_leaves_the_old_page_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = make_report_run(tmp_path / "run")
    index = _write(layout)
    before = index.read_bytes()

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(charts, "loss_chart", broken)
    with pytest.raises(RuntimeError, match="no fonts"):
        _write(layout, now=T0 + 200)
    assert index.read_bytes() == before
    _images_exist(index)
    assert not [p for p in layout.report_dir.iterdir() if is_temp_name(p.name)]
    failure = refresh_report(layout, load_config(layout.run_config), now=T0 + 300)
    assert failure is not None and "RuntimeError: no fonts" in failure and str(layout.report_dir) in failure


def test_images_of_an_older_page_are_pruned_only_once_old(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run", rated=False)
    first = set(_images_exist(_write(layout)))
    make_report_run(tmp_path / "other")  # its leaderboard, copied in: the rating charts change
    os.replace(tmp_path / "other" / "variants" / V / "leaderboard.json", layout.leaderboard_json(V))
    second = set(_images_exist(_write(layout)))
    gone = first - second
    assert gone and all((layout.report_dir / name).exists() for name in gone)  # a page just loaded
    old = time.time() - publish.PRUNE_AFTER_S - 1
    for name in first:
        os.utime(layout.report_dir / name, (old, old))
    third = set(_images_exist(_write(layout)))
    assert third == second and not any((layout.report_dir / name).exists() for name in gone)


def test_the_report_command(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    done = CliRunner().invoke(app, ["report", str(layout.root)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == str(layout.report_dir / "index.html")
    _images_exist(layout.report_dir / "index.html")
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "is not a run directory (no run.yaml)" in missing.output
