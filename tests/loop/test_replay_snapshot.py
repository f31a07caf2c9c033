"""The replay snapshot: a restart from it and the journal's tail is a full replay, and any doubt
about it is a full replay."""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_controller_fake import FakeExecutor, _controller
from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobState, JobStatus
from ringrift_hpc.config import load_config
from ringrift_hpc.loop import replay_snapshot
from ringrift_hpc.loop.events import to_record
from ringrift_hpc.loop.ingest import ArtifactIndex
from ringrift_hpc.loop.job_figures import JobFigures
from ringrift_hpc.loop.replay_snapshot import Restart, restart, state_from_json, state_to_json
from ringrift_hpc.loop.state import replay_state
from ringrift_hpc.store import JournalWriter, RunLayout
from ringrift_hpc.store import atomic as atomic_module
from ringrift_hpc.store.journal import read_journal

GOLDEN = Path(__file__).parent / "golden" / "journal.jsonl"
VARIANT = "square8_2p"
# After the golden journal: a decision whose promotion history was never written (the controller
# died in between), an event of a newer controller, a shard quarantined, and a recorded decision.
EXTRA = [
    {
        "event": "decision",
        "variant": VARIANT,
        "candidate": "gumbel:abc",
        "model_id": "abc",
        "best": None,
        "promote": True,
        "reasons": ["sprt accepted"],
        "statistics": {"llr": 3.1, "games": 40},
        "eval_id": "eval-x",
        "time": 1.8e9,
        "token": 3,
    },
    {"event": "from_the_future", "time": 1.8e9 + 1, "token": 3},
    {"event": "quarantined", "variant": VARIANT, "path": "somewhere.h5", "reason": "bad", "time": 1.8e9 + 2},
    {"event": "decision_recorded", "variant": VARIANT, "candidate": "gumbel:other", "time": 1.8e9 + 3},
]


def _lines() -> list[bytes]:
    golden = GOLDEN.read_bytes().splitlines(keepends=True)
    return golden + [json.dumps(r, sort_keys=True).encode() + b"\n" for r in EXTRA]


LINES = _lines()


def _run(tmp_path: Path) -> RunLayout:
    return make_tiny_run(tmp_path / "run")


def _restart(layout: RunLayout) -> tuple[Restart, JobFigures]:
    figures = JobFigures.for_run(layout, load_config(layout.run_config))
    replayed = restart(
        layout, [VARIANT], read_journal(layout.journal), lambda: ArtifactIndex(layout), figures, now=0.0
    )
    return replayed, figures


def _derived(replayed: Restart, figures: JobFigures) -> tuple[Any, ...]:
    """Everything the controller takes from a restart."""
    return (
        replayed.state,
        replayed.shards.shards,
        replayed.artifacts.memory(),
        [to_record(e) for e in replayed.unrecorded],
        replayed.checkpoint.mark,
        replayed.checkpoint.state,
        figures.follow().totals,
    )


def _full(layout: RunLayout) -> tuple[Any, ...]:
    """What a restart without a snapshot derives (the snapshot is moved aside and back)."""
    aside = layout.replay_snapshot.with_name("aside.json")
    if layout.replay_snapshot.exists():
        layout.replay_snapshot.rename(aside)
    try:
        replayed, figures = _restart(layout)
        assert replayed.checkpoint.written[0] == 0
        return _derived(replayed, figures)
    finally:
        if aside.exists():
            aside.rename(layout.replay_snapshot)


def _snapshot_at(layout: RunLayout, records: int) -> None:
    """The journal's first `records` lines and a snapshot of them, as a controller leaves them."""
    layout.journal.write_bytes(b"".join(LINES[:records]))
    layout.replay_snapshot.unlink(missing_ok=True)
    replayed, figures = _restart(layout)
    figures.follow()
    assert replayed.checkpoint.save(
        replayed.shards, replayed.artifacts, figures, now=1e12, check=lambda: None
    )
    assert json.loads(layout.replay_snapshot.read_bytes())["job_figures"] is not None


def test_the_state_survives_its_json_with_every_field() -> None:
    state = replay_state([VARIANT], [json.loads(line) for line in LINES])
    assert state.jobs and state.variants[VARIANT].decision_history and state.errors
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state


