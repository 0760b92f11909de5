"""`python -m core bench`: the book's DataLoader loop, the engine and a bare in-memory loop, timed on the same run."""

from __future__ import annotations

import gc
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from core.config import DatasetConfig, TrainConfig
from core.data import ToyDataset, load_dataset
from core.model import NeuralNetwork
from core.training import Trainer

BATCH_SIZES = (2, 32, 256)
DATA_SIZES = (10_000, 100_000)
# Engine/floor pairs per case: at least `repeats`, more until this much engine time (short cases), at most MAX_PAIRS.
ENGINE_SECONDS = 4.0
MAX_PAIRS = 60
MIN_PAIRS = 5  # the median of fewer pair ratios moved by 5-10% on a busy shared machine


def _config(samples: int, batch_size: int) -> TrainConfig:
    # One whole epoch, then accuracy on both splits: the output the book's code and the engine both give.
    return TrainConfig(
        dataset=DatasetConfig(name="moons", samples=samples, test_fraction=0.2, seed=0),
        batch_size=batch_size,
        epochs=1,
    ).validate()


def _book_accuracy(model, loader) -> float:
    """The book's compute_accuracy: eval mode, no_grad, argmax, batch by batch from a DataLoader."""
    model.eval()
    correct, total = 0, 0
    for features, labels in loader:
        with torch.no_grad():
            logits = model(features)
        correct += torch.sum(torch.argmax(logits, dim=1) == labels).item()
        total += len(labels)
    return correct / total


def _book_loop(cfg: TrainConfig, data) -> tuple[float, list[float]]:
    """Appendix A's code: per-item Dataset, DataLoader(shuffle, drop_last), loss.item() per batch, then
    compute_accuracy on the training and test loaders."""
    loader = DataLoader(
        ToyDataset(data.X_train, data.y_train),
        batch_size=cfg.batch_size,
        shuffle=cfg.shuffle,
        drop_last=cfg.drop_last,
        num_workers=0,
    )
    test_loader = DataLoader(ToyDataset(data.X_test, data.y_test), batch_size=cfg.batch_size, shuffle=False, num_workers=0)
    torch.manual_seed(cfg.seed)
    model = NeuralNetwork(data.num_features, data.num_classes, cfg.hidden_sizes, cfg.activation)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for features, labels in loader:
        logits = model(features)
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    _book_accuracy(model, loader)
    _book_accuracy(model, test_loader)
    return time.perf_counter() - t0, losses


def _floor_loop(cfg: TrainConfig, data) -> tuple[float, list[float]]:
    """The least Python can do for the same output: one shuffled copy of in-memory tensors, slices,
    then one no_grad forward pass per split for the accuracies and the test loss."""
    torch.manual_seed(cfg.seed)
    model = NeuralNetwork(data.num_features, data.num_classes, cfg.hidden_sizes, cfg.activation)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    losses: list[float] = []
    t0 = time.perf_counter()
    torch.empty((), dtype=torch.int64).random_()  # DataLoader's base seed, to stay on the book's stream
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    perm = torch.randperm(data.X_train.shape[0], generator=torch.Generator().manual_seed(seed))
    X, y = data.X_train[perm], data.y_train[perm]
    bs = cfg.batch_size
    n = X.shape[0] - X.shape[0] % bs
    model.train()
    for start in range(0, n, bs):
        loss = F.cross_entropy(model(X[start : start + bs]), y[start : start + bs])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():  # the engine's epoch summary: train accuracy, test accuracy and test loss
        (torch.argmax(model(data.X_train), dim=1) == data.y_train).sum().item()
        logits = model(data.X_test)
        (torch.argmax(logits, dim=1) == data.y_test).sum().item()
        F.cross_entropy(logits, data.y_test, reduction="sum").item()
    return time.perf_counter() - t0, losses


def _engine(cfg: TrainConfig, data) -> tuple[float, list[float]]:
    trainer = Trainer(cfg, data=data)
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0, list(trainer.history.batch_loss)


def run_bench(quick: bool = False, repeats: int = 3) -> int:
    """Print samples/s of the three loops and the engine's ratios; exit 1 if the losses differ.

    Machines drift: the same run took anywhere from 2.0 to 2.7 s, back to back, on a shared 2-core
    machine. So the engine and the floor, whose ratio should be about 1, are timed in pairs, one
    right after the other (the order alternating), and the ratio printed is the median of the pairs'
    ratios; short cases get more pairs (up to ENGINE_SECONDS of engine time). The book's loop,
    several times slower, is compared through medians. Rates are from median times.
    """
    torch.set_num_threads(1)  # what the app's worker thread uses
    sizes = (600,) if quick else DATA_SIZES
    engine_seconds = 0.05 if quick else ENGINE_SECONDS
    repeats = max(1, repeats)
    print(
        f"torch {torch.__version__} on {platform.processor() or platform.machine()}, {torch.get_num_threads()} intra-op thread, "
        f"book MLP [30, 20] on moons (80% train), one epoch + accuracies per case; engine and floor timed in "
        f"back-to-back pairs ({max(repeats, MIN_PAIRS)}+ per case), the book's loop {repeats}+ times; rates from median times"
    )
    header = (
        f"{'samples':>8} {'batch':>5} | {'book s/s':>10} {'engine s/s':>11} {'floor s/s':>10} | "
        f"{'engine/book':>11} {'engine/floor':>12} | losses"
    )
    print(header)
    print("-" * len(header))
    all_same = True
    _engine(_config(1_000, 32), load_dataset(_config(1_000, 32).dataset))  # first-run imports and allocations
    for samples in sizes:
        for bs in BATCH_SIZES:
            cfg = _config(samples, bs)
            data = load_dataset(cfg.dataset)
            losses = {}
            for name, fn in (("book", _book_loop), ("engine", _engine), ("floor", _floor_loop)):
                _, losses[name] = fn(cfg, data)  # warm: allocator, caches, lazy imports
            times: dict[str, list[float]] = {"book": [], "engine": [], "floor": []}
            pair_ratios: list[float] = []
            while len(pair_ratios) < max(repeats, MIN_PAIRS) or (
                sum(times["engine"]) < engine_seconds and len(pair_ratios) < MAX_PAIRS
            ):
                pair = [("engine", _engine), ("floor", _floor_loop)]
                if len(pair_ratios) % 2:
                    pair.reverse()
                got = {}
                for name, fn in pair:
                    gc.collect()
                    got[name], losses[name] = fn(cfg, data)
                    times[name].append(got[name])
                pair_ratios.append(got["floor"] / got["engine"])
            # The book's loop is 1.5x to 7x slower: a few runs tell that apart from the goal.
            while len(times["book"]) < repeats and (len(times["book"]) < 1 or sum(times["book"]) < 4 * engine_seconds):
                gc.collect()
                t, losses["book"] = _book_loop(cfg, data)
                times["book"].append(t)
            steps = len(losses["engine"])
            rate = {k: steps * bs / statistics.median(v) for k, v in times.items()}
            same = losses["engine"] == losses["book"] == losses["floor"]
            all_same &= same
            print(
                f"{samples:>8} {bs:>5} | {rate['book']:>10,.0f} {rate['engine']:>11,.0f} {rate['floor']:>10,.0f} | "
                f"{rate['engine'] / rate['book']:>10.2f}x {statistics.median(pair_ratios):>11.3f}x | "
                f"{'identical' if same else 'DIFFERENT'} ({steps} steps, {len(pair_ratios)} pairs)",
                flush=True,
            )
    print("all losses identical to the book's loop" if all_same else "error: the engine's losses differ from the book's loop")
    return 0 if all_same else 1
