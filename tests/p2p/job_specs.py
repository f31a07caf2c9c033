"""Small specs of the three job purposes, for the P2P work tests."""

from __future__ import annotations

from pathlib import Path

from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config.learning import TrainingSection
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.rating.participants import Participant

VARIANT = "square8_2p"
TINY_NET = NetConfig(channels=8, blocks=1, gpool_channels=8, policy_channels=8, value_hidden=8)


def selfplay_spec(root: Path, *, task_index: int = 0, games: int = 1) -> SelfplaySpec:
    """A bootstrap task (no model): random players, a game or two on square8."""
    return SelfplaySpec(
        run_root=str(root),
        variant=VARIANT,
        generation=0,
        task_index=task_index,
        model_id="none",
        run_seed=5,
        games=games,
        bootstrap_player="random",
        concurrent_games=games,
        device="cpu",
        walltime_margin_s=0.0,
    )


def train_spec(root: Path) -> TrainSpec:
    return TrainSpec(
        run_root=str(root.resolve()),
        variant=VARIANT,
        parent_model=None,
        generation=1,
        new_samples=40,
        network=TINY_NET.to_dict(),
        training=TrainingSection(batch_size=8).model_dump(mode="json"),
        seed=3,
    )


def match_spec(root: Path, *, task: str = "000000") -> MatchSpec:
    lineup = (Participant(VARIANT, "random"), Participant(VARIANT, "heuristic"))
    return MatchSpec(
        run_root=str(root), variant=VARIANT, eval_id="eval-1", task=task, groups=(GroupPlan(lineup, 7),)
    )
