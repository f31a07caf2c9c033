"""The journal tolerates (and reports) a torn last line and refuses damage anywhere else."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ringrift_hpc.store import (
    JournalCorruptError,
    JournalWriter,
    StoreError,
    replay_journal,
)
from ringrift_hpc.store.journal import gc_paused


def test_appended_records_replay_in_order(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with JournalWriter(path) as writer:
        writer.append({"event": "start", "tick": 0})
        writer.append({"event": "note", "text": "two\nlines"})
    with JournalWriter(path) as writer:
        writer.append({"event": "resume"})
    replay = replay_journal(path)
    assert [r["event"] for r in replay.records] == ["start", "note", "resume"]
    assert replay.records[1]["text"] == "two\nlines"
    assert not replay.torn
    assert path.read_bytes().count(b"\n") == 3


def test_missing_journal_replays_empty(tmp_path: Path) -> None:
    replay = replay_journal(tmp_path / "journal.jsonl")
    assert replay.records == () and not replay.torn


def test_torn_last_line_is_reported_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n":1}\n{"n":2}\n{"n":3,"trunc')
    replay = replay_journal(path)
    assert [r["n"] for r in replay.records] == [1, 2]
    assert replay.torn_tail == b'{"n":3,"trunc'
    assert replay.valid_size == len(b'{"n":1}\n{"n":2}\n')


def test_a_complete_but_unterminated_last_line_counts_as_torn(tmp_path: Path) -> None:
    # The writer emits line and newline in one write; without the newline the append never finished.
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n":1}\n{"n":2}')
    replay = replay_journal(path)
    assert [r["n"] for r in replay.records] == [1]
    assert replay.torn


def test_writer_keeps_the_torn_bytes_aside_and_appends_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n":1}\n{"n":2,"tr')
    with JournalWriter(path) as writer:
        assert writer.replayed.torn
        writer.append({"n": 3})
    replay = replay_journal(path)
    assert [r["n"] for r in replay.records] == [1, 3]
    assert not replay.torn
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("journal.jsonl.torn-")]
    assert [p.read_bytes() for p in kept] == [b'{"n":2,"tr']


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (b'{"n":1}\n{"n":2\n{"n":3}\n', 2, "not valid JSON"),
        (b'{"n":1}\n[1, 2]\n{"n":3}\n', 2, "JSON list, not an object"),
        (b'{"n":1}\n\n{"n":3}\n', 2, "not valid JSON"),
        (b'\x00\x00\x00\n{"n":3}\n', 1, "not valid JSON"),
        (b'{"n":1}\n{"n":2}\nnot json\n', 3, "not valid JSON"),
    ],
)
def test_damage_before_the_torn_tail_names_file_and_line(
    tmp_path: Path, content: bytes, line: int, problem: str
) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(content)
    with pytest.raises(JournalCorruptError, match=problem) as caught:
        replay_journal(path)
    assert f"{path}:{line}:" in str(caught.value)
    assert "restore it from a backup" in str(caught.value)
    with JournalWriter(path) as writer, pytest.raises(JournalCorruptError):
        writer.replayed.records  # noqa: B018 (parsed when read)
    assert path.read_bytes() == content


def test_records_must_be_plain_json(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "journal.jsonl") as writer:
        with pytest.raises(StoreError, match="not plain JSON"):
            writer.append({"value": float("nan")})
        writer.close()
        with pytest.raises(StoreError, match="writer is closed"):
            writer.append({"n": 1})


def test_writer_killed_mid_stream_loses_only_unacknowledged_records(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ringrift_hpc.store import JournalWriter\n"
        "w = JournalWriter(Path(sys.argv[1]))\n"
        "for i in range(100000):\n"
        "    w.append({'i': i, 'pad': 'x' * 2000})\n"
        "    print(i, flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = -1
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    replay = replay_journal(path)
    numbers = [r["i"] for r in replay.records]
    assert numbers == list(range(len(numbers)))
    assert len(numbers) >= acknowledged + 1
    with JournalWriter(path) as writer:
        writer.append({"i": len(numbers)})
    assert [r["i"] for r in replay_journal(path).records] == list(range(len(numbers) + 1))


def test_gc_paused_restores_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("a replay that failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # someone else's pause is not ended by ours
    finally:
        gc.enable()
