"""The runs kept side by side, without Qt: each run's curves (every batch loss, smoothed as TensorBoard
does, and each epoch's numbers), its settings and what changed from the run before, its colour and name.

A run is a model's life from fresh weights (or from a file): Train after Reset starts a new one,
Continue training goes on in the same one. The window's plots and the runs panel read these records;
`export_curves_csv` writes them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np

from app.state.curves import EmaState, GrowingBuffer, debiased_ema
from core.config import SETTINGS_BY_KEY, TrainConfig, format_number
from core.events import EpochEnd, TrainResult
from core.history import History

# Run colours (Tableau 10 without its blue and orange, which the single run's train and test curves
# use), repeated when there are more runs.
RUN_COLORS = [
    (89, 161, 79),
    (225, 87, 89),
    (176, 122, 161),
    (118, 183, 178),
    (156, 117, 95),
    (237, 201, 72),
    (255, 157, 167),
    (186, 176, 172),
    (31, 119, 180),
    (255, 127, 14),
]
X_MODES = ("step", "epoch", "samples", "time")
X_LABELS = {"step": "batch (optimizer step)", "epoch": "epoch", "samples": "samples seen", "time": "wall time (s)"}
CSV_COLUMNS = ("run", "epoch", "batch", "step", "loss", "smoothed")


def flat_config(cfg: TrainConfig) -> dict[str, object]:
    """The config's fields by dotted key (`dataset.samples`), as the settings table names them."""
    out: dict[str, object] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix[:-1]] = value

    walk("", cfg.to_dict())
    return out


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def config_changes(before: TrainConfig | None, after: TrainConfig | None) -> list[str]:
    """What differs, in the form's words: ["Learning rate 0.5 → 0.05", ...] (only options that apply)."""
    if before is None or after is None:
        return []
    a, b = flat_config(before), flat_config(after)
    changes = []
    for key in b:
        if a.get(key) != b.get(key) and (key in SETTINGS_BY_KEY or key == "dataset.name"):
            setting = SETTINGS_BY_KEY.get(key)
            label = setting.label if setting is not None else "Data set"
            changes.append(f"{label} {_shown(a.get(key))} → {_shown(b.get(key))}")
    return changes


