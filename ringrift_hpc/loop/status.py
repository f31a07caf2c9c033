"""The read-only status model of a run, from its files alone (never starts a controller).

`run_status` gathers: controller liveness from the lease, HALT, and per variant the
generation, the best model and its leaderboard rating with interval, samples total and since
the last training, jobs by state, the current evaluation's SPRT state, the last decision and the
shadow checks (`loop.shadow`: the last result, the next one due, the automatic rollbacks);
plus the CPU time the jobs measured by variant and purpose (`measured_cpu`), the last journal
events, recent errors and every quarantined artifact.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ringrift_hpc.loop.events import read_events
from ringrift_hpc.loop.halt import read_halt
from ringrift_hpc.loop.measured_cpu import CpuSplit
from ringrift_hpc.rating.best import read_best
from ringrift_hpc.store import RunLayout, list_quarantined, read_lease, replay_journal

LAST_EVENTS = 12
_QUIET_EVENTS = frozenset({"tick"})


def _read_json(path: Any) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def leaderboard_rows(layout: RunLayout, variant: str) -> list[dict[str, Any]]:
    """The rows of the variant's leaderboard; none before its first refit."""
    board = _read_json(layout.leaderboard_json(variant))
    rows = board.get("rows", []) if board is not None else []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _rating(layout: RunLayout, variant: str, participant: str | None) -> dict[str, Any] | None:
    if participant is None:
        return None
    for row in leaderboard_rows(layout, variant):
        if row.get("participant") == participant:
            return {k: row.get(k) for k in ("rating", "lower", "upper", "games", "rank")}
    return None


def _event_line(record: dict[str, Any]) -> dict[str, Any]:
    line = {k: record[k] for k in _SHOWN if k in record}
    if "tasks" in record:
        line["tasks"] = len(record["tasks"])
    return line


_SHOWN = (
    "event",
    "time",
    "variant",
    "purpose",
    "task",
    "status",
    "artifact",
    "path",
    "promote",
    "candidate",
    "error",
)


def variants_status(layout: RunLayout, state: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per variant: generation, best model and its rating, samples, decisions, jobs by state, the
    current evaluation and the last decision; from `state` (`state.json`, read when not given)."""
    state = (_read_json(layout.state) or {}) if state is None else state
    variants: dict[str, Any] = {}
    jobs = state.get("jobs", [])
    for name, v in state.get("variants", {}).items():
        best = read_best(layout, name)
        participant = best["participant"] if best is not None else None
        counts = Counter(j["status"] for j in jobs if j["variant"] == name)
        variants[name] = {
            "generation": v["generation"],
            "phase": v["phase"],
            "best_model": best["model_id"] if best is not None else None,
            "best_participant": participant,
            "rating": _rating(layout, name, participant),
            "samples_total": v["samples_total"],
            "samples_since_training": v["samples_since_training"],
            "shards": v["shards"],
            "decisions": v["decisions"],
            "promotions": v["promotions"],
            "candidate": v["candidate"],
            "evaluation": v.get("evaluation"),
            "last_decision": v.get("last_decision"),
            "shadow": v.get("shadow"),
            "selfplay_target": v.get("selfplay_target"),
            "jobs": {
                "pending": counts["pending"] + counts["intent"] + counts["unknown"],
                "running": counts["running"],
                # failed or refused by the scheduler, submitted again after a backoff
                "retrying": counts["failed"] + counts["deferred"],
                "failed": counts["error"],
                "refused": counts["refused"],
                "awaiting_artifact": counts["completed"],  # ended well; its file not visible yet
            },
        }
    return variants


def run_status(layout: RunLayout, *, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The status model as plain JSON (see the module docstring)."""
    now = clock()
    lease = read_lease(layout.lease)
    live = lease is not None and not lease.released and lease.expires_at > now
    state = _read_json(layout.state) or {}
    halt = read_halt(layout)
    variants = variants_status(layout, state)
    jobs = state.get("jobs", [])
    records = replay_journal(layout.journal).records
    events = [_event_line(r) for r in records if r.get("event") not in _QUIET_EVENTS][-LAST_EVENTS:]
    # Only the records that carry CPU seconds are typed: a long journal stays quick to read.
    measured = [r for r in records if r.get("event") == "ingested" and "cpu_seconds" in r]
    cpu = CpuSplit.of(
        read_events(measured, source=f"{layout.journal} (its ingested records with cpu_seconds)")
    )
    return {
        "run": str(layout.root),
        "controller": {
            "alive": live,
            "holder": lease.describe() if lease is not None else None,
            "expires_in_s": round(lease.expires_at - now, 1) if lease is not None and live else None,
            "state_written_at": state.get("written_at"),
            "ticks": state.get("ticks", 0),
        },
        "halted": None
        if halt is None
        else {"reason": halt.reason, "since": halt.created_at, "by": halt.requested_by},
        "variants": variants,
        "jobs": [j for j in jobs if j["status"] in ("failed", "error")],
        "errors": state.get("errors", []),
        "measured_cpu_seconds": cpu.to_json(),
        "evaluation_cpu_share": cpu.evaluation_share(),
        "events": events,
        "quarantined": [
            {"path": q.original, "reason": q.reason, "time": q.time} for q in list_quarantined(layout)
        ],
    }


def _when(unix: float | None) -> str:
    return "-" if unix is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))


