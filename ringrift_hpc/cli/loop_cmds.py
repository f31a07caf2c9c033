"""`loop`, `halt`, `resume`, `status`, `watch` and `worker`: running and watching a run.

`halt`, `resume` and `status` must answer at once, so the module imports nothing heavy: the
controller, the job functions (torch, h5py), rich and the config's models load inside the commands
that use them.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path
from types import FrameType

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.cluster.purposes import PURPOSES, check_purpose
from ringrift_hpc.loop.halt import clear_halt, read_halt, write_halt
from ringrift_hpc.loop.status import run_status, status_text
from ringrift_hpc.p2p.agent_link import AgentUnreachableError, ask_agent, p2p_status_text, read_p2p_status
from ringrift_hpc.p2p.auth import AuthConfigError
from ringrift_hpc.store import LeaseLostError, RunLayout


def _layout(run: Path) -> RunLayout:
    layout = RunLayout(run)
    if not layout.run_config.exists():
        raise fail(
            f"{run} is not a run directory (no run.yaml); create it with `ringrift-hpc init {run} --config FILE`"
        )
    return layout


def _via_p2p_agent(layout: RunLayout, path: str, payload: dict[str, object]) -> bool:
    """Hand halt/resume to the P2P agent serving this run directory, which forwards it to the
    coordinator; False when no agent serves it."""
    try:
        reply = ask_agent(layout, path, dict(payload))
    except (AgentUnreachableError, AuthConfigError) as error:
        raise fail(str(error)) from None
    if reply is None:
        return False
    if "error" in reply:
        raise fail(f"the P2P coordinator did not take it: {reply['error']}")
    typer.echo(f"{path.rsplit('/', 1)[-1]}: {json.dumps(reply, sort_keys=True)}")
    return True


# The exit status of a controller stopped by SIGTERM (128 + the signal, as the shell reports it).
TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM reached the controller. A BaseException, as KeyboardInterrupt: no `except Exception`
    of a tick may swallow it on its way to the `finally` that releases the lease."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM (Slurm signals every process, the batch shell passes one on) must
    # not interrupt the lease's release.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def loop_command(
    run: Path = typer.Argument(..., help="The run directory (created by `init`)."),
    once: bool = typer.Option(False, "--once", help="Run one tick and exit."),
    max_ticks: int | None = typer.Option(None, "--max-ticks", min=1, help="Exit after this many ticks."),
    quiet: bool = typer.Option(
        False, "--quiet", help="Print no line per journal event and no summary at the end."
    ),
) -> None:
    """Run the controller: selfplay, training, evaluation and promotion until done or halted.

    Prints one line per journal event (submissions, ingested artifacts, SPRT progress,
    decisions, failures) as it happens, and a summary at the end.

    SIGTERM (scancel, preemption) stops it as Ctrl-C does: the lease is released, so a restart
    takes over at once and resumes from the run directory; the exit status is 143.
    """
    from ringrift_hpc.config import ConfigError
    from ringrift_hpc.loop.event_feed import JournalFeed
    from ringrift_hpc.loop.runner import ControllerRunningError, run_loop

    layout = _layout(run)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    feed = None if quiet else JournalFeed(layout, typer.echo)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        outcome = run_loop(
            layout, once=once, max_ticks=max_ticks, after_tick=feed.poll if feed is not None else None
        )
    except ControllerRunningError as error:
        raise fail(str(error), 3) from None
    except LeaseLostError as error:
        raise fail(
            f"{error}\nanother controller took the run over; this one stopped without writing", 3
        ) from None
    except ConfigError as error:
        raise fail(str(error)) from None
    except KeyboardInterrupt:
        # Ctrl-C stops a loop that runs until done: what it did still deserves its summary.
        if feed is not None:
            feed.summary()
        raise
    except Terminated:
        if feed is not None:
            feed.summary()
        typer.echo(f"stopped by SIGTERM; the lease is released and `loop {run}` resumes the run")
        raise typer.Exit(TERMINATED_EXIT) from None
    verb = "finished (every variant reached loop.max_generations)" if outcome.finished else "stopped"
    typer.echo(f"{verb} after {outcome.ticks} tick(s)")
    if feed is not None:
        feed.summary()


def halt_command(
    run: Path = typer.Argument(..., help="The run directory."),
    reason: str = typer.Option(..., "--reason", help="Why the run is halted (kept in RUN/HALT)."),
    cancel: bool = typer.Option(
        False, "--cancel", help="Also cancel every queued or running job of the run."
    ),
) -> None:
    """Halt a run: jobs stop starting work, the controller submits nothing until `resume`."""
    layout = _layout(run)
    if not reason.strip():
        raise fail("halt needs a reason (--reason TEXT), so whoever resumes knows why it stopped")
    if _via_p2p_agent(layout, "/v1/halt", {"reason": reason, "cancel": cancel}):
        return
    try:
        write_halt(layout, reason)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"halted {layout.root}: {reason}")
    if cancel:
        from ringrift_hpc.cluster.executor_choice import make_executor
        from ringrift_hpc.config import load_config
        from ringrift_hpc.jobs.registry import job_callable

        make_executor(load_config(layout.run_config), layout, job_callable).cancel_all()
        typer.echo("cancelled every queued or running job of the run")


def resume_command(run: Path = typer.Argument(..., help="The run directory.")) -> None:
    """Remove HALT: the controller submits work again on its next tick."""
    layout = _layout(run)
    if _via_p2p_agent(layout, "/v1/resume", {}):
        return
    halt = read_halt(layout)
    if not clear_halt(layout):
        typer.echo(f"{layout.root} was not halted")
        return
    typer.echo(f"resumed {layout.root} (was halted: {halt.reason if halt else ''})")


def status_command(
    run: Path = typer.Argument(..., help="The run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Where the run stands, from its files only (never starts a controller)."""
    layout = _layout(run)
    model = run_status(layout)
    p2p = read_p2p_status(layout)
    if as_json:
        typer.echo(json.dumps({**model, "p2p": p2p} if p2p else model, indent=2, sort_keys=True))
        return
    typer.echo("\n".join([status_text(model), *(p2p_status_text(doc) for doc in p2p)]))


def watch_command(
    run: Path = typer.Argument(..., help="The run directory."),
    interval: float = typer.Option(3.0, "--interval", min=0.5, help="Seconds between refreshes."),
) -> None:
    """A live view of `status`, refreshed every few seconds; Ctrl-C exits."""
    from rich.live import Live
    from rich.panel import Panel
    from rich.text import Text

    layout = _layout(run)

    def view() -> Panel:
        return Panel(Text(status_text(run_status(layout))), title=f"ringrift-hpc watch {layout.root.name}")

    try:
        with Live(view(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(view())
    except KeyboardInterrupt:
        return


def worker_command(
    purpose: str = typer.Argument(..., metavar="PURPOSE", help=f"The job's purpose: {', '.join(PURPOSES)}."),
    spec: Path = typer.Option(..., "--spec", help="The job's JSON spec file."),
) -> None:
    """Run one job from its spec file (what the sbatch templates call)."""
    from ringrift_hpc.jobs.registry import run_from_spec_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        checked = check_purpose(purpose)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="PURPOSE") from None
    if not spec.is_file():
        raise fail(
            f"spec file {spec} does not exist; pass the JSON file the controller or sbatch render wrote"
        )
    try:
        result = run_from_spec_file(checked, spec)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(str(result))
