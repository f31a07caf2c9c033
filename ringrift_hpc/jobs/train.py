"""The training job: replay window in, content-addressed candidate model out.

`run_training(spec)` pins the replay window the spec names (the controller's choice from the
shards it ingested; the first attempt writes it to the job directory, so a requeued attempt
reads the very same shards), loads its samples (a shard it cannot read is skipped and listed
in the candidate's metadata, `REJECTED_SHARDS`, for the controller to quarantine), starts from
the parent model (never from random weights when a parent was named) or from seeded random
weights for the first model, trains with periodic resume files, and publishes the candidate
under its sha256 with a manifest recording its parent, data, steps, losses and the CPU seconds
of the attempt (`jobs.cpu_time`: the launching process's and every rank's, summed).

Job files live in `RUN/jobs/train/<spec key>/`: `window.json`, `ckpt.pt` (see
`train_checkpoint`) and `result.json`. A job that finds its `result.json` returns it, so a
requeue after completion changes nothing. With `processes > 1` the same code runs under torch
DDP, one process per GPU (NCCL) or per CPU share (gloo), rendezvous on a loopback port.

Under submitit, `TrainJob` is the callable: on Slurm's preemption signal its `checkpoint()`
resubmits the same call, which resumes from the last resume file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import submitit
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import ProcessExitedException, spawn
from torch.nn.parallel import DistributedDataParallel

from ringrift_hpc.ai.checkpoint import (
    CheckpointHeader,
    checkpoint_bytes,
    load_checkpoint,
    model_id,
    read_header,
)
from ringrift_hpc.ai.codec import CODEC_VERSION, ActionCodec
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.ai.net import ARCHITECTURE_VERSION, AUX_HEADS, PolicyValueNet
from ringrift_hpc.ai.net_evaluator import resolve_device
from ringrift_hpc.data.dataset import (
    Batch,
    load_window,
    make_batch,
    split_by_game,
    step_rows,
    symmetry_choices,
)
from ringrift_hpc.data.shard_store import SHARD_SUFFIX, ShardEntry, ShardRejectedError, describe_shard
from ringrift_hpc.jobs.cpu_time import CpuClock
from ringrift_hpc.jobs.replay_window import (
    ReplayWindowError,
    Window,
    check_versions,
    choose_window,
    published_shards,
)
from ringrift_hpc.jobs.slurm_env import available_cpus
from ringrift_hpc.jobs.train_checkpoint import TrainState, load_train_state, save_train_state
from ringrift_hpc.jobs.train_objective import aux_losses, learning_rate, losses, make_optimizer
from ringrift_hpc.jobs.train_spec import TrainResult, TrainSpec
from ringrift_hpc.metrics import family, write_run_textfile
from ringrift_hpc.store import (
    RunLayout,
    StoreError,
    atomic_write_json,
    atomic_write_text,
    publish_bytes,
    read_manifest,
)

# Steps whose losses make up the reported training loss.
RECENT_STEPS = 50
# The candidate's metadata field listing the window's shards that could not be read.
REJECTED_SHARDS = "rejected_shards"


class TrainingError(RuntimeError):
    """A training job that cannot produce a usable candidate."""


class ParentModelError(TrainingError):
    """The named parent model is missing or is not the model it claims to be."""


@dataclass(frozen=True)
class PinnedWindow:
    """The shards one job trains on, fixed at its first start."""

    shards: tuple[tuple[Path, int], ...]  # (path, samples) newest first
    total_samples: int  # of the variant when the window was chosen
    window_samples: int  # what the sub-linear rule asked for
    quarantined: tuple[str, ...]  # "<path>: <reason>" per shard left out when the window was chosen


def job_dir(layout: RunLayout, spec: TrainSpec) -> Path:
    return layout.jobs_dir / "train" / spec.key


def run_training(spec: TrainSpec) -> TrainResult:
    """Run (or resume, or return the finished result of) the training job `spec`."""
    layout = RunLayout(Path(spec.run_root))
    directory = job_dir(layout, spec)
    result_file = directory / "result.json"
    if result_file.exists():
        return TrainResult.from_json(result_file.read_text())
    cpu = CpuClock.start()
    directory.mkdir(parents=True, exist_ok=True)
    window = pin_window(layout, spec, directory / "window.json")
    if spec.processes == 1:
        _train(0, 1, spec, window, None, cpu.seconds())
    else:
        # A bad parent or device count fails here with its own exception, not as a worker's crash.
        initial_net(layout, spec)
        _check_devices(spec)
        args = (spec.processes, spec, window, _free_port(), cpu.seconds())
        try:
            spawn(_train, args=args, nprocs=spec.processes, join=True)  # type: ignore[no-untyped-call]
        except ProcessExitedException as error:
            # Rank 0 writes the result after a collective every rank joined at the end, so a rank
            # killed after it (gloo's teardown still aborts one now and then despite the barrier)
            # leaves the published model complete; before it, the job failed.
            if not result_file.exists():
                raise
            print(
                f"train {spec.key}: {error} after the result was published; the result stands",
                file=sys.stderr,
            )
    return TrainResult.from_json(result_file.read_text())


class TrainJob(submitit.helpers.Checkpointable):
    """The submitit callable; the inherited `checkpoint()` resubmits the same call on preemption,
    and the resubmitted call resumes from the job's resume file."""

    def __call__(self, spec: TrainSpec) -> TrainResult:
        return run_training(spec)