class RunRecord:
    """One run's curves and facts. Batch data is kept per batch in numpy buffers (loss, wall time,
    epoch, batch in epoch, batch size: 24 bytes a batch) plus, while smoothing is on, the smoothed
    loss as float32 for drawing (the CSV export smooths again in float64)."""

    def __init__(self, run_id: int, name: str, color: tuple[int, int, int], cfg: TrainConfig | None,
                 changes: Sequence[str] = (), source: str = "trained"):
        self.id = run_id
        self.name = name
        self.color = color
        self.cfg = cfg
        self.changes = list(changes)
        self.source = source  # "trained", or the model file it came from
        self.visible = True
        self.result: TrainResult | None = None
        self.first_step = 1
        self.losses = GrowingBuffer(np.float64)
        self.elapsed = GrowingBuffer(np.float32)
        self.epoch = GrowingBuffer(np.int32)
        self.batch = GrowingBuffer(np.int32)
        self.size = GrowingBuffer(np.int32)
        self.epochs: list[EpochEnd] = []
        self._epoch_cols = {name: GrowingBuffer(np.float64) for name in
                            ("step", "epoch", "train_loss", "test_loss", "train_acc", "test_acc", "elapsed")}
        self._time_offset = 0.0  # wall time of earlier fits (a continued run's clock restarts at 0)
        self._bpe: dict[int, int] = {}  # batches per epoch, by epoch (a continued run may change it)
        self.smoothing = 0.0
        self.smoothed = GrowingBuffer(np.float32)
        self._ema = EmaState()
        self._x_cache: dict[str, GrowingBuffer] = {}

    # --- feeding --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.losses)

    def reserve(self, batches: int) -> None:
        n = len(self.losses) + batches
        for buf in (self.losses, self.elapsed, self.epoch, self.batch, self.size):
            buf.reserve(n)
        if self.smoothing:
            self.smoothed.reserve(n)

    def begin_fit(self) -> None:
        """A fit starts (its BatchEnd.elapsed counts from 0 again)."""
        # The last known time (batches after a saved run's last epoch end have none): never nan.
        times = self.elapsed.view()
        known = times[np.isfinite(times)]
        if len(known):
            self._time_offset = float(known[-1])
        elif self.epochs:
            self._time_offset = float(self._epoch_cols["elapsed"].view()[-1])

    def append_batches(self, steps: np.ndarray, losses: np.ndarray, elapsed: np.ndarray | None = None,
                       epoch: np.ndarray | None = None, batch: np.ndarray | None = None,
                       size: np.ndarray | None = None, batches_per_epoch: int | None = None) -> None:
        n = len(losses)
        if n == 0:
            return
        if len(self.losses) == 0:
            self.first_step = int(steps[0])
        start = self.first_step + len(self.losses)
        self.losses.extend(losses)
        self.elapsed.extend(self._time_offset + np.asarray(elapsed) if elapsed is not None else np.full(n, np.nan))
        if epoch is None:  # plain losses (a test, a plot fed by hand): one epoch of everything
            epoch = np.ones(n, dtype=np.int32)
            batch = np.arange(start, start + n) - self.first_step + 1
        self.epoch.extend(epoch)
        self.batch.extend(batch)
        self.size.extend(size if size is not None else np.ones(n, dtype=np.int32))
        if batches_per_epoch:
            for e in np.unique(np.asarray(epoch)).tolist():
                self._bpe.setdefault(int(e), batches_per_epoch)
        if self.smoothing:
            self.smoothed.extend(debiased_ema(losses, self.smoothing, self._ema))

    def append_epochs(self, epochs: Iterable[EpochEnd]) -> None:
        epochs = list(epochs)
        if not epochs:
            return
        self.epochs.extend(epochs)
        c = self._epoch_cols
        c["step"].extend([e.step for e in epochs])
        c["epoch"].extend([e.epoch for e in epochs])
        c["train_loss"].extend([e.train_loss for e in epochs])
        c["test_loss"].extend([np.nan if e.test_loss is None else e.test_loss for e in epochs])
        c["train_acc"].extend([e.train_accuracy for e in epochs])
        c["test_acc"].extend([np.nan if e.test_accuracy is None else e.test_accuracy for e in epochs])
        c["elapsed"].extend([self._time_offset + e.elapsed for e in epochs])

    def set_history(self, history: History, batch_size: int | None = None) -> None:
        """Fill the run from a saved history: epochs and batches within them from the epoch ends."""
        losses = history.losses()
        n = len(losses)
        ends = [e for e in history.epochs if 0 < e.step <= n]
        epoch = np.full(n, ends[-1].epoch + 1 if ends else 1, dtype=np.int32)
        batch = np.arange(1, n + 1, dtype=np.int64)
        elapsed = np.full(n, np.nan)
        prev_step, prev_time = 0, 0.0
        for e in ends:
            sl = slice(prev_step, e.step)
            epoch[sl] = e.epoch
            batch[sl] = np.arange(1, e.step - prev_step + 1)
            self._bpe[e.epoch] = e.step - prev_step
            elapsed[sl] = np.linspace(prev_time, e.elapsed, e.step - prev_step + 1)[1:]
            prev_step, prev_time = e.step, e.elapsed
        batch[prev_step:] = np.arange(1, n - prev_step + 1)
        size = np.full(n, batch_size or 1, dtype=np.int32)
        self.append_batches(np.arange(1, n + 1), losses, elapsed, epoch, batch.astype(np.int32), size)
        self.append_epochs(ends)

    # --- smoothing ------------------------------------------------------------------------------

    def set_smoothing(self, weight: float) -> None:
        """Smooth the whole curve again with another weight (0: off)."""
        self.smoothing = float(weight)
        self._ema = EmaState()
        self.smoothed.clear()
        if weight and len(self.losses):
            self.smoothed.extend(debiased_ema(self.losses.view(), weight, self._ema))

    # --- reading --------------------------------------------------------------------------------

    def steps(self) -> np.ndarray:
        return np.arange(self.first_step, self.first_step + len(self.losses), dtype=np.float64)

    def batch_x(self, mode: str) -> np.ndarray:
        """Each batch's x in `mode` (step, epoch as a fraction, samples seen, wall time). Kept and grown
        with the run, so a live update costs the new batches only."""
        if mode == "step":
            return self.steps()
        if mode == "time":
            return self.elapsed.view().astype(np.float64)
        cache = self._x_cache.setdefault(mode, GrowingBuffer(np.float64))
        done, n = len(cache), len(self.losses)
        if done < n:
            if mode == "samples":
                base = cache.view()[-1] if done else 0.0
                cache.extend(base + np.cumsum(self.size.view()[done:n], dtype=np.float64))
            else:  # epoch: (epoch - 1) + batch / batches in that epoch
                e, b = self.epoch.view()[done:n], self.batch.view()[done:n]
                bpe = np.array([self._bpe.get(int(k), 0) for k in e.tolist()], dtype=np.float64) if len(
                    self._bpe) > 1 else np.full(len(e), float(next(iter(self._bpe.values()), 0)))
                bpe = np.where(bpe > 0, bpe, np.maximum(b, 1))
                cache.extend((e - 1) + b / bpe)
        return cache.view()

    def epoch_x(self, mode: str) -> np.ndarray:
        c = self._epoch_cols
        if mode == "epoch":
            return c["epoch"].view()
        if mode == "time":
            return c["elapsed"].view()
        steps = c["step"].view()
        if mode == "step" or not len(steps):
            return steps
        xs = self.batch_x(mode)
        idx = np.clip(steps.astype(np.int64) - self.first_step, 0, max(len(xs) - 1, 0))
        return xs[idx] if len(xs) else steps

    def epoch_column(self, name: str) -> np.ndarray:
        return self._epoch_cols[name].view()

    def final_text(self) -> str:
        """The run's last numbers, short: 'loss 0.0123 · test 97.5%'."""
        parts = []
        if self.epochs:
            e = self.epochs[-1]
            parts.append(f"loss {e.train_loss:.4g}")
            if e.test_accuracy is not None:
                parts.append(f"test {100 * e.test_accuracy:.1f}%")
            parts.append(f"epoch {e.epoch}")
        elif len(self.losses):
            parts.append(f"loss {self.losses.view()[-1]:.4g}")
        if self.result is not None and self.result.status != "finished":
            parts.append(self.result.status)
        return " · ".join(parts) or "no batches yet"

    def settings_text(self) -> str:
        cfg = self.cfg
        if cfg is None:
            return "settings unknown"
        sizes = ", ".join(str(s) for s in cfg.hidden_sizes) or "none"
        return (f"{cfg.dataset.name} · layers {sizes} {cfg.activation} · {cfg.optimizer} lr {format_number(cfg.learning_rate)} "
                f"· batch {cfg.batch_size} · seed {cfg.seed}")


