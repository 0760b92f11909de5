"""The pieces of the training loop that both the single-process and the DDP run use: the seeded model and its
shuffle stream, an epoch's order as DataLoader draws it, the book's accuracy, and the batch count check."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

from core.config import TrainConfig, batches_per_epoch
from core.errors import Cancelled, TrainingError
from core.model import SEED_LOCK, NeuralNetwork, build_model

# A loss this large is no longer learning; stopping here keeps the curve readable and the weights finite.
EXPLODING_LOSS = 1e6
# Rows per forward pass when evaluating, so evaluating a big set never needs a huge activation tensor.
EVAL_CHUNK = 65_536


def _accuracy_and_loss(model: NeuralNetwork, X: torch.Tensor, y: torch.Tensor, with_loss: bool = True,
                       stop: threading.Event | None = None) -> tuple[float, float]:
    """The book's compute_accuracy (no_grad, argmax; the caller puts the model in eval mode) plus, if
    asked, the mean cross-entropy. `stop` is looked at between chunks (raises Cancelled)."""
    n = X.shape[0]
    correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, n, EVAL_CHUNK):
            if stop is not None and stop.is_set():
                raise Cancelled("stopped during evaluation")
            xb, yb = X[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
            logits = model(xb)
            if with_loss:
                loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (torch.argmax(logits, dim=1) == yb).sum().item()
    return correct / n, loss_sum / n


def _batches_or_refuse(n_train: int, cfg: TrainConfig) -> int:
    """Batches per epoch, refusing before any training a config that would give none."""
    n = batches_per_epoch(n_train, cfg.batch_size, cfg.drop_last)
    if n == 0:
        raise TrainingError(
            f"drop_last is on and batch_size ({cfg.batch_size}) is larger than the {n_train} training samples, "
            f"so every epoch would have 0 batches: set batch_size to at most {n_train} or turn drop_last off"
        )
    return n


def seeded_model_and_generator(cfg: TrainConfig, num_features: int, num_classes: int) -> tuple[NeuralNetwork, torch.Generator]:
    """The run's model and the generator its shuffles draw from.

    The book: torch.manual_seed(seed) right before the model is built; the shuffles then draw from
    the same global stream, after the model's initialisation has consumed its share. We copy that
    stream into a private generator so that anything else using torch's global RNG between runs
    cannot change our shuffles. (The global generator is left where the model's construction left it.)
    """
    with SEED_LOCK:
        model = build_model(num_features, num_classes, cfg.hidden_sizes, cfg.activation, cfg.seed)
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
    return model, generator


def epoch_order(generator: torch.Generator, n: int, shuffle: bool) -> torch.Tensor | None:
    """Draw one epoch's sample order from `generator` exactly as iterating `DataLoader(shuffle=shuffle)`
    over n samples draws from the global generator.

    Returns the permutation (int64, on the cpu), or None without shuffle (the order is 0..n-1).
    num_workers does not change the draws: the main process draws the indices, workers only load them.
    """
    # DataLoader's iterator draws a base seed for its workers first, even with none.
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    if not shuffle:
        return None
    # RandomSampler(generator=None): one draw seeds a fresh generator for randperm.
    seed = int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))
