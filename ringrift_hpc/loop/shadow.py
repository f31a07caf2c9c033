"""Shadow evaluation: on a clock, the best replays its predecessor and the anchors, and is rolled
back when it proves weaker.

A promotion rests on an SPRT that stopped as soon as it could, so a lucky candidate can become the
best. Every `evaluation.shadow_every_s` the controller submits a *shadow check* of a variant's
best: one tournament job array with `evaluation.shadow_groups_per_pair` fresh groups of the best
against its predecessor (the best it replaced when it was promoted) and of each of the two against
every anchor of the promotion gate. When the check's games are in, the difference best minus
predecessor is fitted (`rating.fit_ratings`, the run's one rating method) over every shadow game
among the two and the anchors so far, so evidence accumulates from check to check, and judged with a one-sided bound
at `evaluation.shadow_confidence` against the margin `evaluation.shadow_rollback_margin_elo`:

* upper bound below -margin: the best is *weaker*; the controller rolls back to the predecessor;
* lower bound above -margin: *cleared*, the best is not weaker by the margin; no more checks of it;
* otherwise *undecided*; the next check follows on the clock.

Only shadow games count: the promotion's SPRT games are the very ones a lucky candidate won.
The looks repeat, but the margin is positive and the evidence only grows: for a best as strong
as its predecessor the interval narrows around zero, so a chance dip must carry its whole upper
bound below -margin, which gets less likely with every check, and the best ends cleared.

Everything here is pure but `apply_rollback`, the one write (through `rating.best.rollback`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

from ringrift_hpc.cluster.purposes import SHADOW_ID_PREFIX, MatchTaskId
from ringrift_hpc.config import Config, EvaluationSection, Variant
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan, group_seed, pair_lineup
from ringrift_hpc.loop.events import ShadowResult, ShadowVerdict
from ringrift_hpc.loop.state import VariantState
from ringrift_hpc.metrics import MetricFamily, family
from ringrift_hpc.rating.best import best_states, promotion_history, read_best, repair_best, rollback
from ringrift_hpc.rating.fit import RatingFitError, fit_ratings
from ringrift_hpc.rating.participants import Participant, parse_participant_id, short_participant_id
from ringrift_hpc.rating.records import MatchGroup
from ringrift_hpc.rating.table import table_from_groups
from ringrift_hpc.store import RunLayout

VERDICTS: tuple[ShadowVerdict, ...] = ("weaker", "cleared", "undecided", "superseded", "failed")


def eval_id(number: int) -> str:
    """The evaluation id of a variant's shadow check `number` (0 first)."""
    return f"{SHADOW_ID_PREFIX}{number:06d}"


def is_shadow_task(task: str) -> bool:
    """Whether the job task `tournament/<variant>/<eval id>/<name>` belongs to a shadow check."""
    try:
        return MatchTaskId.parse(task).eval_id.startswith(SHADOW_ID_PREFIX)
    except ValueError:  # not a match task at all
        return False


def next_due(v: VariantState, every_s: float | None) -> float | None:
    """When the variant's next shadow check is due; None while one runs or none will."""
    if every_s is None or v.shadow_against is None or v.shadow_clock is None or v.shadow_check is not None:
        return None
    return v.shadow_clock + every_s


def due(v: VariantState, now: float, every_s: float | None) -> bool:
    when = next_due(v, every_s)
    return when is not None and now >= when


def predecessor(history: Sequence[Mapping[str, Any]], participant: str) -> str | None:
    """The best `participant` replaced when it was last promoted (`promotions.jsonl` records)."""
    for record in reversed(history):
        if record.get("event") == "promote" and record.get("candidate") == participant:
            best = record.get("best")
            return best if isinstance(best, str) else None
    return None


def shadow_specs(
    config: Config,
    *,
    run_root: Path | str,
    variant: str,
    best: Participant,
    against: Participant,
    number: int,
) -> dict[str, MatchSpec]:
    """The match tasks of shadow check `number`: one per pair, best and predecessor each against
    the other and every anchor; each check's groups start from openings of their own."""
    players = Variant.model_validate(variant).players
    anchors = [Participant(variant=variant, kind=gate.player) for gate in config.promotion.anchors]
    pairs = {"best-predecessor": (best, against)}
    for anchor in anchors:
        pairs[f"best-{anchor.kind}"] = (best, anchor)
        pairs[f"predecessor-{anchor.kind}"] = (against, anchor)
    seed = config.run.seed + number
    groups = config.evaluation.shadow_groups_per_pair
    return {
        name: MatchSpec.from_config(
            config,
            run_root=run_root,
            variant=variant,
            eval_id=eval_id(number),
            task=name,
            groups=tuple(
                GroupPlan(pair_lineup(a, b, players, k), group_seed(seed, f"shadow/{name}", k))
                for k in range(groups)
            ),
        )
        for name, (a, b) in pairs.items()
    }


