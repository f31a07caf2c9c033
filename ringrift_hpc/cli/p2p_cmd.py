"""`ringrift-hpc p2p RUN ...`: run this node's P2P agent until SIGTERM or Ctrl-C; and
`p2p drain|retire|unretire RUN NODE`: change a node's state through that agent."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.p2p.auth import AuthConfigError

if TYPE_CHECKING:
    from ringrift_hpc.p2p.agent import Agent

SERVE = "serve"


class _ServeByDefault(TyperGroup):
    """`p2p RUN ...` stays short for `p2p serve RUN ...`: a first word that names no subcommand
    starts the agent (a run directory called `drain` is written `./drain`)."""

    # `ctx` is click's Context, which newer typers vendor under a private module: no stable name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [SERVE, *args]
        return super().parse_args(ctx, args)


p2p_app = typer.Typer(
    name="p2p",
    cls=_ServeByDefault,
    help="P2P mode: run this node's agent (`p2p RUN ...`), drain, retire or unretire a node.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # as the main app: plain, fast help
)


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(f"--listen {text!r} is not HOST:PORT; use e.g. 127.0.0.1:8787 or 10.0.0.5:8787")
    return host.strip("[]"), int(port)


@p2p_app.command(SERVE)
def serve_command(
    run: Path = typer.Argument(..., help="This node's run directory (created by `init` with the shared config)."),
    node_id: str = typer.Option(..., "--node-id", help="This node's id (unique; coordinators are listed by id)."),
    listen: str = typer.Option("127.0.0.1:8787", "--listen", help="HOST:PORT to serve on (loopback unless told)."),
    peers: str = typer.Option("", "--peers", help="Comma-separated URLs of other nodes, e.g. http://10.0.0.6:8787."),
    advertise: str | None = typer.Option(
        None, "--advertise", help="URL peers use to reach this node (default: http://HOST:PORT of --listen)."
    ),
    eligible: bool = typer.Option(
        False, "--coordinator-eligible", help="This node votes and may coordinate (must be in p2p.coordinators)."
    ),
    token_file: Path = typer.Option(..., "--token-file", help="File holding the shared secret of all nodes."),
    shared: bool = typer.Option(
        False,
        "--shared-run-dir",
        help="RUN is on a filesystem every node mounts: the store's file lease picks the coordinator "
        "and nothing is copied between nodes.",
    ),
    max_jobs: int | None = typer.Option(
        None, "--max-jobs", min=1, help="Jobs this node runs at once (default: local.max_parallel_jobs)."
    ),
) -> None:
    """Join the P2P cluster: vote, work, and coordinate when elected (docs/p2p.md).

    `ringrift-hpc p2p RUN ...` is short for `ringrift-hpc p2p serve RUN ...`.
    """
    # The agent pulls in aiohttp, the controller and the config's models: imported here, so
    # `--help` and the other commands stay fast.
    import asyncio

    from ringrift_hpc.config import ConfigError
    from ringrift_hpc.p2p.agent import AgentSetupError, NodeSettings, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host, port = _listen(listen)
    if advertise is None and host in ("0.0.0.0", "::"):
        raise fail(f"--listen {listen} binds every address; give --advertise http://THIS-HOST:{port} for peers")
    url = (advertise or f"http://{host}:{port}").rstrip("/")
    settings = NodeSettings(
        run=run,
        node_id=node_id,
        host=host,
        port=port,
        url=url,
        peers=tuple(p.strip().rstrip("/") for p in peers.split(",") if p.strip()),
        eligible=eligible,
        token_file=token_file,
        max_jobs=max_jobs,
        shared=shared,
    )

    async def on_ready(agent: Agent) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, agent.stopping.set)

    try:
        asyncio.run(serve(settings, ready=on_ready))
    except (AgentSetupError, AuthConfigError, ConfigError) as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"cannot serve on {listen}: {error}; pick a free port with --listen") from None


_RUN_HELP = "This node's run directory, served by a running agent (which forwards to the coordinator)."
_NODE_HELP = "The node's id (as given to its agent with --node-id)."
_REASON_HELP = "Why (kept in the node state table and shown by `status`)."


def _set_state(run: Path, node: str, command: str, reason: str) -> None:
    """Ask the agent serving RUN to have the coordinator record NODE's new state."""
    from ringrift_hpc.loop.requests import requester
    from ringrift_hpc.p2p.agent_link import AgentUnreachableError, ask_agent
    from ringrift_hpc.p2p.node_states import COMMANDS, NodeStateRequest
    from ringrift_hpc.p2p.wire import WireError
    from ringrift_hpc.store import RunLayout

    fields = {"target": node, "state": COMMANDS[command], "reason": reason, "requested_by": requester()}
    try:
        ask = NodeStateRequest.from_json(fields)
    except WireError as error:
        raise fail(f"{command}: {error}") from None
    try:
        reply = ask_agent(RunLayout(run), "/v1/nodes/state", ask.to_json())
    except (AgentUnreachableError, AuthConfigError) as error:
        raise fail(str(error)) from None
    if reply is None:
        raise fail(
            f"no P2P agent serves {run} (no p2p/agent.json): node states are kept by the coordinator, "
            f"reached through a running agent; run `ringrift-hpc p2p {command} RUN {node}` on a node whose "
            "agent runs, with that node's run directory"
        )
    if "error" in reply:
        raise fail(f"{command} {node}: the P2P coordinator did not take it: {reply['error']}")
    unknown = "" if reply.get("known") else f" (node {node} has not been heard from yet)"
    typer.echo(
        f"{node}: {reply['state']} (was {reply['previous']}), recorded by coordinator "
        f"{reply['coordinator']} in term {reply['term']}{unknown}"
    )


@p2p_app.command("drain")
def drain_command(
    run: Path = typer.Argument(..., help=_RUN_HELP),
    node: str = typer.Argument(..., help=_NODE_HELP),
    reason: str = typer.Option("", "--reason", help=_REASON_HELP),
) -> None:
    """NODE finishes the jobs it runs and takes no new ones (drained once it runs none)."""
    _set_state(run, node, "drain", reason)


@p2p_app.command("retire")
def retire_command(
    run: Path = typer.Argument(..., help=_RUN_HELP),
    node: str = typer.Argument(..., help=_NODE_HELP),
    reason: str = typer.Option("", "--reason", help=_REASON_HELP),
) -> None:
    """NODE gets no work and the keepalive hook leaves it alone, across restarts."""
    _set_state(run, node, "retire", reason)


@p2p_app.command("unretire")
def unretire_command(
    run: Path = typer.Argument(..., help=_RUN_HELP),
    node: str = typer.Argument(..., help=_NODE_HELP),
    reason: str = typer.Option("", "--reason", help=_REASON_HELP),
) -> None:
    """NODE is active again: it takes work (this also ends a drain)."""
    _set_state(run, node, "unretire", reason)
