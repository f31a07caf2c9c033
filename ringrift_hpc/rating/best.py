"""Recording promotion decisions, the `best.json` pointer, and rollback.

`promotions.jsonl` (append-only, one writer) holds every decision with its statistics; a
promotion's record carries the exact `best.json` document it installed. The record is appended
before `best.json` is replaced, so after a crash between the two the history is ahead of the
pointer, never behind, and `repair_best` (or any later promotion or rollback) makes them agree.
A rollback writes back a document taken verbatim from the history, so the pointer is restored
byte for byte.

Rollback walks back along the *promotion path* (`best_path`): the bests that led to the current
one, each promotion stacked on the one before and each rollback cutting the stack back to its
target. So two rollbacks go two steps back (never back and forth between two models), and a
later promotion continues from wherever the rollbacks left the path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.participants import parse_participant_id
from ringrift_hpc.store import JournalWriter, RunLayout, atomic_write_json, replay_journal
from ringrift_hpc.store.versioned_json import parse_versioned_json

BEST_FORMAT = "ringrift-hpc.best"
BEST_VERSION = 1
PROMOTE = "promote"
REJECT = "reject"
ROLLBACK = "rollback"


class BestPointerError(ValueError):
    """`best.json` or the promotion history is unreadable or inconsistent, or a rollback target is invalid."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def best_document(variant: str, participant: str, promoted_at: str) -> dict[str, Any]:
    """The content of `best.json` for a promoted participant (which must have a model)."""
    model_id = parse_participant_id(variant, participant).model_id
    if model_id is None:
        raise BestPointerError(
            f"{variant}: {participant} has no model, so it cannot be the best; promote network players only"
        )
    return {
        "format": BEST_FORMAT,
        "format_version": BEST_VERSION,
        "variant": variant,
        "model_id": model_id,
        "participant": participant,
        "promoted_at": promoted_at,
    }


def read_best(layout: RunLayout, variant: str) -> dict[str, Any] | None:
    """The current `best.json` document, or None before the first promotion."""
    path = layout.best(variant)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    fix = "run repair_best to rewrite it from the history"
    return parse_versioned_json(
        raw,
        path,
        what="best pointer",
        format_name=BEST_FORMAT,
        version=BEST_VERSION,
        error=BestPointerError,
        fix=fix,
        version_fix=fix,
    )


def promotion_history(layout: RunLayout, variant: str) -> tuple[dict[str, Any], ...]:
    """Every record of `promotions.jsonl`, oldest first."""
    return replay_journal(layout.promotions(variant)).records


def best_states(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `best.json` documents installed by the history, in order (promotions and rollbacks)."""
    return [record["best_document"] for record in history if record.get("event") in (PROMOTE, ROLLBACK)]


def record_decision(
    layout: RunLayout, decision: PromotionDecision, *, clock: Callable[[], str] = _now
) -> dict[str, Any]:
    """Append the decision to `promotions.jsonl`; on promotion repoint `best.json`. Returns the record."""
    variant = decision.variant
    current = read_best(layout, variant)
    current_participant = current["participant"] if current is not None else None
    if decision.best != current_participant:
        raise BestPointerError(
            f"{variant}: the decision was taken against best {decision.best!r} but best.json points at "
            f"{current_participant!r}; re-evaluate the candidate against the current best"
        )
    when = clock()
    record: dict[str, Any] = {
        "event": PROMOTE if decision.promote else REJECT,
        "time": when,
        "variant": variant,
        "candidate": decision.candidate,
        "best": decision.best,
        "reasons": list(decision.reasons),
        "statistics": decision.statistics,
    }
    if decision.promote:
        record["best_document"] = best_document(variant, decision.candidate, when)
    with JournalWriter(layout.promotions(variant)) as journal:
        journal.append(record)
    if decision.promote:
        atomic_write_json(layout.best(variant), record["best_document"])
    return record


def best_path(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `best.json` documents on the way to the current best, oldest first; the last is the best.

    A promotion adds its document. A rollback to a model on the path cuts the path back to that
    model's last place on it; a rollback to a model off the path (an earlier best that a rollback
    had left) adds the target as a promotion would.
    """
    path: list[dict[str, Any]] = []
    for record in history:
        event = record.get("event")
        if event == PROMOTE:
            path.append(record["best_document"])
        elif event == ROLLBACK:
            target = record["best_document"]
            places = [i for i, doc in enumerate(path) if doc["model_id"] == target["model_id"]]
            if places:
                del path[places[-1] + 1 :]
                path[-1] = target
            else:
                path.append(target)
    return path


def rollback(
    layout: RunLayout,
    variant: str,
    *,
    to_model: str | None = None,
    reason: str,
    clock: Callable[[], str] = _now,
) -> dict[str, Any]:
    """Repoint `best.json` to an earlier best, exactly as it was installed; returns the record.

    `to_model` is the model id of any earlier best; None means one step back along the promotion
    path (`best_path`). The record names the best left (`from`, `from_participant`) and the one
    installed (`to`, `best_document`).
    """
    history = promotion_history(layout, variant)
    states = best_states(history)
    current = read_best(layout, variant)
    if current is None or not states:
        raise BestPointerError(f"{variant}: nothing has been promoted yet, so there is nothing to roll back")
    if current != states[-1]:
        raise BestPointerError(
            f"{layout.best(variant)} does not match the last promotion record; run repair_best first"
        )
    if to_model is None:
        path = best_path(history)
        if len(path) < 2:
            others = sorted({doc["model_id"] for doc in states} - {current["model_id"]})
            hint = f"; name one with --to: {', '.join(others)}" if others else ""
            raise BestPointerError(
                f"{variant}: no earlier best than {current['model_id']} on the promotion path to roll "
                f"back to{hint}"
            )
        target = path[-2]
    else:
        candidates = [doc for doc in states if doc["model_id"] == to_model]
        if not candidates:
            raise BestPointerError(
                f"{variant}: model {to_model} was never the best; roll back to one of "
                f"{sorted({doc['model_id'] for doc in states})}"
            )
        if to_model == current["model_id"]:
            raise BestPointerError(f"{variant}: model {to_model} is already the best")
        target = candidates[-1]
    record = {
        "event": ROLLBACK,
        "time": clock(),
        "variant": variant,
        "from": current["model_id"],
        "from_participant": current["participant"],
        "to": target["model_id"],
        "reason": reason,
        "best_document": target,
    }
    with JournalWriter(layout.promotions(variant)) as journal:
        journal.append(record)
    atomic_write_json(layout.best(variant), target)
    return record


def repair_best(layout: RunLayout, variant: str) -> bool:
    """Make `best.json` what the history says (after a crash between append and replace); True if it changed."""
    states = best_states(promotion_history(layout, variant))
    if not states:
        return False
    try:
        current = read_best(layout, variant)
    except BestPointerError:
        current = None
    if current == states[-1]:
        return False
    atomic_write_json(layout.best(variant), states[-1])
    return True