def judge(
    variant: str,
    check: Mapping[str, str],
    best_now: str | None,
    groups: Iterable[MatchGroup],
    anchors: Sequence[str],
    section: EvaluationSection,
    *,
    failure: str | None = None,
) -> ShadowResult:
    """The verdict on a finished check (module docstring). `groups`: the variant's shadow games
    so far; `anchors`: the anchors' participant ids; `failure`: why the check's games are missing."""
    best, against = check["best"], check["against"]
    head = {"eval_id": check["eval_id"], "best": best, "against": against}
    if failure is not None:
        return _unjudged(head, "failed", failure)
    if best_now != best:
        return _unjudged(head, "superseded", f"{short_participant_id(best)} is no longer the best")
    pair = {best, against}
    allowed = pair | set(anchors)
    used = [g for g in groups if {p.id for p in g.lineup} <= allowed and pair & {p.id for p in g.lineup}]
    games = sum(len(g.games) for g in used if {p.id for p in g.lineup} == pair)
    if games == 0:
        return _unjudged(head, "failed", "no game between the best and its predecessor was recorded")
    try:
        table = table_from_groups(Variant.model_validate(variant), used)
        difference, stderr = fit_ratings(table, anchor=against).difference(best, against)
    except RatingFitError as error:
        return _unjudged(head, "failed", f"the shadow games cannot be rated: {error}")
    z = NormalDist().inv_cdf(section.shadow_confidence)
    lower, upper = difference - z * stderr, difference + z * stderr
    margin = section.shadow_rollback_margin_elo
    verdict: ShadowVerdict = "weaker" if upper < -margin else "cleared" if lower > -margin else "undecided"
    sure = f"{section.shadow_confidence:.0%} one-sided"
    names = f"{short_participant_id(best)} against its predecessor {short_participant_id(against)}"
    measured = f"{difference:+.0f} Elo [{lower:.0f}, {upper:.0f}] ({sure}) over {games} games"
    detail = {
        "weaker": f"{names}: {measured}; weaker by more than {margin:g} Elo",
        "cleared": f"{names}: {measured}; not weaker by more than {margin:g} Elo",
        "undecided": f"{names}: {measured}; not yet sure whether weaker by more than {margin:g} Elo",
    }[verdict]
    return ShadowResult(
        **head,
        verdict=verdict,
        difference_elo=difference,
        lower_elo=lower,
        upper_elo=upper,
        games=games,
        detail=detail,
    )


def _unjudged(head: Mapping[str, str], verdict: ShadowVerdict, detail: str) -> ShadowResult:
    return ShadowResult(
        **head, verdict=verdict, difference_elo=None, lower_elo=None, upper_elo=None, games=0, detail=detail
    )


def pending_rollback(v: VariantState) -> ShadowResult | None:
    """The variant's last automatic rollback while its target is still the best: a restart makes
    sure `best.json` holds it (`apply_rollback`)."""
    last = v.last_shadow
    if last is None or last.get("verdict") != "weaker" or last.get("against") != v.best_participant:
        return None
    return ShadowResult.model_validate({k: last[k] for k in ShadowResult.model_fields})


def apply_rollback(layout: RunLayout, variant: str, result: ShadowResult) -> None:
    """Repoint `best.json` to the predecessor of a journaled rollback; idempotent, so it also
    finishes one a crash interrupted. The caller holds the controller lease."""
    current = read_best(layout, variant)
    if current is not None and current["participant"] == result.against:
        return
    states = best_states(promotion_history(layout, variant))
    if states and states[-1]["participant"] == result.against:
        repair_best(layout, variant)  # killed between the history record and best.json
    elif current is not None and current["participant"] == result.best:
        model = parse_participant_id(variant, result.against).model_id
        assert model is not None  # a predecessor was a best, so a network player
        reason = f"automatic rollback after shadow check {result.eval_id}: {result.detail}"
        rollback(layout, variant, to_model=model, reason=reason)
    # Otherwise best.json moved on since (a user's rollback while no controller ran): that change
    # stands, and the next tick journals it as `best_changed`.


def status_doc(v: VariantState, every_s: float | None) -> dict[str, Any]:
    """The shadow part of a variant's `state.json` entry, for `status`."""
    return {
        "against": v.shadow_against,
        "checking": v.shadow_check["eval_id"] if v.shadow_check is not None else None,
        "next_due": next_due(v, every_s),
        "checks": v.shadow_checks,
        "last": v.last_shadow,
        "automatic_rollbacks": v.auto_rollbacks,
    }


def families(variants: Iterable[VariantState]) -> list[MetricFamily]:
    """The controller's shadow metrics (labels: the variant and the five verdicts)."""
    variants = list(variants)
    checked = [v for v in variants if v.last_shadow is not None]

    def last(v: VariantState, key: str) -> Any:
        assert v.last_shadow is not None
        return v.last_shadow.get(key)

    return [
        family(
            "ringrift_controller_shadow_checks_total",
            "counter",
            "Shadow checks of the best started per variant.",
            [({"variant": v.variant}, v.shadow_checks) for v in variants],
        ),
        family(
            "ringrift_controller_shadow_last_check_timestamp_seconds",
            "gauge",
            "When the variant's last shadow check ended (Unix time).",
            [({"variant": v.variant}, last(v, "time")) for v in checked if last(v, "time") is not None],
        ),
        family(
            "ringrift_controller_shadow_last_verdict",
            "gauge",
            "1 for the verdict of the variant's last shadow check, 0 for the others.",
            [
                ({"variant": v.variant, "verdict": verdict}, float(last(v, "verdict") == verdict))
                for v in checked
                for verdict in VERDICTS
            ],
        ),
        family(
            "ringrift_controller_shadow_difference_elo",
            "gauge",
            "Best minus predecessor in Elo over the shadow games, at the last check (absent when it rated none).",
            [
                ({"variant": v.variant}, last(v, "difference_elo"))
                for v in checked
                if last(v, "difference_elo") is not None
            ],
        ),
        family(
            "ringrift_controller_automatic_rollbacks_total",
            "counter",
            "Bests rolled back by a shadow check per variant.",
            [({"variant": v.variant}, v.auto_rollbacks) for v in variants],
        ),
    ]
