"""The first batches of the first epochs, as `core.batches.batch_plan` draws them, for data too big to list whole.

batch_plan lists every index of every epoch (a Python int each: ~1 GB for 3 epochs of 10 million
samples, and it refuses past 10 million indices). A view shows a screenful, so this draws the same
permutations with the same code and keeps only the head of each epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.config import TrainConfig, batches_per_epoch
from core.model import SEED_LOCK
from core.training import epoch_order, seeded_model_and_generator


@dataclass(frozen=True)
class BatchPreview:
    """The head of a BatchPlan: the first `max_batches` batches of each epoch, each cut to `max_items` indices."""

    train_samples: int
    batch_size: int
    batches_per_epoch: int
    # epochs[e][b]: the first indices of batch b of epoch e (at most max_items of them).
    epochs: tuple[tuple[tuple[int, ...], ...], ...]
    # batch_sizes[b]: how many samples batch b really holds (the last may be short without drop_last).
    batch_sizes: tuple[int, ...]
    # dropped[e]: the first indices drop_last leaves out of epoch e; dropped_count: how many in all.
    dropped: tuple[tuple[int, ...], ...]
    dropped_count: int

    @classmethod
    def from_plan(cls, plan, max_batches: int = 50, max_items: int = 64) -> BatchPreview:
        """The head of a whole `core.batches.BatchPlan`."""
        heads = [epoch[:max_batches] for epoch in plan.epochs]
        sizes = tuple(len(batch) for batch in heads[0]) if heads else ()
        return cls(
            train_samples=plan.train_samples,
            batch_size=plan.batch_size,
            batches_per_epoch=plan.batches_per_epoch,
            epochs=tuple(tuple(batch[:max_items] for batch in epoch) for epoch in heads),
            batch_sizes=sizes,
            dropped=tuple(d[:max_items] for d in plan.dropped),
            dropped_count=len(plan.dropped[0]) if plan.dropped else 0,
        )


def batch_preview(cfg: TrainConfig, num_train: int, num_features: int, num_classes: int, epochs: int = 3,
                  *, max_batches: int = 50, max_items: int = 64) -> BatchPreview:
    """The first batches a run of `cfg` draws over `num_train` training samples, without the data.

    The same draws as `batch_plan(cfg, epochs)` (seed, the model's construction, one DataLoader
    shuffle per epoch); only the model's shape is needed, hence the features and classes. torch's
    global generator is left as it was.
    """
    cfg = cfg.validate()
    n = num_train
    if n < 1:
        raise ValueError(f"the training split is empty ({n} samples)")
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        _, generator = seeded_model_and_generator(cfg, num_features, num_classes)
    bs = cfg.batch_size
    kept = n - n % bs if cfg.drop_last else n
    shown = min(max_batches, math.ceil(kept / bs))
    sizes = tuple(min(bs, kept - b * bs) for b in range(shown))
    plan_epochs: list[tuple[tuple[int, ...], ...]] = []
    dropped: list[tuple[int, ...]] = []
    for _ in range(epochs):
        perm = epoch_order(generator, n, cfg.shuffle)

        def take(start: int, count: int, perm=perm) -> tuple[int, ...]:
            if perm is None:
                return tuple(range(start, start + count))
            return tuple(perm[start : start + count].tolist())

        plan_epochs.append(tuple(take(b * bs, min(size, max_items)) for b, size in enumerate(sizes)))
        dropped.append(take(kept, min(n - kept, max_items)))
    return BatchPreview(
        train_samples=n,
        batch_size=bs,
        batches_per_epoch=batches_per_epoch(n, bs, cfg.drop_last),
        epochs=tuple(plan_epochs),
        batch_sizes=sizes,
        dropped=tuple(dropped),
        dropped_count=n - kept,
    )