def test_a_snapshot_and_the_tail_are_the_full_replay_at_many_cuts(tmp_path: Path) -> None:
    layout = _run(tmp_path)
    rng = random.Random(14)
    cuts = sorted({0, 1, len(LINES), *rng.sample(range(len(LINES)), 12)})
    for cut in cuts:
        _snapshot_at(layout, cut)
        for end in sorted({cut, len(LINES), rng.randint(cut, len(LINES))}):
            # The controller appended records after its last snapshot, then died.
            layout.journal.write_bytes(b"".join(LINES[:end]))
            replayed, figures = _restart(layout)
            assert replayed.checkpoint.written[0] == cut  # the snapshot was used
            assert _derived(replayed, figures) == _full(layout), (cut, end)


def test_the_unrecorded_decision_is_found_across_the_snapshot(tmp_path: Path) -> None:
    layout = _run(tmp_path)
    decision = len(LINES) - len(EXTRA) + 1
    _snapshot_at(layout, decision)
    layout.journal.write_bytes(b"".join(LINES))
    replayed, _ = _restart(layout)
    assert [e.candidate for e in replayed.unrecorded] == ["gumbel:abc"]


def test_a_torn_tail_after_the_snapshot_is_repaired_and_not_replayed(tmp_path: Path) -> None:
    layout = _run(tmp_path)
    _snapshot_at(layout, 500)
    layout.journal.write_bytes(b"".join(LINES[:600]) + LINES[600][:17])
    JournalWriter(layout.journal).close()
    replayed, figures = _restart(layout)
    assert replayed.checkpoint.written[0] == 500
    assert replayed.state.events == 600
    assert _derived(replayed, figures) == _full(layout)


def _edit(key: str, value: Any) -> Callable[[RunLayout], None]:
    def edit(layout: RunLayout) -> None:
        doc = json.loads(layout.replay_snapshot.read_bytes())
        doc[key] = value
        layout.replay_snapshot.write_text(json.dumps(doc))

    return edit


def _truncate_snapshot(layout: RunLayout) -> None:
    data = layout.replay_snapshot.read_bytes()
    layout.replay_snapshot.write_bytes(data[: len(data) // 2])


def _garbage(layout: RunLayout) -> None:
    layout.replay_snapshot.write_bytes(b"\x00\xff not json")


def _truncate_journal(layout: RunLayout) -> None:
    layout.journal.write_bytes(b"".join(LINES[:300]))


def _rewrite_journal(layout: RunLayout) -> None:
    """The same lengths, another last covered line (another run's journal, or an edited one)."""
    lines = list(LINES)
    lines[499] = lines[499].replace(b"1", b"2", 1) if b"1" in lines[499] else lines[499].upper()
    assert lines[499] != LINES[499] and len(lines[499]) == len(LINES[499])
    layout.journal.write_bytes(b"".join(lines))


def _another_line_end(layout: RunLayout) -> None:
    doc = json.loads(layout.replay_snapshot.read_bytes())
    doc["journal"]["offset"] -= 1
    layout.replay_snapshot.write_text(json.dumps(doc))


def _bad_state(layout: RunLayout) -> None:
    doc = json.loads(layout.replay_snapshot.read_bytes())
    doc["state"]["jobs"] = [{"task": "x", "ref": None}]
    layout.replay_snapshot.write_text(json.dumps(doc))


def _bad_figures(layout: RunLayout) -> None:
    doc = json.loads(layout.replay_snapshot.read_bytes())
    doc["job_figures"] = {"submitted": "nonsense"}
    layout.replay_snapshot.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_garbage, "Expecting value|not valid|codec"),
        (_truncate_snapshot, "Unterminated|Expecting|delimiter"),
        (_edit("format", "something-else"), "not a ringrift-hpc.replay-snapshot"),
        (_edit("format_version", 0), "format_version 0"),
        (_edit("code", "0" * 64), "other code"),
        (_edit("variants", ["hex8_2p"]), "of the variants"),
        (_truncate_journal, "covers"),
        (_rewrite_journal, "not the one it covered"),
        (_another_line_end, "no journal line ends"),
        (_bad_state, ""),
        (_bad_figures, ""),
    ],
)
def test_any_doubt_about_the_snapshot_is_a_full_replay_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[RunLayout], None], why: str
) -> None:
    layout = _run(tmp_path)
    _snapshot_at(layout, 500)
    layout.journal.write_bytes(b"".join(LINES))
    damage(layout)
    with caplog.at_level(logging.WARNING, logger=replay_snapshot.__name__):
        replayed, figures = _restart(layout)
    assert replayed.checkpoint.written[0] == 0  # replayed in full
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "replaying the whole journal" in warning
    assert any(part in warning for part in why.split("|"))
    assert _derived(replayed, figures) == _full(layout)


