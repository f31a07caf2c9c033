"""Promote and rollback: applied directly when no controller runs, queued as a request file when one does."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from ringrift_hpc.loop.requests import (
    Request,
    RequestError,
    apply_pending_requests,
    pending_request_files,
    request_from_json,
    submit,
)
from ringrift_hpc.rating.best import promotion_history, read_best
from ringrift_hpc.store import RunLayout, atomic_write_json, read_lease

VARIANT = "square8_2p"


def add_model(layout: RunLayout, content: bytes, variant: str = VARIANT) -> str:
    """A model file named by its sha256 (the content does not matter to the best pointer)."""
    model = hashlib.sha256(content).hexdigest()
    path = layout.model_weights(variant, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return model


def live_lease(layout: RunLayout) -> None:
    """A lease as a running controller on another host leaves it."""
    now = time.time()
    atomic_write_json(
        layout.lease,
        {
            "format": "ringrift-hpc.lease",
            "format_version": 1,
            "host": "controller-host",
            "pid": 4242,
            "nonce": "ab" * 16,
            "token": 7,
            "acquired_at": now - 10,
            "expires_at": now + 600,
            "released": False,
        },
    )


def gumbel(model: str) -> str:
    return f"gumbel@64#{model}"


def test_direct_promotions_then_rollback_restore_the_previous_best_exactly(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    first, second = add_model(layout, b"first"), add_model(layout, b"second")
    assert submit(layout, Request.promote(VARIANT, gumbel(first), reason="bootstrap")).how == "applied"
    installed = layout.best(VARIANT).read_bytes()
    outcome = submit(layout, Request.promote(VARIANT, gumbel(second), reason="looks stronger"))
    assert outcome.how == "applied" and outcome.record is not None
    assert outcome.record["statistics"]["manual"] is True
    assert read_best(layout, VARIANT)["model_id"] == second  # type: ignore[index]
    back = submit(layout, Request.rollback(VARIANT, None, reason="regressed"))
    assert back.how == "applied" and back.record is not None and back.record["to"] == first
    assert layout.best(VARIANT).read_bytes() == installed
    assert [r["event"] for r in promotion_history(layout, VARIANT)] == ["promote", "promote", "rollback"]
    lease = read_lease(layout.lease)
    assert lease is not None and lease.released  # the CLI gave the lease back


def test_direct_promotion_refuses_a_model_the_variant_does_not_have(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    foreign = add_model(layout, b"hex", variant="hex8_2p")
    with pytest.raises(FileNotFoundError, match="square8_2p has no model"):
        submit(layout, Request.promote(VARIANT, gumbel(foreign), reason="wrong variant"))
    assert read_best(layout, VARIANT) is None
    assert not layout.promotions(VARIANT).exists()


def test_with_a_live_controller_requests_are_queued_then_applied_by_it(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    first, second = add_model(layout, b"first"), add_model(layout, b"second")
    submit(layout, Request.promote(VARIANT, gumbel(first), reason="bootstrap"))
    live_lease(layout)
    queued = submit(layout, Request.promote(VARIANT, gumbel(second), reason="manual"))
    assert queued.how == "queued" and queued.request_file is not None
    assert queued.request_file.parent == layout.requests_dir
    assert read_best(layout, VARIANT)["model_id"] == first  # type: ignore[index]
    doc = json.loads(queued.request_file.read_text())
    assert request_from_json(doc, where="test").participant == gumbel(second)
    rollback = submit(layout, Request.rollback(VARIANT, first, reason="undo"))
    assert rollback.how == "queued"
    assert pending_request_files(layout) == sorted([queued.request_file, rollback.request_file])  # type: ignore[type-var]

    outcomes = apply_pending_requests(layout)  # what the controller does on its tick
    assert [o.applied for o in outcomes] == [True, True]
    assert [o.detail for o in outcomes] == ["promote", "rollback"]
    assert read_best(layout, VARIANT)["model_id"] == first  # type: ignore[index]
    assert pending_request_files(layout) == []
    done = json.loads(outcomes[0].done_file.read_text())
    assert done["result"]["status"] == "applied" and done["participant"] == gumbel(second)


def test_bad_requests_are_moved_aside_with_their_error_and_do_not_block_others(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    model = add_model(layout, b"only")
    layout.requests_dir.mkdir(parents=True)
    (layout.requests_dir / "0-garbage.json").write_text("{not json")
    (layout.requests_dir / "1-rollback.json").write_text(
        json.dumps(Request.rollback(VARIANT, None, reason="nothing to undo").to_json())
    )
    (layout.requests_dir / "2-promote.json").write_text(
        json.dumps(Request.promote(VARIANT, gumbel(model), reason="first").to_json())
    )
    outcomes = apply_pending_requests(layout)
    assert [o.applied for o in outcomes] == [False, False, True]
    assert "not valid JSON" in outcomes[0].detail
    assert "nothing to roll back" in outcomes[1].detail
    assert read_best(layout, VARIANT)["model_id"] == model  # type: ignore[index]
    assert sorted(p.name for p in (layout.requests_dir / "done").iterdir()) == [
        "0-garbage.json",
        "1-rollback.json",
        "2-promote.json",
    ]


def test_a_request_done_before_a_crash_is_not_applied_twice(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    model = add_model(layout, b"only")
    layout.requests_dir.mkdir(parents=True)
    doc = Request.promote(VARIANT, gumbel(model), reason="first").to_json()
    (layout.requests_dir / "a.json").write_text(json.dumps(doc))
    apply_pending_requests(layout)
    (layout.requests_dir / "a.json").write_text(json.dumps(doc))  # the unlink was lost in a crash
    assert apply_pending_requests(layout) == []
    assert len(promotion_history(layout, VARIANT)) == 1


def test_request_documents_are_validated_by_field(tmp_path: Path) -> None:
    doc = Request.promote(VARIANT, gumbel("a" * 64), reason="r").to_json()
    with pytest.raises(RequestError, match="format_version"):
        request_from_json({**doc, "format_version": 9}, where="f.json")
    with pytest.raises(RequestError, match="missing field"):
        request_from_json({k: v for k, v in doc.items() if k != "reason"}, where="f.json")
    with pytest.raises(RequestError, match="has no model"):
        request_from_json({**doc, "participant": "heuristic"}, where="f.json")
    with pytest.raises(RequestError, match="kind"):
        request_from_json({**doc, "kind": "demote"}, where="f.json")


def test_a_gated_request_applies_only_while_its_baseline_is_the_best(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    first, second, third = (add_model(layout, name) for name in (b"first", b"second", b"third"))
    submit(layout, Request.promote(VARIANT, gumbel(first), reason="bootstrap"))
    statistics = {"sprt": {"status": "accept"}, "anchors": [], "games": 12, "first_model": False}
    passed = {"baseline": gumbel(first), "statistics": statistics}
    outcome = submit(
        layout, Request.promote(VARIANT, gumbel(second), reason="passed", gate=passed, source="/x/second.pt")
    )
    record = outcome.record
    assert record is not None and record["best"] == gumbel(first) and record["reasons"] == []
    assert (
        record["statistics"]["sprt"] == {"status": "accept"}
        and record["statistics"]["source"] == "/x/second.pt"
    )
    assert "manual" not in record["statistics"]
    stale = Request.promote(VARIANT, gumbel(third), reason="passed long ago", gate=passed)
    with pytest.raises(ValueError, match="re-evaluate the candidate against the current best"):
        submit(layout, stale)
    assert read_best(layout, VARIANT)["model_id"] == second  # type: ignore[index]
    forced = submit(layout, Request.promote(VARIANT, gumbel(third), reason="trust me", forced=True)).record
    assert (
        forced is not None
        and forced["statistics"]["forced"] is True
        and forced["statistics"]["manual"] is True
    )


def test_gate_fields_round_trip_and_older_files_without_them_still_read(tmp_path: Path) -> None:
    gate = {"baseline": None, "statistics": {"first_model": True}}
    request = Request.promote(VARIANT, gumbel("a" * 64), reason="r", gate=gate, source="/m.pt")
    assert request_from_json(json.loads(json.dumps(request.to_json())), where="f.json") == request
    old = {k: v for k, v in request.to_json().items() if k not in ("gate", "forced", "source")}
    older = request_from_json(old, where="f.json")
    assert (older.gate, older.forced, older.source) == (None, False, None)
    assert older.participant == request.participant and older.reason == "r"
    doc = request.to_json()
    with pytest.raises(RequestError, match="either forced or gated"):
        request_from_json({**doc, "forced": True}, where="f.json")
    with pytest.raises(RequestError, match="f.json: field 'gate' must be"):
        request_from_json({**doc, "gate": {"baseline": None}}, where="f.json")
    with pytest.raises(RequestError, match="f.json: field 'forced' must be true or false"):
        request_from_json({**doc, "gate": None, "forced": "yes"}, where="f.json")
    rollback = Request.rollback(VARIANT, None, reason="r").to_json()
    with pytest.raises(RequestError, match="no gate, forced or source"):
        request_from_json({**rollback, "source": "/m.pt"}, where="f.json")
