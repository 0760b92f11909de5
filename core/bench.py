"""`python -m core bench`: the book's DataLoader loop, the engine and a bare in-memory loop, timed on the same run;
then the training step as a CUDA graph against eager steps (on a GPU), then CSV files: core.data.read_csv against
numpy's readers on the same generated file, time and peak memory."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
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
CSV_ROWS = 1_000_000  # 10 numbers and a label a row: 77 MB of text
CSV_ROWS_QUICK = 100_000
CSV_FEATURES = 10


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
    from core.cuda_graph_bench import cuda_graph_bench_report

    print(cuda_graph_bench_report(quick=quick), flush=True)
    csv_same = run_csv_bench(CSV_ROWS_QUICK if quick else CSV_ROWS, repeats)
    return 0 if all_same and csv_same else 1


# --- CSV files ------------------------------------------------------------------------------------

# One read in a fresh interpreter without torch: time of the call alone, and its peak memory: the peak
# resident size (VmHWM, Linux), reset to the resident size just before the call (/proc/self/clear_refs),
# less that size. Not ru_maxrss: Linux keeps a process's ru_maxrss across exec, so a child of this
# process starts with the parent's, torch and all. It prints a digest of the arrays read, (X float64,
# y int64), so the readers differ only in speed: numpy's readers give the labels 0, 1, 2 as numbers, the
# codes read_csv gives them.
_CSV_CHILD = r"""
import hashlib, json, os, sys, time
import numpy as np
from core import csv_reader

def status(field):
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None

