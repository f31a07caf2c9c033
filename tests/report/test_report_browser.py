"""The report in a real browser: headless Chromium opens `index.html` from disk and every chart
image renders (the page's own load check marks `<body>`), and a missing image is reported.

Needs Debian's `chromium` (/usr/bin/chromium); skipped without it, unless RINGRIFT_TEST_CHROMIUM=1
(bin/test installs it and sets that as root): then it fails, so CI never passes by skipping."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from report_run import T0, make_report_run

from ringrift_hpc.config import load_config
from ringrift_hpc.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
BODY = re.compile(r'<body data-images="(\d+)" data-broken-images="([^"]*)">')


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found; install Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("RINGRIFT_TEST_CHROMIUM") == "1":
            pytest.fail(f"{message} (RINGRIFT_TEST_CHROMIUM=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


def _loaded(browser: Path, index: Path, profile: Path) -> tuple[int, list[str]]:
    """(images on the page, those that did not render) once Chromium has loaded `index`."""
    done = subprocess.run(
        [
            str(browser),
            "--headless=new",
            "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            index.as_uri(),
        ],
        check=False,  # the page's mark below says what went wrong
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = BODY.search(done.stdout)
    assert body is not None, (
        f"the page's load check did not run:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return int(body[1]), body[2].split()


def test_every_chart_renders_in_chromium(chromium: Path, tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    index = write_report(layout, load_config(layout.run_config), now=T0)
    images, broken = _loaded(chromium, index, tmp_path / "profile")
    assert (images, broken) == (5, [])
    (gone,) = layout.report_dir.glob("losses-*.png")
    gone.unlink()
    assert _loaded(chromium, index, tmp_path / "profile") == (5, [gone.name])
