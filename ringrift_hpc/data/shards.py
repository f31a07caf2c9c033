"""Selfplay shards: one HDF5 file per selfplay task, written once by one writer.

The layout (format version 2) is documented field by field in docs/data-format.md. In short:
N samples (positions with a real choice; forced single-move positions are not samples) with
`planes` [N, C, H, W] float16, `scalars` [N, S], a sparse improved-policy target and the legal
codec indices per sample as CSR arrays, `values` [N, num_players] relative to the player to
move (slot 0 = mover, as the network predicts) and the auxiliary targets of the final position
(`ownership` [N, H, W], `score` [N, 2, num_players], see `ai.aux_targets`). Per game: its seed,
length and final ranks. Version 1 shards (without the auxiliary targets) still read, with
`ownership` and `score` None.

Every dataset carries the Fletcher-32 checksum filter, so a flipped byte anywhere in the data
is a read error instead of a silently wrong sample. HDF5 file locking is off: a shard has one
writer and is immutable once published (NFS locking is unreliable; DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ringrift_hpc.ai.codec import CODEC_VERSION, ActionCodec
from ringrift_hpc.ai.encoding import ENCODER_VERSION, encoder_shape

FORMAT_VERSION = 2
# Versions this code reads; 1 lacks the auxiliary targets.
READABLE_VERSIONS = (1, 2)
# How far a target's probabilities may sum away from 1 (float32 softmax outputs).
_SUM_TOLERANCE = 1e-3
_CHUNK_ROWS = 256
_CSR_CHUNK = 1 << 14
_PLANES_GZIP_LEVEL = 4

ATTRS = (
    "format_version",
    "variant",
    "board",
    "num_players",
    "encoder_version",
    "codec_version",
    "policy_size",
    "model_id",
    "generation",
    "task",
    "run_seed",
)
SAMPLE_DATASETS = ("planes", "scalars", "values", "game", "ply")
CSR_DATASETS = ("policy_offsets", "policy_indices", "policy_probs", "legal_offsets", "legal_indices")
GAME_DATASETS = ("game_seeds", "game_lengths", "game_ranks")
AUX_DATASETS = ("ownership", "score")  # from format version 2


class ShardFormatError(ValueError):
    """A shard that cannot be used: names the file, the field and the fix."""

    def __init__(self, path: Path, field: str, problem: str, fix: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: field {field!r}: {problem}; {fix}")


@dataclass(frozen=True)
class ShardHeader:
    """The file attributes of a shard."""

    variant: str
    board: str
    num_players: int
    model_id: str  # "none" for generation 0 (bootstrap player)
    generation: int
    task: str
    run_seed: int
    encoder_version: str = ENCODER_VERSION
    codec_version: str = CODEC_VERSION
    format_version: int = FORMAT_VERSION

    @property
    def policy_size(self) -> int:
        return ActionCodec.for_board(self.board, self.num_players).size

    def to_attrs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ATTRS}


@dataclass(frozen=True)
class GameRecord:
    """One finished game's samples, ready to append to a shard.

    K samples; the CSR lists hold one array per sample.
    """

    seed: int
    length: int  # moves played, forced ones included
    ranks: np.ndarray  # [num_players] int: final rank per absolute seat (1 = first)
    planes: np.ndarray  # [K, C, H, W]
    scalars: np.ndarray  # [K, S]
    policy_indices: tuple[np.ndarray, ...]  # K x [m_k] codec indices of the target
    policy_probs: tuple[np.ndarray, ...]  # K x [m_k] target probabilities, summing to 1
    legal_indices: tuple[np.ndarray, ...]  # K x [l_k] codec indices of the legal moves
    values: np.ndarray  # [K, num_players] outcome scores relative to the mover
    plies: np.ndarray  # [K] move number of each sample within the game
    ownership: np.ndarray  # [K, H, W] int8: 0 none, 1 + slot of the final territory owner
    score: np.ndarray  # [K, 2, num_players] float32 in [0, 1], relative to the mover

    @property
    def samples(self) -> int:
        return int(self.planes.shape[0])


@dataclass(frozen=True)
class Shard:
    """A validated shard, fully in memory (shapes as in the module docstring)."""

    path: Path
    header: ShardHeader
    planes: np.ndarray  # [N, C, H, W] float16
    scalars: np.ndarray  # [N, S] float32
    policy_offsets: np.ndarray  # [N+1] int64
    policy_indices: np.ndarray  # [M] int32
    policy_probs: np.ndarray  # [M] float32
    legal_offsets: np.ndarray  # [N+1] int64
    legal_indices: np.ndarray  # [L] int32
    values: np.ndarray  # [N, num_players] float32, slot 0 = player to move
    game: np.ndarray  # [N] int32
    ply: np.ndarray  # [N] int32
    game_seeds: np.ndarray  # [G] int64
    game_lengths: np.ndarray  # [G] int32
    game_ranks: np.ndarray  # [G, num_players] int8
    ownership: np.ndarray | None = None  # [N, H, W] int8; None in a version 1 shard
    score: np.ndarray | None = None  # [N, 2, num_players] float32; None in a version 1 shard

    @property
    def samples(self) -> int:
        return int(self.planes.shape[0])

    @property
    def games(self) -> int:
        return int(self.game_seeds.shape[0])


class ShardWriter:
    """Appends games to a new HDF5 file at `path` (a temp name the caller then publishes).

    Datasets grow with every game, so memory stays at one game and a task stopped early can
    still `finish()` what it has.
    """

    def __init__(self, path: Path, header: ShardHeader) -> None:
        shape = encoder_shape(header.board, header.num_players)
        self.path = path
        self.header = header
        self._policy_size = header.policy_size
        self._file = h5py.File(path, "w", locking=False)
        self._file.attrs.update(header.to_attrs())
        n = header.num_players
        self._datasets: dict[str, h5py.Dataset] = {}
        self._create("planes", (shape.planes, shape.height, shape.width), np.float16, gzip=True)
        self._create("scalars", (shape.scalars,), np.float32)
        self._create("values", (n,), np.float32)
        self._create("game", (), np.int32)
        self._create("ply", (), np.int32)
        self._create("ownership", (shape.height, shape.width), np.int8, gzip=True)
        self._create("score", (2, n), np.float32)
        for name in ("policy_offsets", "legal_offsets"):
            self._create(name, (), np.int64)
            self._append(name, np.zeros(1, dtype=np.int64))
        # Entries, not samples: a position has tens to hundreds of legal moves.
        for name, dtype in (
            ("policy_indices", np.int32),
            ("policy_probs", np.float32),
            ("legal_indices", np.int32),
        ):
            self._create(name, (), dtype, rows=_CSR_CHUNK)
        self._create("game_seeds", (), np.int64)
        self._create("game_lengths", (), np.int32)
        self._create("game_ranks", (n,), np.int8)
        self.games = 0
        self.samples = 0
        self._policy_total = 0
        self._legal_total = 0

    def _create(
        self, name: str, tail: tuple[int, ...], dtype: type, *, gzip: bool = False, rows: int = _CHUNK_ROWS
    ) -> None:
        self._datasets[name] = self._file.create_dataset(
            name,
            shape=(0, *tail),
            maxshape=(None, *tail),
            chunks=(rows, *tail),
            dtype=dtype,
            compression="gzip" if gzip else None,
            compression_opts=_PLANES_GZIP_LEVEL if gzip else None,
            fletcher32=True,
        )

    def _append(self, name: str, rows: np.ndarray) -> None:
        dataset = self._datasets[name]
        start = dataset.shape[0]
        dataset.resize(start + rows.shape[0], axis=0)
        dataset[start:] = rows

    def add_game(self, record: GameRecord) -> None:
        """Append one game; checks that its arrays agree with each other and the header."""
        k = record.samples
        n = self.header.num_players
        lists = (record.policy_indices, record.policy_probs, record.legal_indices)
        if record.scalars.shape[0] != k or record.values.shape != (k, n) or record.plies.shape != (k,):
            raise ValueError(f"game record (seed {record.seed}): per-sample arrays disagree on {k} samples")
        shape = encoder_shape(self.header.board, n)
        if record.ownership.shape != (k, shape.height, shape.width) or record.score.shape != (k, 2, n):
            raise ValueError(f"game record (seed {record.seed}): auxiliary targets do not match {k} samples")
        if any(len(items) != k for items in lists) or record.ranks.shape != (n,):
            raise ValueError(f"game record (seed {record.seed}): CSR lists or ranks do not match {k} samples")
        policy_lengths = np.array([len(p) for p in record.policy_indices], dtype=np.int64)
        legal_lengths = np.array([len(p) for p in record.legal_indices], dtype=np.int64)
        self._append("planes", record.planes.astype(np.float16))
        self._append("scalars", record.scalars.astype(np.float32))
        self._append("values", record.values.astype(np.float32))
        self._append("game", np.full(k, self.games, dtype=np.int32))
        self._append("ply", record.plies.astype(np.int32))
        self._append("ownership", record.ownership.astype(np.int8))
        self._append("score", record.score.astype(np.float32))
        self._append("policy_offsets", self._policy_total + np.cumsum(policy_lengths))
        self._append("legal_offsets", self._legal_total + np.cumsum(legal_lengths))
        if k:
            self._append("policy_indices", np.concatenate(record.policy_indices).astype(np.int32))
            self._append("policy_probs", np.concatenate(record.policy_probs).astype(np.float32))
            self._append("legal_indices", np.concatenate(record.legal_indices).astype(np.int32))
        self._append("game_seeds", np.array([record.seed], dtype=np.int64))
        self._append("game_lengths", np.array([record.length], dtype=np.int32))
        self._append("game_ranks", record.ranks.astype(np.int8)[None, :])
        self._policy_total += int(policy_lengths.sum())
        self._legal_total += int(legal_lengths.sum())
        self.games += 1
        self.samples += k

    def finish(self) -> Path:
        """Close the file and return its path, ready to publish."""
        self._file.close()
        return self.path

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        self._file.close()
        self.path.unlink(missing_ok=True)


def _fail(path: Path, field: str, problem: str, fix: str | None = None) -> ShardFormatError:
    return ShardFormatError(
        path, field, problem, fix or "quarantine this shard and re-run the selfplay task that wrote it"
    )


def read_shard(path: Path, *, expect_encoder: str, expect_codec: str, expect_variant: str) -> Shard:
    """Read and validate a whole shard; raises `ShardFormatError` naming the first bad field."""
    try:
        handle = h5py.File(path, "r", locking=False)
    except (OSError, ValueError) as error:
        raise _fail(path, "file", f"not a readable HDF5 file ({error})") from None
    with handle:
        header = _read_header(path, handle, expect_encoder, expect_codec, expect_variant)
        arrays: dict[str, np.ndarray] = {}
        aux = AUX_DATASETS if header.format_version >= 2 else ()
        for name in SAMPLE_DATASETS + CSR_DATASETS + GAME_DATASETS + aux:
            if name not in handle or not isinstance(handle[name], h5py.Dataset):
                raise _fail(path, name, "dataset is missing")
            try:
                arrays[name] = handle[name][()]
            except (OSError, ValueError) as error:
                raise _fail(path, name, f"data cannot be read (damaged: {error})") from None
    _validate(path, header, arrays)
    return Shard(path=path, header=header, **arrays)


def _read_header(
    path: Path, handle: h5py.File, expect_encoder: str, expect_codec: str, expect_variant: str
) -> ShardHeader:
    attrs = handle.attrs
    for name in ATTRS:
        if name not in attrs:
            raise _fail(path, name, "file attribute is missing")
    values = {name: attrs[name] for name in ATTRS}
    version = int(values["format_version"])
    if version not in READABLE_VERSIONS:
        raise _fail(
            path,
            "format_version",
            f"is {version}, this ringrift-hpc reads versions {', '.join(map(str, READABLE_VERSIONS))}",
            "read it with the ringrift-hpc version that wrote it, or regenerate the data",
        )
    text = {
        name: str(values[name])
        for name in ("variant", "board", "encoder_version", "codec_version", "model_id", "task")
    }
    wanted = (
        ("variant", expect_variant),
        ("encoder_version", expect_encoder),
        ("codec_version", expect_codec),
    )
    for name, expected in wanted:
        if text[name] != expected:
            raise _fail(
                path,
                name,
                f"is {text[name]!r}, expected {expected!r}",
                "data of another variant, encoder or codec is never converted; regenerate it with this version",
            )
    num_players = int(values["num_players"])
    if text["variant"] != f"{text['board']}_{num_players}p":
        raise _fail(
            path,
            "variant",
            f"{text['variant']!r} does not match board {text['board']!r} and num_players {num_players}",
        )
    header = ShardHeader(
        variant=text["variant"],
        board=text["board"],
        num_players=num_players,
        model_id=text["model_id"],
        generation=int(values["generation"]),
        task=text["task"],
        run_seed=int(values["run_seed"]),
        encoder_version=text["encoder_version"],
        codec_version=text["codec_version"],
        format_version=version,
    )
    if int(values["policy_size"]) != header.policy_size:
        raise _fail(
            path, "policy_size", f"is {int(values['policy_size'])}, the codec has {header.policy_size}"
        )
    return header


def _check_csr(path: Path, prefix: str, offsets: np.ndarray, indices: np.ndarray, n: int, size: int) -> None:
    name = f"{prefix}_offsets"
    if offsets.shape != (n + 1,):
        raise _fail(path, name, f"shape {offsets.shape}, expected ({n + 1},)")
    if offsets[0] != 0 or offsets[-1] != indices.shape[0]:
        raise _fail(path, name, f"must run from 0 to len({prefix}_indices) = {indices.shape[0]}")
    if np.any(np.diff(offsets) < 1):
        raise _fail(path, name, "not strictly increasing: every sample needs at least one entry")
    if indices.ndim != 1 or (indices.size and (indices.min() < 0 or indices.max() >= size)):
        raise _fail(path, f"{prefix}_indices", f"holds indices outside [0, {size})")


def _validate(path: Path, header: ShardHeader, a: dict[str, np.ndarray]) -> None:
    shape = encoder_shape(header.board, header.num_players)
    n_players = header.num_players
    n = a["planes"].shape[0] if a["planes"].ndim == 4 else -1
    expected = {
        "planes": (n, shape.planes, shape.height, shape.width),
        "scalars": (n, shape.scalars),
        "values": (n, n_players),
        "game": (n,),
        "ply": (n,),
    }
    for name, want in expected.items():
        if a[name].shape != want:
            raise _fail(path, name, f"shape {a[name].shape}, expected {want}")
    size = header.policy_size
    _check_csr(path, "policy", a["policy_offsets"], a["policy_indices"], n, size)
    _check_csr(path, "legal", a["legal_offsets"], a["legal_indices"], n, size)
    probs = a["policy_probs"]
    if probs.shape != a["policy_indices"].shape:
        raise _fail(path, "policy_probs", f"shape {probs.shape}, expected {a['policy_indices'].shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise _fail(path, "policy_probs", "holds negative or non-finite probabilities")
    if n:
        sums = np.add.reduceat(probs.astype(np.float64), a["policy_offsets"][:-1])
        worst = int(np.argmax(np.abs(sums - 1.0)))
        if abs(sums[worst] - 1.0) > _SUM_TOLERANCE:
            raise _fail(path, "policy_probs", f"sample {worst} sums to {sums[worst]:.6f}, not 1")
    if np.any(np.diff(a["legal_offsets"]) < 2):
        raise _fail(
            path,
            "legal_offsets",
            "a sample has fewer than two legal moves (forced positions are not samples)",
        )
    rows_p = np.repeat(np.arange(n, dtype=np.int64), np.diff(a["policy_offsets"]))
    rows_l = np.repeat(np.arange(n, dtype=np.int64), np.diff(a["legal_offsets"]))
    if not np.all(np.isin(rows_p * size + a["policy_indices"], rows_l * size + a["legal_indices"])):
        raise _fail(path, "policy_indices", "a target puts probability on a move that is not legal")
    values = a["values"]
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) > 1.0):
        raise _fail(path, "values", "holds values outside [-1, 1] or non-finite values")
    games = a["game_seeds"].shape[0]
    if a["game_lengths"].shape != (games,) or a["game_ranks"].shape != (games, n_players):
        raise _fail(path, "game_lengths", f"per-game datasets disagree on {games} games")
    if n and (a["game"].min() < 0 or a["game"].max() >= games or np.any(np.diff(a["game"]) < 0)):
        raise _fail(path, "game", f"game numbers must be non-decreasing in [0, {games})")
    if np.any(a["ply"] < 0) or (n and np.any(a["ply"] >= a["game_lengths"][a["game"]])):
        raise _fail(path, "ply", "a sample's ply lies outside its game")
    ranks = a["game_ranks"]
    if ranks.size and (ranks.min() < 1 or ranks.max() > n_players):
        raise _fail(path, "game_ranks", f"ranks must lie in [1, {n_players}]")
    if "ownership" in a:
        _validate_aux(path, a, n, n_players, (shape.height, shape.width))


def _validate_aux(
    path: Path, a: dict[str, np.ndarray], n: int, n_players: int, grid: tuple[int, int]
) -> None:
    ownership, score = a["ownership"], a["score"]
    if ownership.shape != (n, *grid):
        raise _fail(path, "ownership", f"shape {ownership.shape}, expected {(n, *grid)}")
    if ownership.size and (ownership.min() < 0 or ownership.max() > n_players):
        raise _fail(path, "ownership", f"labels must lie in [0, {n_players}] (0 none, 1 + slot)")
    if score.shape != (n, 2, n_players):
        raise _fail(path, "score", f"shape {score.shape}, expected {(n, 2, n_players)}")
    if not np.all(np.isfinite(score)) or np.any(score < 0) or np.any(score > 1):
        raise _fail(path, "score", "holds scores outside [0, 1] or non-finite scores")
