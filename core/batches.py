"""Which training samples each batch holds, epoch by epoch, in the order a run draws them: the DataLoader made visible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.config import TrainConfig, batches_per_epoch
from core.data import DataSplit, load_dataset
from core.errors import TrainingError
from core.model import SEED_LOCK
from core.training import epoch_order, seeded_model_and_generator

# A plan lists every index of every epoch shown; past this many it is no longer something to read.
MAX_PLAN_INDICES = 10_000_000


@dataclass(frozen=True)
class BatchPlan:
    """The batches of the first epochs of a run, as 0-based indices into the training split."""

    train_samples: int
    batch_size: int
    batches_per_epoch: int
    # epochs[e][b]: the samples of batch b of epoch e, in the order the DataLoader yields them.
    epochs: tuple[tuple[tuple[int, ...], ...], ...]
    # dropped[e]: the samples drop_last leaves out of epoch e, in the order they were drawn (the
    # incomplete last batch); empty when drop_last is off or the batches come out even.
    dropped: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: the `python -m core batches --json` object."""
        return {
            "train_samples": self.train_samples,
            "batch_size": self.batch_size,
            "batches_per_epoch": self.batches_per_epoch,
            "epochs": [[list(batch) for batch in epoch] for epoch in self.epochs],
            "dropped": [list(d) for d in self.dropped],
        }


def batch_plan(cfg: TrainConfig, epochs: int = 3, *, data: DataSplit | None = None) -> BatchPlan:
    """The batches of the first `epochs` epochs a run of `cfg` draws, without training.

    The draws are the run's: `torch.manual_seed(cfg.seed)`, the model's construction (which consumes
    the global generator), then one DataLoader shuffle per epoch, through the same code the Trainer
    uses. Only the training split's size and the model's shape are needed from the data; pass `data`
    when it is already loaded. torch's global generator is left as it was.

    Raises ValueError for a bad `epochs` or a plan too large to list, ConfigError for a bad config,
    DataError for data that cannot be made or read, TrainingError for an empty training split.
    """
    cfg = cfg.validate()
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number of at least 1, got {epochs!r}")
    if data is None:
        data = load_dataset(cfg.dataset)
    n = int(data.X_train.shape[0])
    if n == 0:
        raise TrainingError("the training split is empty: lower dataset.test_fraction or use more samples")
    if n * epochs > MAX_PLAN_INDICES:
        raise ValueError(
            f"{epochs} epochs of {n} training samples are {n * epochs:,} indices, more than the {MAX_PLAN_INDICES:,} "
            f"a plan lists: show at most {max(1, MAX_PLAN_INDICES // n)} epochs"
        )
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        _, generator = seeded_model_and_generator(cfg, data.num_features, data.num_classes)
    bs = cfg.batch_size
    kept = n - n % bs if cfg.drop_last else n
    plan_epochs: list[tuple[tuple[int, ...], ...]] = []
    dropped: list[tuple[int, ...]] = []
    for _ in range(epochs):
        perm = epoch_order(generator, n, cfg.shuffle)
        order = list(range(n)) if perm is None else perm.tolist()
        plan_epochs.append(tuple(tuple(order[i : i + bs]) for i in range(0, kept, bs)))
        dropped.append(tuple(order[kept:]))
    return BatchPlan(
        train_samples=n,
        batch_size=bs,
        batches_per_epoch=batches_per_epoch(n, bs, cfg.drop_last),
        epochs=tuple(plan_epochs),
        dropped=tuple(dropped),
    )


def describe_plan(plan: BatchPlan, cfg: TrainConfig) -> list[str]:
    """The plan as lines for a person: one line per batch, the book's 0-based batch numbers."""
    on = {True: "on", False: "off"}
    lines = [
        f"{plan.train_samples} training samples, batch_size {plan.batch_size}, shuffle {on[cfg.shuffle]}, "
        f"drop_last {on[cfg.drop_last]}: {plan.batches_per_epoch} batches per epoch",
        (
            f"order: torch.manual_seed({cfg.seed}), the model's construction, then each epoch's DataLoader shuffle"
            if cfg.shuffle
            else "order: no shuffle, every epoch takes the samples in order"
        ),
    ]
    if plan.batches_per_epoch == 0:
        lines.append(
            f"note: drop_last leaves no batch (batch_size {plan.batch_size} > {plan.train_samples} samples): "
            "training refuses this config"
        )
    width = len(str(max(plan.train_samples - 1, 0)))
    for e, (epoch, dropped) in enumerate(zip(plan.epochs, plan.dropped, strict=True), start=1):
        lines.append(f"Epoch: {e:03d}")
        for b, batch in enumerate(epoch):
            lines.append(f"  Batch {b:03d}: {' '.join(f'{i:>{width}d}' for i in batch)}")
        if dropped:
            lines.append(f"  dropped:   {' '.join(f'{i:>{width}d}' for i in dropped)}  (drop_last)")
    if cfg.epochs < len(plan.epochs):
        lines.append(f"note: the run itself stops after {cfg.epochs} epoch(s)")
    workers = (
        f"num_workers {cfg.num_workers}: {cfg.num_workers} worker process(es) load the batches"
        if cfg.num_workers
        else "num_workers 0: the main process loads the batches"
    )
    lines.append(f"{workers}; num_workers changes who loads them, not the order (the main process draws the indices)")
    return lines