def pin_window(layout: RunLayout, spec: TrainSpec, path: Path) -> PinnedWindow:
    """The job's window: read from `path` if an earlier attempt pinned it, else pinned now.

    The window is the one the spec names (the controller's choice from the shards it ingested);
    a spec without one (a job run without a controller) chooses from the published shards.
    """
    if path.exists():
        doc = json.loads(path.read_text())
        return PinnedWindow(
            shards=tuple((layout.root / name, int(samples)) for name, samples in doc["shards"]),
            total_samples=doc["total_samples"],
            window_samples=doc["window_samples"],
            quarantined=tuple(doc.get("quarantined", ())),
        )
    skipped: tuple[str, ...] = ()
    if spec.window is not None:
        window = Window.from_doc(spec.window, source=f"training spec {spec.key}: field 'window'")
    else:
        found = published_shards(layout, spec.variant.name, verify=False)
        window = choose_window(layout, found.shards, spec.training_section().replay_window)
        skipped = tuple(f"{name}: {reason}" for name, reason in found.rejected)
    if not window.shards:
        raise TrainingError(
            f"{layout.selfplay_root(spec.variant.name)} holds no published shard of {spec.variant.name}"
            + (f" ({len(skipped)} rejected)" if skipped else "")
            + "; run selfplay before training"
        )
    variant = spec.variant.name
    shards = tuple((_window_shard(layout, variant, name), samples) for name, samples in window.shards)
    described = _described(shards, variant)
    check_versions(described, encoder_version=ENCODER_VERSION, codec_version=CODEC_VERSION)
    pinned = PinnedWindow(
        shards=shards,
        total_samples=window.total_samples,
        window_samples=window.window_samples,
        quarantined=skipped,
    )
    atomic_write_json(
        path,
        {
            "shards": [[layout.relative(p).as_posix(), n] for p, n in pinned.shards],
            "total_samples": pinned.total_samples,
            "window_samples": pinned.window_samples,
            "quarantined": list(pinned.quarantined),
        },
    )
    return pinned


def _window_shard(layout: RunLayout, variant: str, name: str) -> Path:
    """The shard `name` (relative to the run root), refused unless it is a shard of `variant`."""
    path = layout.root / name
    root = layout.selfplay_root(variant)
    if path.suffix != SHARD_SUFFIX or Path(os.path.abspath(path)).parent.parent != root:
        raise ReplayWindowError(
            f"window shard {name!r} is not a shard of {variant} (expected {layout.relative(root)}/"
            f"<generation>/<task>{SHARD_SUFFIX}); resubmit the training job from the controller"
        )
    return path


def _described(shards: tuple[tuple[Path, int], ...], variant: str) -> tuple[ShardEntry, ...]:
    """The window's shards as their manifests describe them; a shard gone or unreadable is left
    to loading, which reports it."""
    entries = []
    for path, _ in shards:
        try:
            entries.append(describe_shard(read_manifest(path, verify=False), variant))
        except (StoreError, ShardRejectedError):
            continue
    return tuple(entries)


