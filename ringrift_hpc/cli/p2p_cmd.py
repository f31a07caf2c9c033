"""`ringrift-hpc p2p RUN ...`: run this node's P2P agent until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.p2p.auth import AuthConfigError

if TYPE_CHECKING:
    from ringrift_hpc.p2p.agent import Agent


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(f"--listen {text!r} is not HOST:PORT; use e.g. 127.0.0.1:8787 or 10.0.0.5:8787")
    return host.strip("[]"), int(port)


def p2p_command(
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
    """Join the P2P cluster: vote, work, and coordinate when elected (docs/p2p.md)."""
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
