"""Create a run directory with its frozen config, or confirm an existing one matches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ringrift_hpc.config import Config, ConfigError, config_differences, dump_config, load_config
from ringrift_hpc.store import RunLayout, atomic_write_text

_SHOWN_DIFFERENCES = 12


class RunConfigMismatchError(RuntimeError):
    """An existing run was started with a different config; `init` never overwrites it."""


@dataclass(frozen=True)
class InitOutcome:
    layout: RunLayout
    created: bool  # False: the run existed with an equal config and nothing was written


def frozen_for(config: Config, root: Path) -> Config:
    """The config as the run stores it: `run.root` is the absolute run directory."""
    return config.model_copy(update={"run": config.run.model_copy(update={"root": str(root.resolve())})})


def init_run(root: Path, config: Config, *, source: str) -> InitOutcome:
    """Create `root` with `run.yaml` frozen from `config`; idempotent for an equal config.

    `source` names the config file in messages.
    """
    layout = RunLayout(root)
    wanted = frozen_for(config, root)
    if layout.run_config.exists():
        try:
            existing = load_config(layout.run_config)
        except ConfigError as error:
            raise RunConfigMismatchError(
                f"{layout.run_config} exists but is not a valid config, so {root} cannot be confirmed as this "
                f"run:\n{error}\nfix: repair or move that file by hand; init does not overwrite it"
            ) from error
        if existing != wanted:
            differences = config_differences(existing, wanted)
            shown = list(differences[:_SHOWN_DIFFERENCES])
            if len(differences) > len(shown):
                shown.append(f"... and {len(differences) - len(shown)} more")
            changes = "\n  ".join(shown)
            raise RunConfigMismatchError(
                f"{root} was started with a different config ({layout.run_config}); init does not overwrite it.\n"
                f"  {changes}\n"
                f"fix: choose a new run directory for {source}, or start from the run's own run.yaml"
            )
        return InitOutcome(layout, created=False)
    for directory in (
        layout.root,
        layout.variants_dir,
        layout.requests_dir,
        layout.jobs_dir,
        layout.metrics_dir,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    for variant in wanted.variants:
        layout.variant_dir(variant.name).mkdir(exist_ok=True)
    atomic_write_text(layout.run_config, dump_config(wanted))
    return InitOutcome(layout, created=True)