def initial_net(layout: RunLayout, spec: TrainSpec) -> PolicyValueNet:
    """The parent model, verified by content; seeded random weights only when no parent is named.
    A parent that differs from the spec's network in the auxiliary heads alone is adapted
    (`_with_aux_heads`); any other difference is refused."""
    header = CheckpointHeader.current(spec.board, spec.num_players, spec.net_config())
    if spec.parent_model is None:
        torch.manual_seed(spec.seed)
        return PolicyValueNet(header.net_config, spec.board, spec.num_players)
    path = layout.model_weights(spec.variant.name, spec.parent_model)
    if not path.exists():
        raise ParentModelError(
            f"parent model {spec.parent_model} of {spec.variant.name} is missing: {path} does not exist; "
            "name a published model as parent_model (a named parent is never replaced by random weights)"
        )
    found = model_id(path)
    if found != spec.parent_model:
        raise ParentModelError(
            f"{path}: its sha256 is {found}, not the parent id {spec.parent_model} its name claims; "
            "the file is damaged: quarantine it and name another parent"
        )
    return _with_aux_heads(load_checkpoint(path, _parent_header(path, header)), header, spec.seed)


def _parent_header(path: Path, wanted: CheckpointHeader) -> CheckpointHeader:
    """The header to load the parent with: `wanted`, or the parent's own when the two differ in
    the auxiliary head flags alone (so `training.aux_*_weight` can be changed within a run)."""
    found = read_header(path).net_config
    if dataclasses.replace(found, **{name: getattr(wanted.net_config, name) for name in AUX_HEADS}) == (
        wanted.net_config
    ):
        return dataclasses.replace(wanted, net_config=found)
    return wanted


def _with_aux_heads(parent: PolicyValueNet, header: CheckpointHeader, seed: int) -> PolicyValueNet:
    """`parent` with the auxiliary heads `header` asks for: a head it lacks starts from seeded
    random weights, a head it has and the header does not is dropped."""
    if parent.config == header.net_config:
        return parent
    torch.manual_seed(seed)
    net = PolicyValueNet(header.net_config, header.board, header.num_players)
    inherited = parent.state_dict()
    # Everything but the auxiliary heads comes from the parent; the keys are the same modules.
    net.load_state_dict({key: inherited.get(key, value) for key, value in net.state_dict().items()})
    return net


