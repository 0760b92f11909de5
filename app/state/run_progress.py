"""The run in progress as the window tracks it, and what its progress reads as (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import TrainConfig
from core.events import TrainResult, TrainStart


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


IDLE_TEXT = "Idle: press Train to run the book's example, or change the settings first."


def idle_text(cfg: TrainConfig | None) -> str:
    """What the status line says when nothing runs and there is no model."""
    if cfg is None or cfg == TrainConfig():
        return IDLE_TEXT
    return f"Idle: press Train to train a new model on {cfg.dataset.name}."


@dataclass
class RunProgress:
    """What the window tracks about the run in progress: its mode, settings, progress and what it showed."""

    mode: str  # "new", "continue" or "from-file"
    cfg: TrainConfig
    steps_before: int
    start: TrainStart | None = None
    samples: int = 0
    elapsed: float = 0.0
    done: int = 0  # batches in this run
    epoch: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    failed: bool = False  # the run raised (its message is already shown)
    points: Any = None  # what the run showed and made: DataPoints, RegionSnapshot, PredictionTable
    regions: Any = None
    predictions: Any = None
    warning: str | None = None  # the run has collapsed: why, and what to try (core.insight)
    history_before: Any = None  # the model's History as the run began (a copy: the worker appends to the real one)

    def epoch_total(self) -> int:
        return self.epoch if self.start is None else self.start.first_epoch - 1 + self.start.epochs

    def progress_text(self) -> str:
        if not self.epoch:
            return "Starting…"
        text = f"Epoch {self.epoch}/{self.epoch_total()}, batch {self.batch}/{self.batches_per_epoch}"
        return f"{text}\nWarning: {self.warning}" if self.warning else text

    def paused_text(self) -> str:
        where = f" at epoch {self.epoch}, batch {self.batch}/{self.batches_per_epoch}" if self.epoch else ""
        return f"Paused{where}: press Resume to go on."

    def result_text(self, result: TrainResult) -> str:
        acc = ""
        last = result.last_epoch
        if last is not None:
            acc = f" Train accuracy {last.train_accuracy * 100:.1f}%"
            if last.test_accuracy is not None:
                acc += f", test accuracy {last.test_accuracy * 100:.1f}%"
            acc += "."
        speed = f"{result.samples_per_second:,.0f} samples/s"
        message = result.message[:1].upper() + result.message[1:]
        warning = f"\nWarning: {self.warning}" if self.warning else ""
        if result.status == "finished":
            return f"{message} ({self.batches_per_epoch} batches per epoch, {result.steps} batches in all, {speed}).{acc}{warning}"
        if result.status == "stopped":
            return f"{message}.{acc}{warning}"
        return f"Diverged: {result.message}"