def careful(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return csv_reader._read_careful(f, path, None)

def fromstring(path):
    with open(path, "rb") as f:
        f.readline()
        text = f.read()
    return np.fromstring(text.rstrip(b"\n").replace(b"\n", b","), sep=",").reshape(-1, int(sys.argv[3]) + 1)

def loadtxt_text(path):  # the features as float64 and the label as up to 16 bytes, one pass of numpy's reader
    dtype = [("x", np.float64, (int(sys.argv[3]),)), ("label", "S16")]
    return np.loadtxt(path, dtype=dtype, delimiter=",", skiprows=1, comments=None, quotechar=None, encoding="utf-8")

readers = {
    "read_csv": csv_reader.read_csv,
    "careful": careful,
    "loadtxt": lambda path: np.loadtxt(path, delimiter=",", skiprows=1, comments=None, quotechar=None, ndmin=2),
    "loadtxt_text": loadtxt_text,
    "fromstring": fromstring,
}
read, path = readers[sys.argv[1]], sys.argv[2]
try:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # the peak resident size starts again from the resident size now
except OSError:
    pass
before = status("VmRSS")
start = time.perf_counter()
got = read(path)
seconds = time.perf_counter() - start
high = status("VmHWM")
if isinstance(got, tuple):
    X, y = got[0], got[1]
elif got.dtype.names:
    X, y = got["x"], np.unique(got["label"], return_inverse=True)[1].reshape(-1)
else:
    X, y = np.ascontiguousarray(got[:, :-1]), got[:, -1].astype(np.int64)
digest = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes() + np.asarray(y, dtype=np.int64).tobytes()).hexdigest()
print(json.dumps({"seconds": seconds, "peak": None if high is None or before is None else max(0, high - before), "digest": digest}))
"""

# (file, name shown, reader in the child, a numpy reader?); read_csv and the numpy reader it is held to
# take turns in every round, the rest run once.
_CSV_READERS = (
    ("numbers", "np.loadtxt, float64", "loadtxt", True),
    ("numbers", 'np.fromstring, sep=","', "fromstring", True),
    ("numbers", "read_csv", "read_csv", False),
    ("text", "np.loadtxt, float64 + S16 label", "loadtxt_text", True),
    ("text", "read_csv", "read_csv", False),
    ("text", "csv module (careful path)", "careful", False),
)
_IN_TURN = ("loadtxt", "loadtxt_text", "read_csv")


def _write_csv_files(folder: str, rows: int) -> dict[str, str]:
    """Two files of the same numbers: labels 0, 1, 2, and the same labels as setosa, versicolor, virginica."""
    rng = np.random.default_rng(0)
    numbers = os.path.join(folder, "numbers.csv")
    with open(numbers, "w", encoding="utf-8", newline="") as f:
        f.write(",".join([*(f"x{i}" for i in range(CSV_FEATURES)), "label"]) + "\n")
        row = ",".join(["%.4f"] * CSV_FEATURES) + ",%d\n"
        for start in range(0, rows, 50_000):
            size = min(50_000, rows - start)
            X, y = rng.normal(size=(size, CSV_FEATURES)), rng.integers(0, 3, size=size)
            f.write("".join(row % (*x, label) for x, label in zip(X.tolist(), y.tolist(), strict=True)))
    with open(numbers, "rb") as f:
        data = f.read()
    # Only a label is a whole field "0" before a line end: every number has a decimal point.
    for code, name in enumerate((b"setosa", b"versicolor", b"virginica")):
        data = data.replace(b",%d\n" % code, b"," + name + b"\n")
    text = os.path.join(folder, "text.csv")
    with open(text, "wb") as f:
        f.write(data)
    return {"numbers": numbers, "text": text}


def _csv_read(reader: str, path: str) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", _CSV_CHILD, reader, path, str(CSV_FEATURES)], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {reader} reader failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_csv_bench(rows: int, rounds: int = 3) -> bool:
    """Print the time and peak memory of read_csv and numpy's readers on the same generated files; False if
    the arrays read differ. In each round read_csv and np.loadtxt read both files, in an order that
    rotates; the slower np.fromstring and the csv module read once."""
    rounds = max(1, rounds)
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as folder:
        files = _write_csv_files(folder, rows)
        float32_mb = rows * CSV_FEATURES * 4 / 2**20
        print(
            f"\nCSV files: {rows:,} rows of {CSV_FEATURES} numbers (%.4f) and a label; the features in float32: "
            f"{float32_mb:.1f} MB. Each read in a fresh process: seconds of the call; peak = its peak resident memory "
            f"(VmHWM, reset before it) less the resident memory before it; medians of {rounds} rounds",
            flush=True,
        )
        sizes = {file: os.path.getsize(path) / 2**20 for file, path in files.items()}
        runs: dict[tuple[str, str], list[dict]] = {(file, name): [] for file, name, _, _ in _CSV_READERS}
        in_turn = [r for r in _CSV_READERS if r[2] in _IN_TURN]
        for i in range(rounds):
            for file, name, reader, _ in in_turn[i % len(in_turn) :] + in_turn[: i % len(in_turn)]:
                runs[file, name].append(_csv_read(reader, files[file]))
        for file, name, reader, _ in _CSV_READERS:
            if not runs[file, name]:
                runs[file, name].append(_csv_read(reader, files[file]))
    seconds = {key: statistics.median(r["seconds"] for r in got) for key, got in runs.items()}
    header = f"{'reader':<34} {'seconds':>8} {'vs numpy':>9} {'peak MB':>8} {'/ float32':>10} | arrays"
    want = runs["text", "csv module (careful path)"][0]["digest"]
    same = True
    ratio: dict[tuple[str, str], float] = {}
    for file, title in (("numbers", "labels 0, 1, 2"), ("text", "labels setosa, versicolor, virginica")):
        print(f"{title}: {sizes[file]:.1f} MB\n{header}\n{'-' * len(header)}")
        numpy_keys = [(f, name) for f, name, _, is_numpy in _CSV_READERS if f == file and is_numpy]
        fastest = min(numpy_keys, key=seconds.__getitem__)
        for key in [(f, name) for f, name, _, _ in _CSV_READERS if f == file]:
            if key != fastest and len(runs[key]) == len(runs[fastest]) == rounds:
                # The rounds' own ratios: both readers ran on the machine as it was then.
                ratio[key] = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs[key], runs[fastest], strict=True))
            else:
                ratio[key] = seconds[key] / seconds[fastest]
            peaks = [r["peak"] for r in runs[key] if r["peak"] is not None]
            peak = f"{max(peaks) / 2**20:>8.1f} {max(peaks) / 2**20 / float32_mb:>9.2f}x" if peaks else f"{'n/a':>8} {'n/a':>10}"
            identical = all(r["digest"] == want for r in runs[key])
            same &= identical
            print(f"{key[1]:<34} {seconds[key]:>8.2f} {ratio[key]:>8.2f}x {peak} | {'identical' if identical else 'DIFFERENT'}")
    peaks = [r["peak"] for file in ("numbers", "text") for r in runs[file, "read_csv"] if r["peak"] is not None]
    memory = f"; peak memory at most {max(peaks) / 2**20 / float32_mb:.2f}x the features in float32 (goal: under 3x)" if peaks else ""
    print(f"read_csv: {ratio['numbers', 'read_csv']:.2f}x and {ratio['text', 'read_csv']:.2f}x the time of the fastest numpy "
          f"reader of the same file (goal: within 1.2x){memory}")
    if not same:
        print("error: the readers' arrays differ")
    return same
