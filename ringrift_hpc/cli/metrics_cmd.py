"""`ringrift-hpc metrics serve RUN`: a run's metrics over HTTP, with or without a controller.

Each scrape reads the run directory afresh (the textfiles of ``RUN/metrics/`` and the lease),
so the server needs no controller and no torch.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.store import RunLayout

metrics_app = typer.Typer(
    name="metrics", help="Prometheus metrics of a run.", no_args_is_help=True, add_completion=False
)


@metrics_app.callback()
def _metrics() -> None:
    """Prometheus metrics of a run (docs/metrics.md lists them)."""


@metrics_app.command("serve")
def serve_command(
    run: Path = typer.Argument(..., help="The run directory."),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port to listen on (0: any free one); default metrics.port."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address to bind to; default metrics.address (127.0.0.1 unless configured)."
    ),
) -> None:
    """Serve the run's metrics at http://HOST:PORT/metrics until interrupted (Ctrl-C or SIGTERM)."""
    # Here, not at module level: the server and the config's models are no other command's cost.
    from ringrift_hpc.config import ConfigError, load_config
    from ringrift_hpc.metrics import MetricsServer

    layout = RunLayout(run)
    if not layout.run_config.exists():
        raise fail(f"{run} is not a run directory (no run.yaml)")
    try:
        section = load_config(layout.run_config).metrics
    except ConfigError as error:
        raise fail(str(error)) from None
    section = section.model_copy(
        update={"address": host or section.address, "port": section.port if port is None else port}
    )
    server = MetricsServer.for_run(layout, section)
    try:
        server.start()
    except OSError as error:
        raise fail(f"cannot serve metrics on {section.address}:{section.port}: {error}", 1) from None
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    typer.echo(f"serving the metrics of {layout.root} at http://{server.address}:{server.port}/metrics")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
