"""Requests from CLI users (promote, rollback) and how they reach `best.json`.

Only one process writes a run's promotion history and `best.json`: whoever holds the
controller lease. So `promote` and `rollback` either

* take the lease themselves when no controller holds it and apply the change directly, or
* when a controller holds it, leave a request file in `RUN/requests/` that the controller
  applies on its next tick (`apply_pending_requests`).

A request file is one JSON object, written atomically under a unique name
(`<UTC time>-<kind>-<variant>-<random hex>.json`, so a plain sort is arrival order):

    {"format": "ringrift-hpc.request", "format_version": 1, "kind": "promote" | "rollback",
     "variant": "square8_2p", "participant": "gumbel@64#<sha256>" | null,
     "to_model": "<sha256>" | null, "reason": "...", "created_at": "...", "requested_by": "..."}

`participant` is set for a promotion (the participant to install as best), `to_model` for a
rollback (null: one step back along the promotion path, `rating.best.best_path`). A promotion
may carry three more fields (absent in older files, read as null/false):

* `"gate": {"baseline": "<participant id>" | null, "statistics": {...}}`: the gate the candidate
  passed (`promote --candidate`), against that baseline; applied only while the baseline is
  still the best, and recorded with the gate's statistics;
* `"forced": true`: a candidate promoted without the gate (`promote --candidate --force`);
* `"source": "<path>"`: the checkpoint file the model was imported from.

A promotion without a gate is recorded as manual. Once applied, or refused, the request moves
to `RUN/requests/done/<same name>` with a `result` field (`{"status": "applied", "record": ...}`
or `{"status": "failed", "error": ...}`); the result is written before the request is removed,
so a crash in between leaves the request done, never applied twice.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ringrift_hpc.jobs.model_files import run_model_file
from ringrift_hpc.rating.best import read_best, record_decision, rollback
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.participants import parse_participant_id
from ringrift_hpc.store import (
    LeaseHeldError,
    RunLayout,
    acquire_lease,
    atomic_write_json,
    is_temp_name,
    read_lease,
    release_lease,
)
from ringrift_hpc.store.names import check_model_id, check_variant

REQUEST_FORMAT = "ringrift-hpc.request"
REQUEST_VERSION = 1
DONE_DIR = "done"
# Holding the lease only while one change is written; far longer than that takes.
DIRECT_LEASE_TTL_S = 120.0

Kind = Literal["promote", "rollback"]
PROMOTE: Kind = "promote"
ROLLBACK: Kind = "rollback"


class RequestError(ValueError):
    """A request file is unreadable, or a request cannot be applied."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def requester() -> str:
    """Who asked: user@host pid, for the history."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class Request:
    """One promote or rollback request."""

    kind: Kind
    variant: str
    participant: str | None  # promote: the participant id to install as best
    to_model: str | None  # rollback: the model id to return to; None: the best before the current
    reason: str
    created_at: str
    requested_by: str
    gate: dict[str, Any] | None = None  # promote: the gate passed, {"baseline": id | None, "statistics"}
    forced: bool = False  # promote: a candidate promoted without the gate
    source: str | None = None  # promote: the checkpoint file the model was imported from

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if self.kind == PROMOTE:
            if self.participant is None or self.to_model is not None:
                raise RequestError("a promote request names a participant and no to_model")
            if parse_participant_id(self.variant, self.participant).model_id is None:
                raise RequestError(
                    f"promote: {self.participant} has no model; only network players can be the best"
                )
            if self.gate is not None:
                self._check_gate(self.gate)
        elif self.kind == ROLLBACK:
            if self.participant is not None:
                raise RequestError("a rollback request names to_model (or null), not a participant")
            if self.to_model is not None:
                check_model_id(self.to_model)
            if self.gate is not None or self.forced or self.source is not None:
                raise RequestError("a rollback request has no gate, forced or source field")
        else:
            raise RequestError(f"request kind {self.kind!r} is unknown; use {PROMOTE!r} or {ROLLBACK!r}")

    def _check_gate(self, gate: dict[str, Any]) -> None:
        if self.forced:
            raise RequestError("a promote request is either forced or gated; drop 'gate' or 'forced'")
        if set(gate) != {"baseline", "statistics"} or not isinstance(gate["statistics"], dict):
            raise RequestError(
                'field \'gate\' must be {"baseline": <participant id or null>, "statistics": {...}}'
            )
        baseline = gate["baseline"]
        if baseline is not None:
            if not isinstance(baseline, str):
                raise RequestError("field 'gate.baseline' must be a participant id or null")
            parse_participant_id(self.variant, baseline)

    @classmethod
    def promote(
        cls,
        variant: str,
        participant: str,
        *,
        reason: str,
        gate: dict[str, Any] | None = None,
        forced: bool = False,
        source: str | None = None,
    ) -> Request:
        return cls(PROMOTE, variant, participant, None, reason, _now(), requester(), gate, forced, source)

    @classmethod
    def rollback(cls, variant: str, to_model: str | None, *, reason: str) -> Request:
        return cls(ROLLBACK, variant, None, to_model, reason, _now(), requester())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "format_version": REQUEST_VERSION,
            "kind": self.kind,
            "variant": self.variant,
            "participant": self.participant,
            "to_model": self.to_model,
            "reason": self.reason,
            "created_at": self.created_at,
            "requested_by": self.requested_by,
            "gate": self.gate,
            "forced": self.forced,
            "source": self.source,
        }


def request_from_json(doc: Any, *, where: str) -> Request:
    """Parse a request document; every error names `where` (the file) and the field."""
    if not isinstance(doc, dict) or doc.get("format") != REQUEST_FORMAT:
        raise RequestError(f"{where}: not a {REQUEST_FORMAT} file (field 'format')")
    if doc.get("format_version") != REQUEST_VERSION:
        raise RequestError(
            f"{where}: field 'format_version' is {doc.get('format_version')!r}; this ringrift-hpc reads "
            f"version {REQUEST_VERSION}: write the request again with this version's CLI"
        )
    fields = ("kind", "variant", "participant", "to_model", "reason", "created_at", "requested_by")
    missing = [name for name in fields if name not in doc]
    if missing:
        raise RequestError(f"{where}: missing field(s) {', '.join(missing)}")
    for name in ("kind", "variant", "reason", "created_at", "requested_by"):
        if not isinstance(doc[name], str):
            raise RequestError(f"{where}: field {name!r} must be a string")
    for name in ("participant", "to_model", "source"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise RequestError(f"{where}: field {name!r} must be a string or null")
    if doc.get("gate") is not None and not isinstance(doc["gate"], dict):
        raise RequestError(f"{where}: field 'gate' must be an object or null")
    if not isinstance(doc.get("forced", False), bool):
        raise RequestError(f"{where}: field 'forced' must be true or false")
    try:
        return Request(
            **{name: doc[name] for name in fields},
            gate=doc.get("gate"),
            forced=doc.get("forced", False),
            source=doc.get("source"),
        )
    except ValueError as error:
        raise RequestError(f"{where}: {error}") from None


def write_request(layout: RunLayout, request: Request, *, clock: Callable[[], float] = time.time) -> Path:
    """Leave `request` for the controller, atomically, under a new unique name."""
    stamp = datetime.fromtimestamp(clock(), timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    while True:
        path = layout.request_file(f"{stamp}-{request.kind}-{request.variant}-{secrets.token_hex(8)}")
        if not path.exists():
            break
    atomic_write_json(path, request.to_json())
    return path


def apply_request(layout: RunLayout, request: Request) -> dict[str, Any]:
    """Apply one request through `rating.best`; returns the record it appended to `promotions.jsonl`.

    The caller must hold the controller lease.
    """
    variant = request.variant
    if request.kind == ROLLBACK:
        return rollback(layout, variant, to_model=request.to_model, reason=_why(request))
    assert request.participant is not None  # Request: a promotion names its participant
    model = parse_participant_id(variant, request.participant).model_id
    assert model is not None  # Request: a promoted participant has a model
    run_model_file(layout, variant)(model)
    current = read_best(layout, variant)
    best = current["participant"] if current is not None else None
    if best == request.participant:
        raise RequestError(f"{variant}: {request.participant} is already the best")
    asked: dict[str, Any] = {
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.created_at,
    }
    if request.source is not None:
        asked["source"] = request.source
    if request.gate is None:
        # Against the best found now: a manual or forced promotion replaces whatever is best.
        against, statistics = best, {"manual": True, "forced": request.forced, **asked}
    else:
        # Against the best the gate played: record_decision refuses it once another best is in.
        against, statistics = request.gate["baseline"], {**request.gate["statistics"], **asked}
    decision = PromotionDecision(
        promote=True,
        variant=variant,
        candidate=request.participant,
        best=against,
        reasons=(),
        statistics=statistics,
    )
    return record_decision(layout, decision)


def _why(request: Request) -> str:
    return f"{request.reason} (requested by {request.requested_by} at {request.created_at})"


def controller_holds_lease(layout: RunLayout, *, clock: Callable[[], float] = time.time) -> bool:
    """True while a live (unreleased, unexpired) controller lease exists."""
    record = read_lease(layout.lease)
    return record is not None and record.live(clock())


@dataclass(frozen=True)
class Submitted:
    """What `submit` did: applied the request directly, or queued it for the running controller."""

    how: Literal["applied", "queued"]
    record: dict[str, Any] | None  # the promotions.jsonl record when applied
    request_file: Path | None  # the request file when queued


def submit(layout: RunLayout, request: Request, *, clock: Callable[[], float] = time.time) -> Submitted:
    """Apply `request` now under the lease, or queue it when a controller holds the lease."""
    if controller_holds_lease(layout, clock=clock):
        return Submitted("queued", None, write_request(layout, request, clock=clock))
    try:
        lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=DIRECT_LEASE_TTL_S, clock=clock)
    except LeaseHeldError:
        return Submitted("queued", None, write_request(layout, request, clock=clock))
    try:
        record = apply_request(layout, request)
    finally:
        release_lease(lease, clock=clock)
    return Submitted("applied", record, None)


@dataclass(frozen=True)
class RequestOutcome:
    """One pending request after the controller handled it; `done_file` holds its result."""

    name: str
    done_file: Path
    applied: bool
    detail: str  # the error when it failed, else the event recorded


def pending_request_files(layout: RunLayout) -> list[Path]:
    """The request files waiting in `RUN/requests/`, oldest first."""
    directory = layout.requests_dir
    if not directory.is_dir():
        return []
    return sorted(
        entry
        for entry in directory.iterdir()
        if entry.is_file() and entry.suffix == ".json" and not is_temp_name(entry.name)
    )


def apply_pending_requests(layout: RunLayout) -> list[RequestOutcome]:
    """Apply every pending request in order, moving each to `requests/done/` with its result.

    Called by the controller, which holds the lease. A request that cannot be read or applied
    is moved aside too, with the error, so one bad request never blocks the others.
    """
    outcomes = []
    done_dir = layout.requests_dir / DONE_DIR
    for path in pending_request_files(layout):
        done = done_dir / path.name
        if done.exists():  # handled before a crash that kept the pending file
            path.unlink(missing_ok=True)
            continue
        try:
            doc: Any = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            doc = {"unreadable": path.read_bytes().decode("utf-8", "replace")}
            result: dict[str, Any] = {"status": "failed", "error": f"{path}: not valid JSON ({error})"}
        else:
            result = _apply_document(layout, doc, where=str(path))
        content = dict(doc) if isinstance(doc, dict) else {"unreadable": doc}
        atomic_write_json(done, {**content, "result": result})
        path.unlink()
        applied = result["status"] == "applied"
        detail = result["record"]["event"] if applied else result["error"]
        outcomes.append(RequestOutcome(path.name, done, applied, detail))
    return outcomes


def _apply_document(layout: RunLayout, doc: Any, *, where: str) -> dict[str, Any]:
    try:
        record = apply_request(layout, request_from_json(doc, where=where))
    except (ValueError, FileNotFoundError) as error:
        return {"status": "failed", "error": str(error)}
    return {"status": "applied", "record": record}
