"""The window's views kept true to the settings: the data they name, the model bound to it, regions and predictions.

A mixin of MainWindow. What is shown is computed by app/model_views.py (no Qt): in the GUI thread
when it is tiny (the book's 7 points), on a worker through app/tasks.py otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.state.model_outputs import INLINE_WORK, ModelViews, data_points, model_views, view_work
from app.state.model_state import Bound, bind
from app.window import files as window_files
from app.window.run_status import idle_text
from core.config import GENERATED_DATASETS, DatasetConfig, TrainConfig

if TYPE_CHECKING:
    from core.training import Trainer

# Data sets this small are made in the GUI thread at once (well under a millisecond); larger ones on a worker.
INLINE_SAMPLES = 5_000


def quick(ds: DatasetConfig) -> bool:
    """Whether this data set is made in a blink (the book's 7 points, iris, a few thousand generated points)."""
    return ds.name in ("appendix-a", "iris") or (ds.name in GENERATED_DATASETS and ds.samples <= INLINE_SAMPLES)


class ViewSync:
    """Keeps the data plot, the regions and the predictions on what the settings name (for MainWindow)."""

    def _on_settings_changed(self) -> None:
        self._update_controls()
        cfg = self._config_or_none()
        if cfg is not None and (self._status_kind == "refusal" or (self._status_kind == "idle" and not self.has_model())):
            # A refusal the settings now fix, or an idle hint about data no longer chosen, would be stale.
            self._set_status(idle_text(cfg) if not self.has_model() else "Ready: press Train.", "idle")
        self._view_timer.start()

    def _refresh_views(self) -> None:
        """The data plot, regions and predictions for the settings: the model's views when it is bound to
        the data they name, file weights bound to it when they fit, else the data alone."""
        self._plot_follows_predictions()
        cfg = self._config_or_none()
        self.appendix.set_config(cfg)
        if not self._torch_ready or self.is_training() or self._closing or cfg is None:
            return
        if self.model.is_bound_to(cfg):
            self._show_model(curves=False)
        elif self.model.weights is not None and self._bind_tried != (self.model.weights, cfg.dataset):
            self._bind(cfg, explain=False)  # opened weights follow the chosen data when they fit
        else:
            self._show_data(cfg.dataset)

    def _show_data(self, ds: DatasetConfig) -> None:
        """Show a data set's points (no regions): made in a blink, kept from before, or made on a worker."""
        self.data_plot.regions.clear()
        if self.data_plot.shown_key == ds:
            return
        if self._data is not None and self._data[0] == ds:
            self.data_plot.set_points(self._data[2])
            return

        def make(cancel):
            from core.data import load_dataset

            split = load_dataset(ds, cancel)
            return ds, split, data_points(split, ds)

        def failed(exc: BaseException) -> None:
            self.data_plot.show_message("cannot load this data set")
            self.data_plot.setToolTip(str(exc))

        def made(result) -> None:
            self._data = result
            self.data_plot.setToolTip(self.data_plot.DEFAULT_TOOLTIP)
            self.data_plot.set_points(result[2])
            self._update_controls()

        if not quick(ds):
            self.data_plot.show_message(f"making the {ds.name} data…")
        self.tasks.submit(make, kind="preview", label=f"Making the {ds.name} data…", on_done=made, on_error=failed,
                          inline=quick(ds))

    def _bind(self, cfg: TrainConfig, explain: bool):
        """Bind the opened file's weights to cfg's data on a worker; views and status follow. Returns the task."""
        weights = self.model.weights
        self._bind_tried = (weights, cfg.dataset)
        data = self._data[1] if self._data is not None and self._data[0] == cfg.dataset else None

        def done(bound: Bound) -> None:
            self.model.bound(bound)
            if bound.trainer is not None:
                self._show_model(curves=False)
                self._set_status(f"The model fits the {cfg.dataset.name} data: its predictions are in the table.", "info")
            else:
                self._show_model(curves=False)
                self._show_data(cfg.dataset)
                if explain:
                    self._refuse("Cannot evaluate", f"Cannot evaluate the model: {bound.reason}.")
                else:
                    self._set_status(f"The model cannot be evaluated on the current data: {bound.reason}.", "info")
            self._update_controls()

        small = quick(cfg.dataset) and weights.architecture.parameters < INLINE_WORK // 10_000
        return self.tasks.submit(lambda cancel: bind(weights, cfg, cancel, data), kind="model", label="Evaluating the model…",
                          on_done=done, on_error=lambda exc: self._failed_file("evaluate", weights.path, exc), inline=small,
                          deadline_s=window_files.OPEN_DEADLINE_S)

    def _compute_views(self, trainer: Trainer) -> None:
        def done(views: ModelViews) -> None:
            if self.model.trainer is trainer:
                self.model.views = views
                self._show_model(curves=False)

        self.tasks.submit(lambda cancel: model_views(trainer, cancel), kind="views", label="Evaluating the model…",
                          on_done=done, inline=view_work(trainer) <= INLINE_WORK)

    def _show_model(self, curves: bool = True) -> None:
        """Curves, data, regions and predictions of the current model (not during a run)."""
        m = self.model
        if curves:
            self._show_history(m.history())
        if m.trainer is not None and m.views is not None:
            if self.data_plot.shown_key != m.views.points.key:
                self.data_plot.set_points(m.views.points)
            if m.views.regions is not None:
                self._show_regions(m.views.regions)
            self.predictions.set_predictions(m.views.predictions)
        elif m.trainer is not None:
            self._compute_views(m.trainer)
        elif m.weights is not None:
            arch = m.weights.architecture
            self.data_plot.regions.clear()
            self.predictions.clear(
                f"The model takes {arch.inputs} features and gives {arch.outputs} classes; "
                "choose a data set of that shape to evaluate it. You can still predict typed features below."
            )
        else:
            self._clear_views()
            cfg = self._config_or_none()
            if cfg is not None and self._torch_ready:
                self._show_data(cfg.dataset)

    def _plot_follows_predictions(self) -> None:
        """The data plot rings the mistakes of whatever predictions the panel shows, however they got there
        (a run's end, a bound file, Evaluate): connected once, before the first run can start."""
        if not getattr(self, "_plot_follows", False):
            self._plot_follows = True
            self.predictions.tableChanged.connect(self.data_plot.set_predictions)
            self.data_plot.set_predictions(self.predictions.current())

    def _show_regions(self, r) -> None:
        self.data_plot.set_regions(r.predicted, r.confidence, r.x_range, r.y_range)

    def _clear_views(self, keep_data: bool = False) -> None:
        """Empty the views; `keep_data` (a new run starts) keeps the points and the plots' ranges, which
        the run's start sets (end_run gives the ranges back to the data, also after a failed start)."""
        self._plot_follows_predictions()
        self.loss_plot.clear_data(keep_range=keep_data)
        self.accuracy_plot.clear_data(keep_range=keep_data)
        if keep_data:
            self.data_plot.regions.clear()  # the points stay; the new model's regions replace these
        else:
            self.data_plot.clear_data()
        self.predictions.clear()

    def _predict_typed(self, text: str) -> None:
        if self.is_training():
            self.predictions.show_prediction("Stop or finish the training first.")
            return
        arch = self.model.weights.architecture if self.model.weights is not None else None
        # Building a model costs per layer as well as per weight (load_state_dict walks the modules).
        arch_work = arch.parameters + INLINE_WORK // 64 * len(arch.hidden_sizes) if arch is not None else 0
        model = self.model  # Qt-free: a worker must hold no widget (see app.run.tasks)
        self.tasks.submit(lambda cancel: model.predict_typed(text), kind="predict", label="Predicting…",
                          on_done=self.predictions.show_prediction, inline=arch_work < INLINE_WORK)