def _check_devices(spec: TrainSpec) -> None:
    device = resolve_device(spec.training_section().device)
    if device.type == "cuda" and torch.cuda.device_count() < spec.processes:
        raise TrainingError(
            f"training spec asks for {spec.processes} processes on CUDA but {torch.cuda.device_count()} "
            "GPU(s) are visible; request as many GPUs from Slurm (--gpus-per-node) or lower processes"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _train(
    rank: int, world: int, spec: TrainSpec, window: PinnedWindow, port: int | None, launcher_cpu: float
) -> None:
    """One rank's training; `launcher_cpu`: the CPU seconds the job spent before starting the ranks."""
    # A spawned rank is a process of its own, so all of its CPU time is this job's.
    cpu = CpuClock(0.0) if world > 1 else CpuClock.start()
    training = spec.training_section()
    device = resolve_device(training.device)
    if device.type == "cpu":
        # The CPUs this job was given, shared among its ranks. Set always, not inherited: the
        # thread count changes float reduction order, and a resumed job must train exactly as
        # the interrupted one did.
        torch.set_num_threads(max(1, available_cpus(os.environ) // world))
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world,
        )
    try:
        _Trainer(rank, world, spec, window, device).run(cpu, launcher_cpu)
        if world > 1:
            # A rank that tears gloo down while a peer has not yet received its last message
            # aborts ("terminate called without an active exception"): all finish together.
            dist.barrier()
    finally:
        if world > 1:
            dist.destroy_process_group()


class _Trainer:
    """One rank's training loop; rank 0 alone writes files."""

    def __init__(
        self, rank: int, world: int, spec: TrainSpec, window: PinnedWindow, device: torch.device
    ) -> None:
        self.started = time.monotonic()
        self.rank, self.world, self.spec, self.window, self.device = rank, world, spec, window, device
        self.layout = RunLayout(Path(spec.run_root))
        self.directory = job_dir(self.layout, spec)
        self.training = spec.training_section()
        self.total_steps = spec.total_steps()
        self.codec = ActionCodec.for_board(spec.board, spec.num_players)
        self.net = initial_net(self.layout, spec).to(device)
        self.optimizer = make_optimizer(self.net, self.training)
        self.step = 0
        self.recent: deque[tuple[float, float]] = deque(maxlen=RECENT_STEPS)
        # (ownership, score) losses: only while the network has an auxiliary head.
        self.aux = self.net.config.ownership_head or self.net.config.score_head
        self.recent_aux: deque[tuple[float, float]] = deque(maxlen=RECENT_STEPS)
        self.valid_cells = self.net.cells.valid[0, 0]
        state = load_train_state(self.directory / "ckpt.pt", job_key=spec.key)
        if state is not None:
            self.net.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
            self.step = state.step
            self.recent.extend(state.recent_losses)
            self.recent_aux.extend(state.recent_aux_losses)
        self.resumed_from = self.step
        self.samples_per_s = float("nan")
        self.loaded = load_window(
            self.layout,
            window.shards,
            variant=spec.variant.name,
            cap=spec.max_samples_in_memory,
            seed=spec.seed,
        )
        if world > 1:
            self._check_same_data()
        self.train_rows, self.validation_rows = split_by_game(
            self.loaded.data.game_keys, self.training.validation_fraction, seed=spec.seed
        )
        self.model: torch.nn.Module = (
            DistributedDataParallel(self.net, device_ids=[device.index] if device.type == "cuda" else None)
            if world > 1
            else self.net
        )
        self.autocast = device.type == "cuda" and self.training.bf16

    def _check_same_data(self) -> None:
        """Every rank must train on the same samples; reading is deterministic, so they differ only
        when a shard changed (was quarantined) while the ranks were reading."""
        mine = (self.loaded.provenance, self.loaded.rejected, self.loaded.missing)
        gathered: list[object] = [None] * self.world
        dist.all_gather_object(gathered, mine)
        if any(other != mine for other in gathered):
            raise TrainingError(
                f"the ranks of training job {self.spec.key} read different shards of their window (a "
                "shard was moved while they read); run the job again"
            )

    def run(self, cpu: CpuClock, launcher_cpu: float) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.training.dataloader_workers)) as pool:
            self._loop(pool)
        # Read after the loader threads are joined; rank 0 publishes the sum of every rank's.
        mine = cpu.seconds()
        ranks: list[object] = [mine]
        if self.world > 1:
            ranks = [None] * self.world
            dist.all_gather_object(ranks, mine)
        if self.rank == 0:
            self._finish(round(launcher_cpu + sum(u for u in ranks if isinstance(u, float)), 3))

    def _cpu_batch(self, step: int) -> Batch:
        """This rank's share of the batch of `step`: a pure function of the step."""
        rows = step_rows(self.train_rows, step=step, batch_size=self.training.batch_size, seed=self.spec.seed)
        rows = rows[self.rank :: self.world]
        symmetries = (
            symmetry_choices(self.spec.board, rows.size, seed=self.spec.seed, step=step, rank=self.rank)
            if self.training.symmetry_augmentation
            else None
        )
        return make_batch(self.loaded.data, rows, self.codec, symmetries)

    def _next_batch(self, pool: ThreadPoolExecutor, ahead: dict[int, Future[Batch]]) -> Batch:
        """The batch of the current step; with `dataloader_workers` threads, the next ones are
        built meanwhile (numpy and torch release the GIL for most of the work)."""
        workers = self.training.dataloader_workers
        if workers == 0:
            return self._cpu_batch(self.step)
        for step in range(self.step, min(self.step + workers + 1, self.total_steps)):
            if step not in ahead:
                ahead[step] = pool.submit(self._cpu_batch, step)
        return ahead.pop(self.step).result()

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        batch_size = self.training.batch_size
        every = self.training.checkpoint_every_steps
        pending: list[torch.Tensor] = []
        ahead: dict[int, Future[Batch]] = {}
        interval_start, interval_step = time.monotonic(), self.step
        self.model.train()
        while self.step < self.total_steps:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(self.step, self.total_steps, self.training)
            batch = self._next_batch(pool, ahead).to(self.device)
            policy_loss, value_loss, ownership_loss, score_loss = self._losses(self.model, batch)
            loss = policy_loss + self.training.value_loss_weight * value_loss
            if self.aux:
                loss = (
                    loss
                    + self.training.aux_ownership_weight * ownership_loss
                    + self.training.aux_score_weight * score_loss
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if self.training.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.training.grad_clip)
            self.optimizer.step()
            self.step += 1
            parts = (policy_loss, value_loss, ownership_loss, score_loss)
            pending.append(torch.stack([part.detach() for part in parts]))
            if self.step % every == 0 or self.step == self.total_steps:
                # One device-to-host copy per interval instead of a sync every step.
                interval = [tuple(map(float, row)) for row in torch.stack(pending).cpu().tolist()]
                pending.clear()
                self._check_finite(interval)
                self.recent.extend((p, v) for p, v, _, _ in interval)
                if self.aux:
                    self.recent_aux.extend((o, s) for _, _, o, s in interval)
                if self.rank == 0:
                    save_train_state(
                        self.directory / "ckpt.pt",
                        TrainState(
                            self.spec.key,
                            self.step,
                            self.net.state_dict(),
                            self.optimizer.state_dict(),
                            tuple(self.recent),
                            tuple(self.recent_aux),
                        ),
                    )
                    elapsed = max(time.monotonic() - interval_start, 1e-9)
                    self.samples_per_s = (self.step - interval_step) * batch_size / elapsed
                    self._write_metrics(None)
                interval_start, interval_step = time.monotonic(), self.step

    def _losses(
        self, model: torch.nn.Module, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(policy, value, ownership, score) losses of `batch`; the auxiliary ones are 0 while
        the network has no auxiliary head."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if self.aux:
                logits, values, aux = model(batch.planes, batch.scalars, aux=True)
            else:
                logits, values = model(batch.planes, batch.scalars)
        policy, value = losses(logits, values, batch)
        if not self.aux:
            return policy, value, policy.new_zeros(()), policy.new_zeros(())
        ownership, score = aux_losses(aux, batch, self.valid_cells)
        return policy, value, ownership, score

    def _check_finite(self, interval: list[tuple[float, ...]]) -> None:
        """Raise before a diverged model can reach the resume file or the run's models."""
        for offset, (policy, value, ownership, score) in enumerate(interval):
            if not all(math.isfinite(x) for x in (policy, value, ownership, score)):
                step = self.step - len(interval) + offset + 1
                raise TrainingError(
                    f"training {self.spec.variant.name} diverged at step {step}: policy loss {policy}, "
                    f"value loss {value}, ownership loss {ownership}, score loss {score}; "
                    "lower training.lr or enable training.grad_clip "
                    f"(the last good resume file is {self.directory / 'ckpt.pt'})"
                )

    def _validation_losses(self) -> tuple[float, float, float, float] | None:
        """Held-out (policy, value, ownership, score) losses, means over the held-out samples
        (the auxiliary ones over those with auxiliary targets)."""
        rows = self.validation_rows
        if rows.size == 0:
            return None
        self.net.eval()
        totals = np.zeros(4)
        with torch.no_grad():
            for start in range(0, rows.size, self.training.batch_size):
                chunk = rows[start : start + self.training.batch_size]
                batch = make_batch(self.loaded.data, chunk, self.codec, None).to(self.device)
                parts = np.array([float(part) for part in self._losses(self.net, batch)])
                counted = int(batch.has_aux.sum())
                totals += parts * np.array([chunk.size, chunk.size, counted, counted])
        self.net.train()
        counted = max(int(self.loaded.data.has_aux[rows].sum()), 1)
        return (
            float(totals[0] / rows.size),
            float(totals[1] / rows.size),
            float(totals[2] / counted),
            float(totals[3] / counted),
        )

    def _aux_report(self, validation: tuple[float, float, float, float] | None) -> dict[str, float | None]:
        """The auxiliary losses of the heads the network has, for the manifest and the result."""
        config = self.net.config
        report: dict[str, float | None] = {}
        for index, name, on in ((0, "ownership", config.ownership_head), (1, "score", config.score_head)):
            if on:
                report[f"train_{name}_loss"] = float(np.mean([pair[index] for pair in self.recent_aux]))
                report[f"validation_{name}_loss"] = validation[2 + index] if validation else None
        return report

    def _finish(self, cpu_seconds: float) -> None:
        validation = self._validation_losses()
        train_policy = float(np.mean([p for p, _ in self.recent]))
        train_value = float(np.mean([v for _, v in self.recent]))
        data = checkpoint_bytes(self.net)
        candidate = hashlib.sha256(data).hexdigest()
        weights = self.layout.model_weights(self.spec.variant.name, candidate)
        duration = time.monotonic() - self.started
        metadata = {
            "kind": "candidate",
            "variant": self.spec.variant.name,
            "parent": self.spec.parent_model,
            "generation": self.spec.generation,
            "steps": self.step,
            "train_policy_loss": train_policy,
            "train_value_loss": train_value,
            "validation_policy_loss": validation[0] if validation else None,
            "validation_value_loss": validation[1] if validation else None,
            **self._aux_report(validation),
            "samples": self.loaded.data.samples,
            "validation_samples": int(self.validation_rows.size),
            "window_samples": self.window.window_samples,
            "total_samples": self.window.total_samples,
            "data": [[name, count] for name, count in self.loaded.provenance],
            # Reported to the controller, which quarantines them when it ingests this model.
            REJECTED_SHARDS: [[name, reason] for name, reason in self.loaded.rejected],
            "net_config": self.net.config.to_dict(),
            "encoder_version": ENCODER_VERSION,
            "codec_version": CODEC_VERSION,
            "architecture_version": ARCHITECTURE_VERSION,
            "training": self.spec.training,
            "seed": self.spec.seed,
            "processes": self.world,
            "job_key": self.spec.key,
            "duration_s": round(duration, 3),
            "cpu_seconds": cpu_seconds,  # of the attempt that published, like duration_s
        }
        if not self.layout.model_manifest(self.spec.variant.name, candidate).exists():
            publish_bytes(weights, data, metadata)
        else:
            # Identical weights were already published (a requeue after publishing): same model.
            read_manifest(weights)
        missing = self.loaded.missing
        result = TrainResult(
            model_id=candidate,
            weights=str(weights),
            steps=self.step,
            resumed_from_step=self.resumed_from,
            train_policy_loss=train_policy,
            train_value_loss=train_value,
            validation_policy_loss=validation[0] if validation else None,
            validation_value_loss=validation[1] if validation else None,
            samples=self.loaded.data.samples,
            validation_samples=int(self.validation_rows.size),
            provenance=self.loaded.provenance,
            quarantined=(
                self.window.quarantined
                + tuple(f"{name}: {reason}" for name, reason in self.loaded.rejected)
                + tuple(f"{name}: missing (quarantined since the window was chosen)" for name in missing)
            ),
            duration_s=round(duration, 3),
            **self._aux_report(validation),
        )
        self._write_metrics(validation)
        atomic_write_text(self.directory / "result.json", result.to_json())

    def _write_metrics(self, validation: tuple[float, float, float, float] | None) -> None:
        """The variant's one training textfile: each training job of the variant replaces it
        (a label per job would add series without bound)."""
        labels = {"variant": self.spec.variant.name}
        policy, value = self.recent[-1] if self.recent else (float("nan"), float("nan"))
        gauges = [
            ("ringrift_train_step", "Optimizer steps done by the training job.", self.step),
            ("ringrift_train_total_steps", "Optimizer steps the training job will run.", self.total_steps),
            ("ringrift_train_policy_loss", "Policy cross-entropy of the last training step.", policy),
            ("ringrift_train_value_loss", "Value squared error of the last training step.", value),
            (
                "ringrift_train_samples_per_second",
                "Training samples per second (all processes) over the last checkpoint interval.",
                self.samples_per_s,
            ),
        ]
        if validation is not None:
            gauges.append(("ringrift_train_validation_policy_loss", "Held-out policy loss.", validation[0]))
            gauges.append(("ringrift_train_validation_value_loss", "Held-out value loss.", validation[1]))
        config = self.net.config
        for index, name, on in ((0, "ownership", config.ownership_head), (1, "score", config.score_head)):
            if on:
                last = self.recent_aux[-1][index] if self.recent_aux else float("nan")
                gauges.append(
                    (f"ringrift_train_{name}_loss", f"Auxiliary {name} loss of the last training step.", last)
                )
                if validation is not None:
                    gauges.append(
                        (
                            f"ringrift_train_validation_{name}_loss",
                            f"Held-out auxiliary {name} loss.",
                            validation[2 + index],
                        )
                    )
        write_run_textfile(
            self.layout,
            f"train-{self.spec.variant.name}",
            [family(name, "gauge", help_text, [(labels, number)]) for name, help_text, number in gauges],
        )