def test_a_missing_snapshot_is_a_full_replay_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = _run(tmp_path)
    layout.journal.write_bytes(b"".join(LINES))
    with caplog.at_level(logging.WARNING):
        replayed, _ = _restart(layout)
    assert replayed.checkpoint.written[0] == 0 and replayed.state.events == len(LINES)
    assert not caplog.records


def test_a_failed_write_keeps_the_previous_snapshot_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    layout = _run(tmp_path)
    _snapshot_at(layout, 400)
    before = layout.replay_snapshot.read_bytes()
    layout.journal.write_bytes(b"".join(LINES[:700]))
    replayed, figures = _restart(layout)
    layout.journal.write_bytes(b"".join(LINES))
    written: list[int] = []

    def dies_midway(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        written.append(len(data))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module, "write_fd_fully", dies_midway)
    with caplog.at_level(logging.WARNING, logger=replay_snapshot.__name__):
        assert not replayed.checkpoint.save(
            replayed.shards, replayed.artifacts, figures, now=1e12, check=lambda: None
        )
    monkeypatch.undo()
    assert written and "not written" in caplog.records[0].getMessage()
    assert layout.replay_snapshot.read_bytes() == before
    assert [p.name for p in layout.root.iterdir() if p.name.startswith(".replay_snapshot")] == []
    replayed, figures = _restart(layout)
    assert replayed.checkpoint.written[0] == 400
    assert _derived(replayed, figures) == _full(layout)


def test_a_lost_lease_writes_no_snapshot(tmp_path: Path) -> None:
    layout = _run(tmp_path)
    layout.journal.write_bytes(b"".join(LINES))
    replayed, figures = _restart(layout)

    def lost() -> None:
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError, match="lease lost"):
        replayed.checkpoint.save(replayed.shards, replayed.artifacts, figures, now=1e12, check=lost)
    assert not layout.replay_snapshot.exists()


def test_a_journal_cut_under_a_running_controller_stops_its_snapshots(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = _run(tmp_path)
    layout.journal.write_bytes(b"".join(LINES))
    replayed, figures = _restart(layout)
    layout.journal.write_bytes(b"".join(LINES[:100]))
    with caplog.at_level(logging.WARNING, logger=replay_snapshot.__name__):
        assert not replayed.checkpoint.save(
            replayed.shards, replayed.artifacts, figures, now=1e12, check=lambda: None
        )
    assert "no more replay snapshots" in caplog.records[0].getMessage()
    assert not layout.replay_snapshot.exists()


def test_the_controller_writes_it_when_due_and_restarts_from_it(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run", changes={"selfplay": {"tasks_in_flight": 3}})
    now = [1000.0]
    executor = FakeExecutor()
    controller, journal = _controller(layout, executor, lambda: now[0])
    with journal:
        controller.tick()  # a fresh run: due only after EVERY_S
        assert not layout.replay_snapshot.exists()
        now[0] += replay_snapshot.EVERY_S
        controller.tick()
        snapshot = layout.replay_snapshot.read_bytes()
        assert json.loads(snapshot)["job_figures"] is not None  # followed by the tick's metrics
        for ref in [j.ref for j in controller.state.jobs.values() if j.ref is not None]:
            executor.states[ref] = JobState(JobStatus.FAILED, exit_code=1)
        controller.tick()  # journals the failures; no snapshot due
        assert layout.replay_snapshot.read_bytes() == snapshot
    # The controller's own state holds what it polled (running); a restart's does not.
    names = [v.name for v in load_config(layout.run_config).variants]
    figures = JobFigures.for_run(layout, load_config(layout.run_config))
    replayed = restart(
        layout, names, read_journal(layout.journal), lambda: ArtifactIndex(layout), figures, now=0.0
    )
    assert replayed.checkpoint.written[0] > 0
    assert replayed.state.events == controller.state.events
    assert replayed.state == controller.checkpoint.state
    assert replayed.shards == controller.shard_index
    assert replayed.artifacts.memory() == controller.artifacts.memory()
    layout.replay_snapshot.unlink()
    full = restart(
        layout, names, read_journal(layout.journal), lambda: ArtifactIndex(layout), figures, now=0.0
    )
    assert full.state == replayed.state and full.shards == replayed.shards