class RunList:
    """The runs in order of their start; the last one a run trained into is `current`."""

    def __init__(self):
        self.runs: list[RunRecord] = []
        self.current: RunRecord | None = None
        self._next_id = 1

    def __len__(self) -> int:
        return len(self.runs)

    def new_run(self, cfg: TrainConfig | None, name: str | None = None, source: str = "trained") -> RunRecord:
        before = self.runs[-1].cfg if self.runs else None
        color = RUN_COLORS[(self._next_id - 1) % len(RUN_COLORS)]
        run = RunRecord(self._next_id, name or f"run {self._next_id}", color, cfg, config_changes(before, cfg), source)
        self._next_id += 1
        self.runs.append(run)
        self.current = run
        return run

    def get(self, run_id: int) -> RunRecord | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def remove(self, run_id: int) -> None:
        run = self.get(run_id)
        if run is None:
            return
        self.runs.remove(run)
        if self.current is run:
            self.current = None

    def visible(self) -> list[RunRecord]:
        return [r for r in self.runs if r.visible]


def export_curves_csv(runs: Sequence[RunRecord], smoothing: float) -> str:
    """`run,epoch,batch,step,loss,smoothed` for every batch of every run given, smoothed with
    TensorBoard's debiased EMA at `smoothing` (in float64, from the raw losses; 0: the loss itself).
    Losses are written with full precision (repr)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        losses = run.losses.view()
        smoothed = debiased_ema(losses, smoothing) if smoothing else losses
        steps = range(run.first_step, run.first_step + len(losses))
        for row in zip(steps, run.epoch.view().tolist(), run.batch.view().tolist(), losses.tolist(), smoothed.tolist(),
                       strict=True):
            step, epoch, batch, loss, smooth = row
            writer.writerow((run.name, epoch, batch, step, _num(loss), _num(smooth)))
    return out.getvalue()


def _num(v: float) -> str:
    return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
