"""The status bar's fields (device, epoch and batch, speed, time, progress) and what a run's progress reads as."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.panels.widgets import release_width, set_steady_text
from app.state.run_progress import RunProgress, format_duration
from core.events import BatchEnd, TrainStart

IDLE_PROGRESS = "no run yet"


class RunStatus:
    """The status bar's fields, fed by the run's progress; they keep their width while numbers change."""

    def __init__(self, bar: QStatusBar):
        self.device_label = _field("deviceLabel", "Device", "The device this run trains on.")
        self.epoch_label = _field("epochLabel", "Epoch and batch", "Epoch and batch of the run (batches per epoch after the slash).")
        self.speed_label = _field("speedLabel", "Speed", "Training samples processed per second.")
        self.time_label = _field("timeLabel", "Time", "Time spent training, and an estimate of what is left.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setAccessibleName("Run progress")
        self.progress_bar.setToolTip("Batches done out of the batches this run will train.")
        self.progress_bar.setMinimumWidth(220)
        self._saved: tuple | None = None  # the bar as it was before a busy spell
        self._last: tuple | None = None  # (run, its last BatchEnd) counted but maybe not shown yet
        self.idle()
        for w in (self.device_label, self.epoch_label, self.speed_label, self.time_label):
            bar.addWidget(w)
        bar.addPermanentWidget(self.progress_bar)

    def set_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def idle(self) -> None:
        """No run and nothing to report: every field empty, the bar says so."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(IDLE_PROGRESS)
        for label in (self.epoch_label, self.speed_label, self.time_label):
            label.setText("")
            release_width(label)

    def starting(self) -> None:
        self.progress_bar.setRange(0, 0)  # busy until the trainer says how many batches
        self.progress_bar.setFormat("%v / %m batches")
        self.speed_label.setText("")
        self.time_label.setText("")

    def started(self, start: TrainStart) -> None:
        self.progress_bar.setRange(0, max(start.total_steps, 1))
        self.progress_bar.setValue(0)
        self.set_device(start.device)

    def batches(self, run: RunProgress, last: BatchEnd, count: int, samples: int, show: bool = True) -> None:
        """Count a drain's batches into `run`; `show` them on the bar and labels (the window does that a
        few times a second, not at every update)."""
        run.done += count
        run.samples += samples
        run.elapsed = last.elapsed
        run.epoch, run.batch, run.batches_per_epoch = last.epoch, last.batch, last.batches_per_epoch
        self._last = (run, last)
        if show:
            self.show_progress()

    def show_progress(self) -> None:
        """The bar and labels for the run's counts so far."""
        if self._last is None:
            return
        run, last = self._last
        self.progress_bar.setValue(min(run.done, self.progress_bar.maximum()))
        set_steady_text(self.epoch_label, f"Epoch {run.epoch}/{run.epoch_total()} · batch {run.batch}/{run.batches_per_epoch}")
        speed = run.samples / run.elapsed if run.elapsed > 0 else 0.0
        set_steady_text(self.speed_label, f"{speed:,.0f} samples/s")
        total = run.start.total_steps if run.start else 0
        left = run.elapsed / run.done * (total - run.done) if run.done and total else 0.0
        set_steady_text(self.time_label, f"{format_duration(run.elapsed)} elapsed · {format_duration(left)} left")

    def busy(self, label: str) -> None:
        """Work on a worker thread takes a while: the bar moves and says what it is (outside runs only)."""
        bar = self.progress_bar
        if self._saved is None:
            self._saved = (bar.minimum(), bar.maximum(), bar.value(), bar.format())
        bar.setRange(0, 0)
        bar.setFormat(label)

    def not_busy(self) -> None:
        if self._saved is not None:
            low, high, value, fmt = self._saved
            self._saved = None
            self.progress_bar.setRange(low, high)
            self.progress_bar.setValue(value)
            self.progress_bar.setFormat(fmt)

    def ended(self, run: RunProgress | None) -> None:
        """A run is over: nothing is left to estimate (the time spent stays), or nothing ran at all."""
        if run is None or run.start is None:
            self.idle()
            return
        if self._last is not None and self._last[0] is run:
            self.show_progress()
        self._last = None
        if run.done:
            set_steady_text(self.time_label, f"{format_duration(run.elapsed)} elapsed")
        else:
            self.time_label.setText("")


def _field(name: str, accessible: str, tooltip: str) -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    label.setAccessibleName(accessible)
    label.setToolTip(tooltip)
    label.setContentsMargins(6, 0, 6, 0)
    return label
