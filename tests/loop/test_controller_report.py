"""A run report that cannot be written never stops the loop: the controller journals the
failure as an error and goes on to finish the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_controller_faults import InProcessExecutor, _controller, _records
from tiny_run import make_tiny_run

from ringrift_hpc.report import charts


@pytest.mark.slow
def test_a_failing_report_is_journaled_and_the_loop_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("the chart cannot be drawn")

    monkeypatch.setattr(charts, "rating_chart", broken)
    layout = make_tiny_run(tmp_path / "run", generations=1)
    controller, journal = _controller(layout, InProcessExecutor(), lambda: 1000.0)
    with journal:
        for _ in range(100):
            controller.tick()
            if controller.done():
                break
    assert controller.done()
    events = [r["event"] for r in _records(layout)]
    assert events.count("decision_recorded") == 1
    assert events.index("error") == events.index("decision_recorded") + 1  # journaled at the decision
    (error,) = _records(layout, "error")
    assert "report: writing" in error["error"] and "RuntimeError: the chart cannot be drawn" in error["error"]
    assert not (layout.report_dir / "index.html").exists()