def _shadow_line(doc: dict[str, Any] | None) -> str | None:
    """The variant's shadow checks in one line; None before there is anything to say."""
    if not doc or not (doc["last"] or doc["checking"] or doc["next_due"] or doc["automatic_rollbacks"]):
        return None
    parts = []
    last = doc["last"]
    if last:
        verdict = "weaker, rolled back" if last["verdict"] == "weaker" else last["verdict"]
        parts.append(f"last {_when(last.get('time'))} UTC {verdict}: {last['detail'][:200]}")
    if doc["checking"]:
        parts.append(f"{doc['checking']} running")
    elif doc["next_due"] is not None:
        parts.append(f"next due {_when(doc['next_due'])} UTC")
    parts.append(f"automatic rollbacks: {doc['automatic_rollbacks']}")
    return "  shadow check: " + "; ".join(parts)


def status_text(model: dict[str, Any]) -> str:
    """The status model as lines a person reads."""
    c = model["controller"]
    lines = [
        f"run {model['run']}",
        f"controller: {'alive (' + str(c['holder']) + ')' if c['alive'] else 'not running'}, {c['ticks']} ticks",
    ]
    if model["halted"]:
        lines.append(f"HALTED: {model['halted']['reason']} (since {_when(model['halted']['since'])} UTC)")
    for name, v in model["variants"].items():
        rating = v["rating"]
        rated = (
            f"{rating['rating']:.0f} Elo [{rating['lower']:.0f}, {rating['upper']:.0f}]"
            if rating
            else "not rated yet"
        )
        best = v["best_model"][:12] if v["best_model"] else "bootstrap player"
        lines.append(f"{name}: generation {v['generation']} ({v['phase']}), best {best}, {rated}")
        lines.append(
            f"  samples {v['samples_total']} total, {v['samples_since_training']} since training; "
            f"{v['decisions']} decisions, {v['promotions']} promotions"
        )
        j = v["jobs"]
        lines.append(
            f"  jobs: {j['pending']} pending, {j['running']} running, {j['retrying']} retrying, {j['failed']} failed"
            + "".join(
                f", {j[key]} {word}"
                for key, word in (
                    ("refused", "refused"),
                    ("awaiting_artifact", "completed, awaiting artifact"),
                )
                if j[key]
            )
        )
        if v["evaluation"]:
            e = v["evaluation"]
            lines.append(
                f"  evaluation of {str(v['candidate'])[:12]}: SPRT {e['sprt_status']} after {e['sprt_groups']} groups"
            )
        if v["last_decision"]:
            d = v["last_decision"]
            verdict = "promoted" if d["promote"] else "rejected"
            lines.append(
                f"  last decision: {verdict} {str(d['candidate'])[:24]} {'; '.join(d.get('reasons') or [])}"
            )
        shadow = _shadow_line(v.get("shadow"))
        if shadow is not None:
            lines.append(shadow)
    for error in model["errors"][-5:]:
        lines.append(
            f"error: {error.get('task', error.get('variant', ''))} {str(error.get('error', ''))[:200]}"
        )
    lines.append(CpuSplit.from_json(model["measured_cpu_seconds"]).line())
    if model["quarantined"]:
        lines.append(f"quarantined: {len(model['quarantined'])}")
        lines.extend(f"  {q['path']}: {q['reason'][:160]}" for q in model["quarantined"][-5:])
    lines.append("last events:")
    for e in model["events"]:
        detail = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "time"))
        lines.append(f"  {_when(e.get('time'))} {e['event']} {detail[:140]}")
    return "\n".join(lines)
