"""`tournament`, `leaderboard`, `gate`, `promote` and `rollback`: thin commands over the rating code.

Exit codes: 0 success (for `gate`: pass), 1 `gate` or `promote --candidate` fail, 2 error (bad
input, missing model, no games, a controller in the way); every error names the file or option and
the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.config.variants import variant_from_name
from ringrift_hpc.loop.requests import DONE_DIR, Request, controller_holds_lease, requester, submit
from ringrift_hpc.rating.best import best_path, promotion_history, read_best
from ringrift_hpc.rating.participants import Participant, parse_participant_id, participant_from_text
from ringrift_hpc.store import LeaseHeldError, RunLayout, StoreError, read_lease

if TYPE_CHECKING:
    from ringrift_hpc.config import Config, PromotionSection
    from ringrift_hpc.jobs.evaluate_games import GroupPlan
    from ringrift_hpc.jobs.evaluate_gate import GateReport
    from ringrift_hpc.jobs.evaluate_players import SearchKnobs


def _run_config(run: Path) -> tuple[RunLayout, Config]:
    # Here, not at module level: only the commands that read the run's config pay for its models.
    from ringrift_hpc.config import ConfigError, load_config

    layout = RunLayout(run)
    if not layout.run_config.exists():
        raise fail(
            f"{run} is not a run directory (no {layout.run_config}); create it with `ringrift-hpc init`"
        )
    try:
        return layout, load_config(layout.run_config)
    except ConfigError as error:
        raise fail(str(error)) from None


def _run_variant(config: Config, variant: str, run: Path) -> str:
    names = [v.name for v in config.variants]
    if variant not in names:
        raise fail(f"--variant {variant}: run {run} plays {', '.join(names)}; pick one of them")
    return variant


def tournament_command(
    run: Path = typer.Argument(..., help="The run directory."),
    variant: str = typer.Option(..., "--variant", "-v", help="The variant to rate, e.g. square8_2p."),
    participants: list[str] = typer.Option(
        [],
        "--participants",
        "-p",
        help="Participant ids (gumbel@64#<sha256>, policy#<sha256>) or bare model ids (searched at the "
        "evaluation budget); repeat the option for several.",
    ),
    recent_bests: int | None = typer.Option(
        None,
        "--recent-bests",
        min=0,
        help="Recent best models that enter; default evaluation.tournament_recent_bests.",
    ),
    format_: str = typer.Option("round-robin", "--format", help="round-robin or swiss."),
    groups_per_pair: int | None = typer.Option(
        None,
        "--groups-per-pair",
        min=1,
        help="Game groups per pairing; default evaluation.tournament_groups_per_pair.",
    ),
    local: bool = typer.Option(
        False,
        "--local",
        help="Play in this process, many games at once, instead of submitting the games as tasks.",
    ),
    poll_interval: float | None = typer.Option(
        None,
        "--poll-interval",
        min=0.1,
        help="Seconds between looks at the submitted tasks (one scheduler query each); "
        "default loop.tick_interval_s.",
    ),
) -> None:
    """Rate chosen participants, recent bests and the anchors (promotion.anchors) by a tournament,
    then refit the ratings from the full match history and rewrite the leaderboard files.

    Each round goes out as one job array through the run's executor (Slurm or local processes).

    Tasks play evaluation.groups_per_task groups each; the command polls them, printing progress.

    A failed task makes the command exit 2 with the task's error text, and nothing is refitted.

    Ctrl-C cancels the submitted tasks. --local plays the games in this process instead.

    Refused while a controller runs: it holds periodic tournaments itself.
    """
    # Playing imports torch and numpy: here, not at module level, so `leaderboard`, `promote` and
    # `rollback` from this module start fast.
    from ringrift_hpc.cluster.executor_choice import executor_kind, make_executor
    from ringrift_hpc.jobs.evaluate import MatchSpec, run_match
    from ringrift_hpc.jobs.evaluate_games import group_seed
    from ringrift_hpc.jobs.evaluate_players import check_playable
    from ringrift_hpc.jobs.model_files import run_model_file
    from ringrift_hpc.jobs.registry import job_callable
    from ringrift_hpc.loop.tournament_arrays import submitted_rounds
    from ringrift_hpc.loop.tournament_plan import entrants, tournament_id
    from ringrift_hpc.loop.tournament_rounds import (
        FORMATS,
        TournamentPlan,
        one_task_rounds,
        play_tournament,
        refit_leaderboard,
        swiss_rounds,
    )
    from ringrift_hpc.rating.leaderboard import leaderboard_markdown

    if format_ not in FORMATS:
        raise fail(f"--format {format_!r} is unknown; use one of {', '.join(FORMATS)}")
    layout, config = _run_config(run)
    variant = _run_variant(config, variant, run)
    if controller_holds_lease(layout):
        raise fail(
            _controller_message(
                layout,
                "it runs periodic tournaments and refits the leaderboard itself "
                "(evaluation.tournament_every_generations); stop it (`ringrift-hpc halt`) to run one here",
            )
        )
    budget = config.evaluation_simulations
    try:
        chosen = [participant_from_text(variant, text, budget) for text in participants]
        everyone = entrants(
            config, variant, promotion_history(layout, variant), chosen=chosen, recent=recent_bests
        )
        models = sorted({p.model_id for p in everyone if p.model_id is not None})
        if not models:
            raise fail(
                f"{variant} has no models to rate: nothing was promoted yet and --participants names none; "
                "name models with --participants"
            )
        for participant in everyone:
            check_playable(participant)
        find = run_model_file(layout, variant)
        for model in models:
            find(model)
    except (ValueError, FileNotFoundError) as error:
        raise fail(f"tournament: {error}") from None
    eval_id = tournament_id(datetime.now(timezone.utc))
    plan = TournamentPlan(
        variant=variant,
        eval_id=eval_id,
        participants=everyone,
        format=format_,
        groups_per_pair=groups_per_pair or config.evaluation.tournament_groups_per_pair,
        rounds=1 if format_ == "round-robin" else swiss_rounds(len(everyone)),
        # Each tournament its own openings: a rerun adds new games, not the same ones again.
        seed=group_seed(config.run.seed, eval_id, 0),
    )

    def make_spec(task: str, plans: tuple[GroupPlan, ...]) -> MatchSpec:
        return MatchSpec.from_config(
            config, run_root=run, variant=variant, eval_id=eval_id, task=task, groups=plans
        )

    if local:
        where = "played here"
        play_round = one_task_rounds(make_spec, run_match)
    else:
        where = f"submitted through the {executor_kind(config)} executor"
        play_round = submitted_rounds(
            make_executor(config, layout, job_callable),
            make_spec,
            groups_per_task=config.evaluation.groups_per_task,
            poll_s=poll_interval or config.loop.tick_interval_s,
            report=typer.echo,
        )
    typer.echo(f"{variant} {format_} tournament {eval_id}: {len(everyone)} participants, {where}")
    try:
        results = play_tournament(plan, play_round)
        for result in results:
            typer.echo(
                f"  {layout.relative(result.path)}: {result.groups} groups, {result.games} games, "
                f"{result.seconds:.1f}s"
            )
        ratings = refit_leaderboard(
            layout, variant, confidence=config.evaluation.confidence, zero=config.evaluation.rating_zero
        )
    except LeaseHeldError as error:
        raise fail(
            f"tournament: the match files are published, but the refit was not done: {error}"
        ) from None
    except (ValueError, RuntimeError, FileNotFoundError, StoreError) as error:
        raise fail(f"tournament: {error}") from None
    typer.echo("")
    typer.echo(leaderboard_markdown(ratings), nl=False)


def leaderboard_command(
    run: Path = typer.Argument(..., help="The run directory."),
    variant: str | None = typer.Option(
        None, "--variant", "-v", help="Only this variant; default: every rated one."
    ),
) -> None:
    """Print the leaderboard table of each rated variant (reads RUN/variants/*/leaderboard.md)."""
    layout = RunLayout(run)
    if variant is not None:
        try:
            variants = [variant_from_name(variant, where="--variant").name]
        except ValueError as error:
            raise fail(str(error)) from None
    else:
        root = layout.variants_dir
        variants = sorted(entry.name for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []
    tables = [layout.leaderboard_md(v) for v in variants if layout.leaderboard_md(v).exists()]
    if not tables:
        which = f"variant {variant}" if variant else f"any variant of {run}"
        raise fail(
            f"no leaderboard for {which} yet; rate it with `ringrift-hpc tournament {run} --variant V`"
        )
    typer.echo("\n".join(path.read_text() for path in tables), nl=False)


def gate_command(
    candidate: Path = typer.Option(..., "--candidate", help="The candidate's checkpoint file."),
    baseline: Path = typer.Option(
        ..., "--baseline", help="The baseline's checkpoint file (e.g. the current best)."
    ),
    variant: str = typer.Option(..., "--variant", "-v", help="The variant both models were trained for."),
    groups: int | None = typer.Option(
        None,
        "--groups",
        min=1,
        help="Most SPRT game groups before the test rejects; default promotion.sprt.max_groups.",
    ),
    simulations: int | None = typer.Option(
        None,
        "--simulations",
        min=1,
        help="Search budget of both models; default the config's evaluation budget.",
    ),
    player: str = typer.Option(
        "gumbel", "--player", help="gumbel (search at --simulations) or policy (the prior alone)."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config whose promotion section sets the SPRT and anchors; default built-in.",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    concurrent_games: int = typer.Option(16, "--concurrent-games", min=1, help="Game groups played at once."),
    seed: int = typer.Option(0, "--seed", help="Seed of the groups' openings."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Strength gate: SPRT of candidate against baseline plus the anchor regression gate (random,
    heuristic), exactly as promotion judges. Exit 0 pass, 1 fail, 2 error (zero games is an error)."""
    report = _gate(
        candidate, baseline, variant, groups, simulations, player, config, device, concurrent_games, seed
    )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(_gate_text(report))
    raise typer.Exit(report.exit_code)


def _gate(
    candidate: Path,
    baseline: Path,
    variant: str,
    groups: int | None,
    simulations: int | None,
    player: str,
    config: Path | None,
    device: str,
    concurrent_games: int,
    seed: int,
) -> GateReport:
    # Loading the models imports torch: here, not at module level (see tournament).
    from ringrift_hpc.ai.checkpoint import model_id as file_model_id
    from ringrift_hpc.config import Config, ConfigError, load_config
    from ringrift_hpc.jobs.evaluate_gate import ERROR, GateReport
    from ringrift_hpc.jobs.evaluate_players import SearchKnobs

    names = (str(candidate), str(baseline))
    try:
        variant_from_name(variant, where="--variant")
        cfg = load_config(config) if config is not None else Config()
        gate = _gate_section(cfg.promotion, groups)
        if player not in ("gumbel", "policy"):
            raise ValueError(f"--player {player!r} is unknown; use gumbel or policy")
        budget = (simulations or cfg.evaluation_simulations) if player == "gumbel" else 0
        files = {}
        rated = []
        for option, path in (("--candidate", candidate), ("--baseline", baseline)):
            if not path.is_file():
                raise FileNotFoundError(f"{option} {path} does not exist; pass a checkpoint file")
            model = file_model_id(path)
            files[model] = path
            rated.append(Participant(variant=variant, kind=player, budget=budget, model_id=model))
    except (ConfigError, ValueError, OSError) as error:
        return GateReport(ERROR, variant, *names, reasons=(str(error),))
    setup = _GateSetup(
        model_file=files.__getitem__,
        knobs=SearchKnobs(),
        device=device,
        max_batch=1024,
        opening_moves=4,
        concurrent_games=concurrent_games,
        seed=seed,
    )
    return _play_gate(rated[0], rated[1], gate, setup, names=names)


@dataclass(frozen=True)
class _GateSetup:
    """How the gate's games are played: where the models lie and the search and play settings."""

    model_file: Callable[[str], Path]
    knobs: SearchKnobs
    device: str
    max_batch: int
    opening_moves: int
    concurrent_games: int
    seed: int


def _play_gate(
    candidate: Participant,
    baseline: Participant | None,
    gate: PromotionSection,
    setup: _GateSetup,
    *,
    names: tuple[str, str | None],
) -> GateReport:
    """The one gate (`jobs.evaluate_gate.run_gate`) played here; `names` label an error report."""
    import torch

    from ringrift_hpc.jobs.evaluate_gate import ERROR, GateReport, game_player, run_gate
    from ringrift_hpc.jobs.evaluate_players import build_players
    from ringrift_hpc.jobs.slurm_env import available_cpus

    game = candidate.variant
    rated = [candidate] if baseline is None else [candidate, baseline]
    anchors = [Participant(variant=game, kind=a.player) for a in gate.anchors]
    try:
        players = build_players(
            [*rated, *anchors],
            game.board,
            game.players,
            model_file=setup.model_file,
            knobs=setup.knobs,
            device=setup.device,
            max_batch=setup.max_batch,
        )
    except (ValueError, OSError) as error:
        return GateReport(ERROR, game.name, *names, reasons=(str(error),))
    torch.set_num_threads(available_cpus(os.environ))
    play = game_player(
        game, players, opening_moves=setup.opening_moves, concurrent_games=setup.concurrent_games
    )
    return run_gate(candidate, baseline, gate, play, seed=setup.seed)


def _gate_section(section: PromotionSection, groups: int | None) -> PromotionSection:
    if groups is None:
        return section
    sprt = section.sprt.model_copy(
        update={"max_groups": groups, "min_groups": min(section.sprt.min_groups, groups)}
    )
    return section.model_copy(update={"sprt": sprt})


def _gate_text(report: GateReport) -> str:
    against = report.baseline or "the anchors alone (no baseline)"
    lines = [
        (
            f"gate {report.verdict.upper()}: {report.candidate} against {against} ({report.variant}), "
            f"{report.games} games in {report.seconds:.1f}s"
        )
    ]
    sprt = report.statistics.get("sprt")
    if sprt:
        lines.append(
            f"  SPRT {sprt['status']} after {sprt['groups']} groups: LLR {sprt['llr']:.2f} in "
            f"[{sprt['lower_bound']:.2f}, {sprt['upper_bound']:.2f}], about {sprt['elo_estimate']:+.0f} Elo"
        )
    for anchor in report.statistics.get("anchors", []):
        reference = "" if anchor["best_score"] is None else f" (baseline {anchor['best_score']:.3f})"
        lines.append(
            f"  against {anchor['anchor']}: {anchor['candidate_score']:.3f} "
            f"over {anchor['games']} games{reference}"
        )
    lines += [f"  - {reason}" for reason in report.reasons]
    return "\n".join(lines)


def _controller_message(layout: RunLayout, what: str) -> str:
    record = read_lease(layout.lease)
    holder = record.describe() if record is not None else "a controller"
    return f"a controller holds {layout.lease} ({holder}): {what}"


def promote_command(
    run: Path = typer.Argument(..., help="The run directory."),
    variant: str = typer.Option(..., "--variant", "-v", help="The variant, e.g. square8_2p."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model id of the run (searched at the evaluation budget) or a full participant id; "
        "promoted without the gate (recorded as manual).",
    ),
    candidate: Path | None = typer.Option(
        None,
        "--candidate",
        help="A checkpoint file, e.g. trained elsewhere: validated, imported into the run's model store "
        "and promoted only if it passes the gate against the current best.",
    ),
    force: bool = typer.Option(
        False, "--force", help="With --candidate: promote without the gate (recorded as forced)."
    ),
    gate_config: Path | None = typer.Option(
        None,
        "--gate-config",
        help="With --candidate: a gate file (e.g. config/promotion_daemon.yaml) whose promotion section "
        "judges it; default the run's promotion section.",
    ),
    seed: int = typer.Option(0, "--seed", help="With --candidate: seed of the gate's openings."),
    reason: str | None = typer.Option(
        None, "--reason", help="Why; recorded in promotions.jsonl (default: how it was promoted)."
    ),
) -> None:
    """Make a model the variant's best: --model ID as is (recorded as manual), or --candidate FILE
    after the SPRT and anchor gate against the current best, the one the loop plays (--force skips it).

    Exit 0 promoted (or queued), 1 the candidate failed the gate, 2 error. The change is applied at
    once when no controller runs; otherwise queued in RUN/requests/ for the controller."""
    if (model is None) == (candidate is None):
        raise fail(
            "name the model to promote: --model ID (a model of the run) or --candidate FILE (a checkpoint)"
        )
    if model is not None and (force or gate_config is not None):
        raise fail("--force and --gate-config go with --candidate; --model is promoted without the gate")
    if force and gate_config is not None:
        raise fail("--force skips the gate, so --gate-config would judge nothing; drop one of them")
    layout, config = _run_config(run)
    variant = _run_variant(config, variant, run)
    if candidate is not None:
        _promote_candidate(layout, config, variant, candidate, force, gate_config, seed, reason)
        return
    assert model is not None  # exactly one of --model and --candidate
    if model.endswith(".pt") or Path(model).is_file():
        raise fail(
            f"--model {model} looks like a file, but --model takes a model id of the run; "
            f"to bring in a checkpoint file use --candidate {model}"
        )
    try:
        participant = participant_from_text(variant, model, config.evaluation_simulations)
        request = Request.promote(variant, participant.id, reason=reason or "manual promotion")
    except ValueError as error:
        raise fail(f"--model: {error}") from None
    _submit(layout, request)


def _promote_candidate(
    layout: RunLayout,
    config: Config,
    variant: str,
    source: Path,
    force: bool,
    gate_config: Path | None,
    seed: int,
    reason: str | None,
) -> None:
    # Checking and playing the checkpoint imports torch: here, so `promote --model` starts fast.
    from ringrift_hpc.ai.net import NetConfig
    from ringrift_hpc.config import ConfigError
    from ringrift_hpc.config.gate_file import load_gate_file
    from ringrift_hpc.jobs.evaluate_gate import ERROR, FAIL
    from ringrift_hpc.jobs.evaluate_players import SearchKnobs
    from ringrift_hpc.jobs.model_files import run_model_file
    from ringrift_hpc.jobs.model_import import import_checkpoint

    try:
        gate = load_gate_file(gate_config) if gate_config is not None else config.promotion
    except ConfigError as error:
        raise fail(f"--gate-config: {error}") from None
    game = next(v for v in config.variants if v.name == variant)
    try:
        imported = import_checkpoint(
            layout, game, source, NetConfig.from_section(config.network), imported_by=requester()
        )
        current = read_best(layout, variant)
    except (ValueError, OSError, StoreError) as error:
        raise fail(f"--candidate: {error}") from None
    how = "imported as" if imported.added else "already in the run as"
    typer.echo(f"{source}: model {imported.model_id} {how} {layout.relative(imported.path)}")
    participant = participant_from_text(variant, imported.model_id, config.evaluation_simulations)
    best = parse_participant_id(variant, current["participant"]) if current is not None else None
    if best is not None and best.model_id == participant.model_id:
        raise fail(f"--candidate {source}: model {imported.model_id} is already the best of {variant}")
    if force:
        request = Request.promote(
            variant, participant.id, reason=reason or "forced promotion", forced=True, source=str(source)
        )
        _submit(layout, request)
        return
    selfplay = config.selfplay
    setup = _GateSetup(
        model_file=run_model_file(layout, variant),
        knobs=SearchKnobs(
            gumbel_actions=selfplay.gumbel_actions, c_visit=selfplay.c_visit, c_scale=selfplay.c_scale
        ),
        device=config.evaluation.device,
        max_batch=selfplay.max_batch_size,
        opening_moves=selfplay.opening_sample_moves,
        concurrent_games=config.evaluation.concurrent_games,
        seed=seed,
    )
    against = best.id if best is not None else None
    typer.echo(
        f"gate: {participant.id} against {against or 'the anchors alone (no best yet)'}, "
        f"{'gate file ' + str(gate_config) if gate_config else 'the run config'}'s promotion settings"
    )
    report = _play_gate(participant, best, gate, setup, names=(participant.id, against))
    typer.echo(_gate_text(report))
    if report.exit_code == ERROR:
        raise fail(f"--candidate {source}: the gate could not judge it; nothing was promoted")
    if report.exit_code == FAIL:
        typer.echo(
            f"not promoted: {variant} best stays {against}; the model stays in the run as "
            f"{imported.model_id} (--force promotes it without the gate)"
        )
        raise typer.Exit(1)
    gate_record = {"baseline": report.baseline, "statistics": report.statistics}
    request = Request.promote(
        variant, participant.id, reason=reason or "passed the gate", gate=gate_record, source=str(source)
    )
    _submit(layout, request)


def rollback_command(
    run: Path = typer.Argument(..., help="The run directory."),
    variant: str = typer.Option(..., "--variant", "-v", help="The variant, e.g. square8_2p."),
    to: str | None = typer.Option(
        None, "--to", help="Model id of any earlier best; default: one step back along the promotion path."
    ),
    reason: str = typer.Option("manual rollback", "--reason", help="Why; recorded in promotions.jsonl."),
) -> None:
    """Repoint the variant's best to an earlier best, exactly as it was installed.

    Each rollback steps one promotion back (twice: two steps); --to jumps to any earlier best.
    Applied at once when no controller runs; otherwise queued in RUN/requests/ for the controller."""
    layout, config = _run_config(run)
    variant = _run_variant(config, variant, run)
    try:
        request = Request.rollback(variant, to, reason=reason)
    except ValueError as error:
        raise fail(f"--to: {error}") from None
    _submit(layout, request)


def _submit(layout: RunLayout, request: Request) -> None:
    try:
        outcome = submit(layout, request)
    except (ValueError, FileNotFoundError, StoreError) as error:
        raise fail(f"{request.kind}: {error}") from None
    if outcome.how == "queued":
        before = read_best(layout, request.variant)
        was = before["participant"] if before is not None else "nothing"
        assert outcome.request_file is not None  # submit: a queued request has its file
        done = outcome.request_file.parent / DONE_DIR / outcome.request_file.name
        typer.echo(
            _controller_message(
                layout,
                f"queued {outcome.request_file}; it applies the request on its next tick "
                f"(best now: {was}; the result will be in {done})",
            )
        )
        return
    record = outcome.record or {}
    now = record.get("best_document", {}).get("participant")
    was = record.get("best") if request.kind == "promote" else record.get("from_participant")
    was = was or "nothing"
    if request.kind == "promote":
        how = "forced" if request.forced else "manual" if request.gate is None else "passed the gate"
        typer.echo(
            f"promote: {request.variant} best was {was}, is now {now} (recorded in promotions.jsonl: {how})"
        )
    else:
        typer.echo(f"rollback: {request.variant} best was {was}, is now {now} (recorded in promotions.jsonl)")
        path = best_path(promotion_history(layout, request.variant))
        further = path[-2]["participant"] if len(path) > 1 else None
        typer.echo(
            f"  a further rollback would return to {further}"
            if further
            else "  this is the first best on the promotion path; --to names any other earlier best"
        )
