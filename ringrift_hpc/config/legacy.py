"""Keys of the old RingRift loop's `unified_loop.yaml`, and what replaces each one here.

A config carried over from the old system fails on its first old key; the error then names the
new key (or says there is none) instead of only "unknown key". docs/migrating.md has the full
mapping, scripts and flags included.
"""

from __future__ import annotations

from types import MappingProxyType

_NO_SYNC = "remove it: jobs share the run directory; between machines use `ringrift-hpc sync` or P2P mode"
_REMOVE = "remove it: ringrift-hpc has no equivalent"
_P2P = "remove it: start `ringrift-hpc p2p RUN` on each machine and list the voters in p2p.coordinators"


def _per_kind(old: str, new: str) -> dict[str, str]:
    """`slurm.<old>_training|_selfplay|_tournament` -> `slurm.train|selfplay|evaluate.<new>`."""
    kinds = {"training": "train", "selfplay": "selfplay", "tournament": "evaluate"}
    return {f"slurm.{old}_{kind}": f"use slurm.{job}.{new}" for kind, job in kinds.items()}


def _per_job(new: str) -> str:
    return f"set it per job kind: slurm.selfplay.{new}, slurm.train.{new}, slurm.evaluate.{new}"


# Old key path (list indices left out) -> the fix. Top-level sections the old loader read, or
# that the old file carried, map as a whole; inside sections that exist here, single keys.
LEGACY_KEYS = MappingProxyType(
    {
        "execution_backend": "use executor: slurm, local or auto (the old ssh and p2p backends: "
        "run `ringrift-hpc p2p` on each machine)",
        "hosts_config_path": "remove it: there is no hosts file; P2P nodes are named by "
        "`ringrift-hpc p2p --peers` and p2p.coordinators",
        "elo_db": "remove it: ratings are refitted from the match files into variants/<v>/leaderboard.json",
        "data_manifest_db": "remove it: every artifact has its own manifest next to it",
        "log_dir": "remove it: job logs go to RUN/jobs/",
        "verbose": "remove it: `ringrift-hpc loop` prints one line per event (`--quiet` for less)",
        "metrics_enabled": "use metrics.enabled",
        "metrics_port": "use metrics.port (and metrics.serve: true, or `ringrift-hpc metrics serve RUN`)",
        "configurations": "use run.variants, a list of <board>_<players>p names such as [square8_2p, hex8_3p]",
        "data_ingestion": _NO_SYNC,
        "auto_sync": _NO_SYNC,
        "data_aggregation": _NO_SYNC,
        "external_drive_sync": "remove it: copy a run with `ringrift-hpc sync RUN /mnt/drive/RUN`",
        "p2p_daemon": _P2P,
        "tournament": "use the evaluation section (tournament_every_generations, "
        "tournament_groups_per_pair, tournament_recent_bests)",
        "regression": "use promotion.anchors: the regression gate against the random and heuristic players",
        "alerting": "remove it: alert on the Prometheus metrics instead (docs/alerts.yml)",
        "replay_buffer": "use training.replay_window (uniform sampling; there is no prioritized replay)",
        "safeguards": "remove it: local.max_parallel_jobs and slurm.<kind>.array_parallelism bound "
        "the jobs; `ringrift-hpc halt RUN` stops them",
        "safety": _REMOVE,
        "cluster": _REMOVE,
        "resource_targets": _REMOVE,
        "ssh": "remove it: `ringrift-hpc sync` uses your ssh configuration (~/.ssh/config)",
        "plateau_detection": _REMOVE,
        "pbt": _REMOVE,
        "nas": _REMOVE,
        "cmaes": _REMOVE,
        "elo_targets": "remove it: loop.max_generations is the stopping point",
        "model_pruning": "remove it: models are content-addressed and never deleted",
        "auto_scaling": "remove it: p2p.keepalive_command can restart dead cloud instances",
        "queue_populator": "remove it: selfplay.tasks_in_flight keeps the selfplay fleet busy",
        "self_healing": "remove it: loop.max_job_retries and loop.retry_backoff_s resubmit failed jobs",
        "proactive_monitoring": "remove it: alert on the Prometheus metrics instead (docs/alerts.yml)",
        "tier_calibration": _REMOVE,
        "model_validation": "remove it: promotion.sprt and promotion.anchors gate every candidate",
        "storage": "remove it: run.root is the one storage location",
        "provider_detection": _REMOVE,
        "pipeline": _REMOVE,
        "validation": _REMOVE,
        "adaptive_control": _REMOVE,
        "slurm.enabled": "remove it and set executor: slurm (or auto: Slurm when sbatch is found)",
        **_per_kind("partition", "partition"),
        **_per_kind("default_time", "time"),
        **_per_kind("gpus", "gpus"),
        **_per_kind("cpus", "cpus"),
        **_per_kind("mem", "mem"),
        "slurm.account": _per_job("account"),
        "slurm.qos": _per_job("qos"),
        "slurm.extra_sbatch_args": _per_job("extra_sbatch_args"),
        "slurm.job_dir": "remove it: submitit folders go to RUN/jobs/",
        "slurm.log_dir": "remove it: job logs go to RUN/jobs/",
        "slurm.shared_root": "remove it: put run.root on the shared filesystem",
        "slurm.repo_subdir": "remove it: jobs run the installed package, not a checkout",
        "slurm.venv_activate": 'put the activation line in slurm.setup, e.g. ["source /shared/venv/bin/activate"]',
        "slurm.venv_activate_arm64": "put the arm64 activation line in the setup of the job kind that runs "
        "on those nodes, e.g. slurm.train.setup",
        "slurm.setup_commands": "use slurm.setup",
        "slurm.poll_interval_seconds": "use loop.tick_interval_s (one sacct call per tick)",
        "p2p.enabled": _P2P,
        "p2p.p2p_base_url": "remove it: pass `ringrift-hpc p2p --listen HOST:PORT --peers URL,...`",
        "p2p.auth_token": "remove it: pass `ringrift-hpc p2p --token-file FILE` (a secret never sits in the config)",
        "p2p.health_check_interval": "use p2p.heartbeat_interval_s",
        "p2p.unhealthy_threshold": "use p2p.suspect_after_s and p2p.dead_after_s (seconds, not counts)",
        "p2p.sync_interval_seconds": "use p2p.sync_interval_s",
        "selfplay.mcts_simulations": "use selfplay.simulations",
        "selfplay.default_games_per_config": "use selfplay.games_per_task",
        "selfplay.max_concurrent_workers": "use selfplay.tasks_in_flight",
        "selfplay.diverse_opening_moves": "use selfplay.opening_sample_moves",
        "selfplay.noise_fraction": "remove it: Gumbel root sampling replaces Dirichlet noise",
        "selfplay.min_games_for_training": "use training.trigger_samples (counted in positions, not games)",
        "training.trigger_threshold_games": "use training.trigger_samples (counted in positions, not games)",
        "training.validation_split": "use training.validation_fraction",
        "training.warmup_epochs": "use training.warmup_steps (optimizer steps, not epochs)",
        "evaluation.full_tournament_interval_seconds": "use evaluation.tournament_every_generations",
        "evaluation.full_tournament_games": "use evaluation.tournament_groups_per_pair",
        "evaluation.baseline_models": "use promotion.anchors (players random and heuristic)",
        "evaluation.elo_k_factor": "remove it: ratings are a Bradley-Terry fit over all games, with no K factor",
        "promotion.elo_threshold": "use promotion.sprt.elo1 (the SPRT's alternative Elo gain)",
        "promotion.min_games": "use promotion.sprt.min_groups",
        "promotion.significance_level": "use promotion.sprt.alpha (and promotion.sprt.beta)",
        "promotion.auto_promote": "remove it: the controller always promotes on a passed gate; "
        "`ringrift-hpc promote` and `rollback` act by hand",
        "curriculum.adaptive": "use curriculum.enabled",
        "curriculum.max_weight_multiplier": "use curriculum.max_weight",
        "curriculum.min_weight_multiplier": "use curriculum.min_weight",
        "curriculum.ema_alpha": "use curriculum.smoothing, the share of the old weight kept (1 - ema_alpha)",
    }
)
