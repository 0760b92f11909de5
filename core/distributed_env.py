"""What DDP needs before its run: the environment torchrun sets, the launcher's lifetime, and how the training
split is sharded over the ranks (torch's DistributedSampler's arithmetic). Torch only where used."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import batches_per_epoch
from core.errors import TrainingError

if TYPE_CHECKING:
    import torch


# --- the environment torchrun sets ---------------------------------------------------------------------


@dataclass(frozen=True)
class DistributedEnv:
    """What torchrun tells each process: its rank over the whole run, its rank on this machine, how many in all."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int | None = None  # processes on this machine (torchrun's LOCAL_WORLD_SIZE), if told

    @property
    def is_reporter(self) -> bool:
        """Rank 0 alone prints and writes files."""
        return self.rank == 0


def distributed_env(environ: Mapping[str, str] | None = None) -> DistributedEnv | None:
    """The process's place in a torchrun run of more than one process, or None (a plain single-process run).

    Raises TrainingError when the variables torchrun sets are there but unreadable.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("WORLD_SIZE")
    if raw is None:
        return None
    try:
        world_size = int(raw)
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
        local_world = environ.get("LOCAL_WORLD_SIZE")
        local_world_size = int(local_world) if local_world else None
    except ValueError:
        raise TrainingError(
            f"WORLD_SIZE={raw!r}, RANK={environ.get('RANK')!r}, LOCAL_RANK={environ.get('LOCAL_RANK')!r} are not whole "
            "numbers; start several processes with torchrun, which sets them"
        ) from None
    if world_size <= 1:
        return None
    if not 0 <= rank < world_size or local_rank < 0:
        raise TrainingError(f"RANK={rank} and LOCAL_RANK={local_rank} do not fit WORLD_SIZE={world_size}")
    return DistributedEnv(rank=rank, local_rank=local_rank, world_size=world_size, local_world_size=local_world_size)


def die_with_launcher() -> bool:
    """True for a process torchrun started; on Linux it then ends when torchrun ends (torchrun starts each
    rank in a session of its own, so a killed torchrun would otherwise leave its ranks waiting on each other
    until a collective times out)."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return False
    if not sys.platform.startswith("linux"):
        return True
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL when the parent ends
    except (OSError, AttributeError):
        return True
    if os.getppid() == 1:  # the launcher was already gone before the line above
        os._exit(2)
    return True


def exit_now(code: int) -> None:
    """End a rank without the interpreter's teardown: with torch loaded it took 0.6 s here, after the work
    was done and the files written, and every rank of a stopped run must be gone within a second."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


# --- shards --------------------------------------------------------------------------------------------


def shard_samples(n: int, world_size: int) -> int:
    """Samples each rank draws per epoch: DistributedSampler (drop_last=False) pads n up to a multiple of world_size."""
    return math.ceil(n / world_size)


def check_world_fits(n_train: int, batch_size: int, drop_last: bool, world_size: int) -> int:
    """Steps per epoch of a run of `world_size` processes, or TrainingError when the data is too small for them.

    Each step takes a batch on every process, world_size * batch_size samples in all (world_size with drop_last
    off, whose last batches may be short). With fewer, the sampler would fill the processes' batches with
    repeated samples (or leave a process without a batch), so the run would not train on its data.
    """
    need = world_size * batch_size if drop_last else world_size
    if n_train < need:
        if drop_last:
            ways = [
                f"use at most {n_train // batch_size} processes" if n_train >= batch_size else None,
                f"a batch_size of at most {n_train // world_size}" if n_train >= world_size else None,
                "turn drop_last off" if n_train >= world_size else None,
                "use more training samples",
            ]
            raise TrainingError(
                f"{world_size} processes with batch_size {batch_size} and drop_last on need at least {need} training "
                f"samples for one step (each process takes its own batch of {batch_size}), but the data has {n_train}: "
                + ", ".join(w for w in ways if w)
            )
        raise TrainingError(
            f"{world_size} processes need at least {world_size} training samples (one per process), but the data has "
            f"{n_train}: use at most {n_train} processes or more training samples"
        )
    return batches_per_epoch(shard_samples(n_train, world_size), batch_size, drop_last)


def shard_batches(X: torch.Tensor, y: torch.Tensor, indices: Sequence[int], batch_size: int, drop_last: bool):
    """The batches `DataLoader(dataset, batch_size, shuffle=False, drop_last, sampler)` gives for the sampler's
    `indices`, sliced from one gather instead of a per-item __getitem__ and collate (the same rows, the same order)."""
    import torch

    idx = torch.as_tensor(list(indices), dtype=torch.int64, device=X.device)
    Xs, ys = X[idx], y[idx]
    n = idx.shape[0]
    end = n - n % batch_size if drop_last else n
    for start in range(0, end, batch_size):
        yield Xs[start : start + batch_size], ys[start : start + batch_size]
