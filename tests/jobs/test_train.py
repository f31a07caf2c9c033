"""The training job end to end on tiny shards and a tiny network (CPU).

Checks: the spec round-trips and refuses bad fields; a named parent is loaded (never random
weights) and a missing or mismatched parent raises; a job interrupted after a checkpoint
resumes to the same step count and the very same weights as an uninterrupted job; a finished
job is returned, not rerun; the 2-process gloo DDP run publishes a loadable candidate;
metadata and the metrics textfile carry the data provenance and losses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from submitit.core.utils import DelayedSubmission
from tiny_nets import write_checkpoint
from torch.multiprocessing.spawn import ProcessExitedException
from train_data import BOARD, NET, PLAYERS, VARIANT, publish_shard, spec_for, training

from ringrift_hpc.ai.checkpoint import (
    CheckpointHeader,
    CheckpointMismatchError,
    load_checkpoint,
)
from ringrift_hpc.ai.net import NetConfig, PolicyValueNet
from ringrift_hpc.config import Config
from ringrift_hpc.data.dataset import Batch
from ringrift_hpc.jobs import train
from ringrift_hpc.jobs.registry import run_from_spec_file
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import ParentModelError, TrainJob, job_dir, run_training
from ringrift_hpc.jobs.train_spec import TrainSpec, TrainSpecError
from ringrift_hpc.store import RunLayout, read_manifest


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    publish_shard(root, 0, "t0", games=3, seed=1)
    publish_shard(root, 1, "t0", games=3, seed=2)
    return root


def parameters(net: PolicyValueNet) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def load(root: Path, model: str, config: NetConfig = NET) -> PolicyValueNet:
    return load_checkpoint(
        RunLayout(root).model_weights(VARIANT, model), CheckpointHeader.current(BOARD, PLAYERS, config)
    )


def test_spec_round_trips_and_refuses_unknown_fields(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    assert TrainSpec.from_json(spec.to_json()) == spec
    doc = json.loads(spec.to_json())
    doc["stpes"] = 3
    with pytest.raises(
        TrainSpecError, match=r"job.json: unknown field\(s\) stpes; the fields are run_root, variant"
    ):
        TrainSpec.from_json(json.dumps(doc), source="job.json")


def test_spec_names_every_bad_field(tmp_path: Path) -> None:
    config = Config.model_validate({"training": training(batch_size=9).model_dump(mode="json")})
    with pytest.raises(TrainSpecError) as caught:
        TrainSpec.from_config(
            config,
            run_root=tmp_path,
            variant="square9_2p",
            parent_model="abc",
            generation=0,
            new_samples=1,
            seed=0,
            processes=2,
        )
    message = str(caught.value)
    assert "variant 'square9_2p'" in message
    assert "parent_model" in message
    assert "batch_size 9 is not divisible by processes 2" in message


def test_from_config_takes_the_network_and_training_sections(tmp_path: Path) -> None:
    config = Config.model_validate({"network": {"channels": 8, "blocks": 1}, "training": {"batch_size": 8}})
    spec = TrainSpec.from_config(
        config, run_root=tmp_path, variant=VARIANT, parent_model=None, generation=1, new_samples=4, seed=2
    )
    assert spec.run_root == str(tmp_path.resolve())
    assert spec.variant.name == VARIANT and (spec.board, spec.num_players) == (BOARD, PLAYERS)
    assert spec.net_config() == NetConfig.from_section(config.network)
    assert spec.training_section() == config.training
    assert (spec.generation, spec.new_samples, spec.seed, spec.processes, spec.steps) == (1, 4, 2, 1, None)


def test_steps_scale_with_new_samples_within_bounds(tmp_path: Path) -> None:
    def steps(new_samples: int) -> int:
        section = training(samples_per_new_sample=2.0, min_steps=5, max_steps=40)
        return TrainSpec(
            run_root=str(tmp_path),
            variant=VARIANT,
            parent_model=None,
            generation=1,
            new_samples=new_samples,
            network=NET.to_dict(),
            training=section.model_dump(mode="json"),
            seed=0,
        ).total_steps()

    assert steps(8) == 5  # 2 steps wanted, the minimum is 5
    assert steps(100) == 25  # 100 * 2 / 8
    assert steps(10_000) == 40


def test_first_model_trains_and_publishes_with_provenance(run_root: Path) -> None:
    spec = spec_for(run_root)
    result = run_training(spec)
    assert result.steps == 6 and result.resumed_from_step == 0
    assert {name for name, _ in result.provenance} == {"000000/t0.h5", "000001/t0.h5"}
    assert result.samples == sum(count for _, count in result.provenance)
    assert result.validation_samples > 0 and result.validation_policy_loss is not None
    meta = read_manifest(Path(result.weights)).manifest.metadata
    assert meta["parent"] is None and meta["steps"] == 6 and meta["cpu_seconds"] > 0
    assert meta["data"] == [list(pair) for pair in result.provenance]
    assert meta["net_config"] == NET.to_dict()
    load(run_root, result.model_id)  # loadable as the variant's network
    metrics = RunLayout(run_root).metrics_file(f"train-{VARIANT}").read_text()
    for name in ("samples_per_second", "policy_loss", "value_loss", "validation_policy_loss"):
        assert f'ringrift_train_{name}{{variant="{VARIANT}"}}' in metrics
    # A finished job is returned as it was, not run again.
    assert run_training(spec) == result


def test_named_parent_is_the_starting_point(run_root: Path) -> None:
    torch.manual_seed(123)
    parent_net = PolicyValueNet(NET, BOARD, PLAYERS)
    layout = RunLayout(run_root)
    staging = layout.models_dir(VARIANT) / "staging.pt"
    parent = write_checkpoint(staging, parent_net)
    staging.rename(layout.model_weights(VARIANT, parent))
    # A vanishing learning rate leaves the weights where training started.
    result = run_training(spec_for(run_root, parent=parent, steps=2, section=training(lr=1e-12)))
    child = parameters(load(run_root, result.model_id))
    assert torch.allclose(child, parameters(parent_net), atol=1e-6)
    torch.manual_seed(11)
    assert not torch.allclose(child, parameters(PolicyValueNet(NET, BOARD, PLAYERS)), atol=1e-3)
    assert read_manifest(Path(result.weights)).manifest.metadata["parent"] == parent


def test_missing_parent_raises_instead_of_random_weights(run_root: Path) -> None:
    with pytest.raises(ParentModelError, match="is missing.*never replaced by random weights"):
        run_training(spec_for(run_root, parent="0" * 64))
    assert not RunLayout(run_root).models_dir(VARIANT).exists()


def test_parent_of_another_network_size_raises(run_root: Path) -> None:
    layout = RunLayout(run_root)
    staging = layout.models_dir(VARIANT) / "staging.pt"
    layout.models_dir(VARIANT).mkdir(parents=True)
    bigger = NetConfig(**{**NET.to_dict(), "channels": 16})
    parent = write_checkpoint(staging, PolicyValueNet(bigger, BOARD, PLAYERS))
    staging.rename(layout.model_weights(VARIANT, parent))
    with pytest.raises(CheckpointMismatchError, match="channels 16 vs 8"):
        run_training(spec_for(run_root, parent=parent))


def test_damaged_parent_raises(run_root: Path) -> None:
    layout = RunLayout(run_root)
    layout.models_dir(VARIANT).mkdir(parents=True)
    staging = layout.models_dir(VARIANT) / "staging.pt"
    parent = write_checkpoint(staging, PolicyValueNet(NET, BOARD, PLAYERS))
    data = bytearray(staging.read_bytes())
    data[-1] ^= 0xFF
    layout.model_weights(VARIANT, parent).write_bytes(bytes(data))
    with pytest.raises(ParentModelError, match="not the parent id"):
        run_training(spec_for(run_root, parent=parent))


class Preempted(Exception):
    """Stands in for the job being killed."""


def test_interrupted_job_resumes_to_the_same_steps_and_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = []
    for name in ("reference", "interrupted"):
        root = tmp_path / name
        publish_shard(root, 0, "t0", games=3, seed=1)
        publish_shard(root, 1, "t0", games=3, seed=2)
        roots.append(root)
    # The reference builds batches inline, the interrupted job in 2 threads ahead: same batches.
    reference = run_training(spec_for(roots[0], steps=8, section=training(dataloader_workers=0)))

    real_make_batch = train.make_batch  # type: ignore[attr-defined]
    batches = []

    def failing_make_batch(*args: object, **kwargs: object) -> object:
        batches.append(1)
        if len(batches) == 6:  # inside step 6, after the checkpoint of step 3
            raise Preempted
        return real_make_batch(*args, **kwargs)  # type: ignore[arg-type]

    spec = spec_for(roots[1], steps=8)
    monkeypatch.setattr(train, "make_batch", failing_make_batch)
    with pytest.raises(Preempted):
        run_training(spec)
    monkeypatch.setattr(train, "make_batch", real_make_batch)
    assert not RunLayout(roots[1]).models_dir(VARIANT).exists()

    resumed = run_from_spec_file("train", _write_spec(tmp_path, spec))
    assert resumed.resumed_from_step == 3
    assert resumed.steps == reference.steps == 8
    assert resumed.model_id == reference.model_id  # bit-identical weights
    assert resumed.train_policy_loss == reference.train_policy_loss
    assert resumed.validation_policy_loss == reference.validation_policy_loss


def _write_spec(directory: Path, spec: TrainSpec) -> Path:
    path = directory / "spec.json"
    path.write_text(spec.to_json())
    return path


def test_preempted_job_resubmits_the_same_call(tmp_path: Path) -> None:
    job = TrainJob()  # type: ignore[no-untyped-call]  # submitit's __new__ is untyped
    spec = spec_for(tmp_path)
    resubmission = job.checkpoint(spec)
    assert isinstance(resubmission, DelayedSubmission)
    assert resubmission.function is job and resubmission.args == (spec,)


def test_job_files_are_keyed_by_the_spec(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    assert job_dir(layout, spec_for(tmp_path, steps=5)) != job_dir(layout, spec_for(tmp_path, steps=6))
    assert job_dir(layout, spec_for(tmp_path)) == job_dir(layout, spec_for(tmp_path))


@pytest.mark.slow
def test_two_process_gloo_ddp_run(run_root: Path) -> None:
    spec = spec_for(run_root, steps=4, processes=2)
    result = run_training(spec)
    assert result.steps == 4
    net = load(run_root, result.model_id)
    assert all(torch.isfinite(p).all() for p in net.parameters())
    meta = read_manifest(Path(result.weights)).manifest.metadata
    assert meta["processes"] == 2 and meta["cpu_seconds"] > 0
    state = torch.load(job_dir(RunLayout(run_root), spec) / "ckpt.pt", weights_only=True)
    assert state["step"] == 4


def _rank_aborted() -> ProcessExitedException:
    return ProcessExitedException(
        "process 1 terminated with signal SIGABRT",
        error_index=1,
        error_pid=1,
        exit_code=-6,
        signal_name="SIGABRT",
    )


@pytest.mark.slow
def test_a_rank_aborting_after_the_result_is_published_leaves_the_result(
    run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_spawn = train.spawn  # type: ignore[attr-defined]

    def spawn_then_abort(*args: object, **kwargs: object) -> None:
        real_spawn(*args, **kwargs)  # type: ignore[no-untyped-call]
        raise _rank_aborted()

    monkeypatch.setattr(train, "spawn", spawn_then_abort)
    spec = spec_for(run_root, steps=2, processes=2)
    result = run_training(spec)
    assert result.steps == 2
    assert load(run_root, result.model_id) is not None


def test_a_rank_aborting_before_the_result_is_published_fails_the_job(
    run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def abort(*args: object, **kwargs: object) -> None:
        raise _rank_aborted()

    monkeypatch.setattr(train, "spawn", abort)
    spec = spec_for(run_root, steps=2, processes=2)
    with pytest.raises(ProcessExitedException, match="SIGABRT"):
        run_training(spec)
    assert not (job_dir(RunLayout(run_root), spec) / "result.json").exists()


@pytest.mark.slow
def test_job_killed_with_sigkill_resumes_from_its_resume_file(tmp_path: Path) -> None:
    roots = [tmp_path / "reference", tmp_path / "killed"]
    for root in roots:
        publish_shard(root, 0, "t0", games=3, seed=1)
    section = training(checkpoint_every_steps=2)
    spec = spec_for(roots[1], steps=12, section=section)
    resume_file = job_dir(RunLayout(roots[1]), spec) / "ckpt.pt"
    code = "import sys, pathlib; from ringrift_hpc.jobs.registry import run_from_spec_file as run; "
    code += "run('train', pathlib.Path(sys.argv[1]))"
    worker = subprocess.Popen(
        [sys.executable, "-c", code, str(_write_spec(tmp_path, spec))],
        env={**os.environ, "PYTHONPATH": str(Path(train.__file__).parents[2])},
    )
    try:
        deadline = time.monotonic() + 120
        while not resume_file.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert not (resume_file.parent / "result.json").exists()

    resumed = run_training(spec)
    assert 0 < resumed.resumed_from_step < 12
    assert resumed.steps == 12
    assert resumed.model_id == run_training(spec_for(roots[0], steps=12, section=section)).model_id


def test_diverged_training_raises_before_writing_anything(
    run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_losses = train.losses  # type: ignore[attr-defined]

    def nan_losses(
        logits: torch.Tensor, values: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        policy, value = real_losses(logits, values, batch)
        return policy * float("nan"), value

    monkeypatch.setattr(train, "losses", nan_losses)
    spec = spec_for(run_root, steps=4)
    with pytest.raises(train.TrainingError, match="diverged at step 1: policy loss nan"):
        run_training(spec)
    assert not (job_dir(RunLayout(run_root), spec) / "ckpt.pt").exists()
    assert not RunLayout(run_root).models_dir(VARIANT).exists()


def test_trains_on_the_shards_the_selfplay_job_publishes(tmp_path: Path) -> None:
    played = run_selfplay(
        SelfplaySpec(
            run_root=str(tmp_path), variant=VARIANT, generation=0, task_index=0, model_id="none",
            run_seed=1, games=2, bootstrap_player="random", device="cpu", walltime_margin_s=0,
        )
    )  # fmt: skip
    result = run_training(spec_for(tmp_path, steps=2))
    assert result.provenance == (("000000/000000.h5", played.positions),)
    assert result.quarantined == ()


def test_ddp_job_with_a_missing_parent_raises_before_spawning(run_root: Path) -> None:
    with pytest.raises(ParentModelError, match="is missing"):
        run_training(spec_for(run_root, parent="1" * 64, processes=2))
