"""Inside the layers during a run: the callback that looks (stats, unit pictures, the collapse diagnosis) within
its share of the run's time, and hands each look to a sink (the window's buffer, an event stream)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import core.insight as insight  # looked up at call time: tests time a slow look
from core.events import Callback, EpochEnd, TrainResult, TrainStart
from core.insight import (
    STATS_INTERVAL_S,
    UNIT_GRID,
    UNITS_INTERVAL_S,
    CollapseWatch,
    Diagnosis,
    LayerStats,
    collapse_message,
    data_bounds,
    even_rows,
    stats_rows,
    unit_grid,
)

if TYPE_CHECKING:
    from core.training import Trainer


class InsightRecorder(Callback):
    """Looks inside the layers during a run and hands LayerStats, UnitSnapshot and Diagnosis events to `emit`.

    It runs in the training thread: `emit` must be thread-safe and cheap (a deque's append). Set
    `trainer` once the trainer is built (as the controller does for its QtCallback); until then every
    hook does nothing. Looks are taken at the run's start, at its first epoch's end, then at most every
    `stats_interval_s` (pictures: `units_interval_s`) and insight.COST_SHARE of the time, and at its end.
    `units` asks for the unit pictures (2-D data only).
    """

    def __init__(self, emit: Callable[[object], None], *, units: bool = True, stats: bool = True,
                 stats_interval_s: float = STATS_INTERVAL_S, units_interval_s: float = UNITS_INTERVAL_S,
                 clock: Callable[[], float] = time.perf_counter, trainer: Trainer | None = None):
        self.emit = emit
        self.trainer = trainer
        self._want_units, self._want_stats = units, stats
        self._stats_interval, self._units_interval = stats_interval_s, units_interval_s
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self._X = self._y = None
        self._bounds = None
        self._feature_names = ("x1", "x2")
        self._grid = UNIT_GRID
        self._next_stats = self._next_units = 0.0
        self._first_epoch = 1
        self._last_stats_step = self._last_units_step = -1
        self._watch = CollapseWatch()
        self._reported: tuple[str, ...] = ()
        self._last: LayerStats | None = None

    def on_train_start(self, info: TrainStart) -> None:
        self._reset()
        trainer = self.trainer
        if trainer is None:
            return
        from core.model import count_parameters

        self._first_epoch = info.first_epoch
        data = trainer.data
        parameters = count_parameters(trainer.model)
        hidden = tuple(trainer.cfg.hidden_sizes)
        if self._want_stats:
            n = int(data.X_train.shape[0])
            idx = even_rows(n, stats_rows(n, parameters, sum(hidden)))
            X, y = data.X_train, data.y_train
            if idx is not None:
                import torch

                index = torch.from_numpy(idx)
                X, y = X.index_select(0, index), y.index_select(0, index)
            self._X, self._y = X.to(trainer.device), y.to(trainer.device)
        if self._want_units:
            self._bounds = data_bounds(data)
            names = tuple(data.feature_names)
            self._feature_names = names if len(names) == 2 else ("x1", "x2")
            self._grid = unit_grid(parameters, max(hidden, default=0))
        self._look(info.first_epoch - 1, force=True)

    def on_epoch_end(self, event: EpochEnd) -> None:
        if self.trainer is not None:
            self._look(event.epoch, force=event.epoch == self._first_epoch)

    def on_train_end(self, result: TrainResult) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        self._look(trainer.epochs_completed, force=True)
        last = self._last
        message = None
        if last is not None:
            message = collapse_message(last, self._reported, trainer.cfg.learning_rate, trainer.cfg.activation,
                                       tuple(trainer.data.class_names))
        self.emit(Diagnosis(epoch=trainer.epochs_completed, step=trainer.steps, causes=self._reported,
                            message=message, final=True))

    def _look(self, epoch: int, force: bool) -> None:
        trainer = self.trainer
        now = self._clock()
        step = trainer.steps
        if self._X is not None and step != self._last_stats_step and (force or now >= self._next_stats):
            stats = insight.layer_stats(trainer.model, self._X, self._y, epoch=epoch, step=step,
                                num_classes=trainer.data.num_classes, train_samples=int(trainer.data.X_train.shape[0]))
            self._last_stats_step, self._last = step, stats
            self.emit(stats)
            self._diagnose(stats)
            done = self._clock()
            self._next_stats = done + max(self._stats_interval, (done - now) / insight.COST_SHARE)
            now = done
        if self._bounds is not None and step != self._last_units_step and (force or now >= self._next_units):
            snap = insight.unit_activations(trainer.model, self._bounds, self._grid, epoch=epoch, step=step,
                                    activation=trainer.cfg.activation, device=trainer.device,
                                    feature_names=self._feature_names)
            self._last_units_step = step
            self.emit(snap)
            done = self._clock()
            self._next_units = done + max(self._units_interval, (done - now) / insight.COST_SHARE)

    def _diagnose(self, stats: LayerStats) -> None:
        causes = self._watch.update(stats)
        if causes == self._reported:
            return
        self._reported = causes
        cfg = self.trainer.cfg
        message = collapse_message(stats, causes, cfg.learning_rate, cfg.activation, tuple(self.trainer.data.class_names))
        self.emit(Diagnosis(epoch=stats.epoch, step=stats.step, causes=causes, message=message))
