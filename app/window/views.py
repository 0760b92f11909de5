"""The window's views kept true to the settings and the model: the data they name, the model bound to it, regions and predictions.

What is shown is computed by app.state.model_outputs (no Qt): in the GUI thread when it is tiny (the
book's 7 points), on a worker through app.run.tasks otherwise. The views follow the model state's
announcements: a model dropped clears what showed it, whoever dropped it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.run.controller import TrainingController
from app.run.tasks import TaskRunner
from app.state.data_cache import DataCache
from app.state.form import FormState
from app.state.model_outputs import INLINE_WORK, ModelViews, data_points, model_views, view_work
from app.state.model_state import Bound, ModelState, bind
from app.state.run_progress import idle_text
from app.window.messages import Messages
from core.config import DatasetConfig, TrainConfig
from core.datasets import dataset_spec

if TYPE_CHECKING:
    from core.training import Trainer

# Opening (and binding to data) a file is given up after this long: the largest file the app opens
# (2 GB) reads in a few seconds from a local disk; a read that never ends (a hung network mount)
# must not leave the window waiting. Looked up at call time (tests shorten it).
OPEN_DEADLINE_S = 60.0
# The views follow the settings this long after they stop changing (typing a number is several changes).
SETTLE_MS = 200


def quick(ds: DatasetConfig) -> bool:
    """Whether this data set is made in a blink (the book's 7 points, iris, a few thousand generated points):
    then it is made in the GUI thread at once, else on a worker (the registry's rule, core.datasets)."""
    return dataset_spec(ds.name).is_small(ds)


class ViewSync(QObject):
    """Keeps the data plot, the regions and the predictions on what the settings name and the model gives."""

    def __init__(self, ui, model: ModelState, form: FormState, data: DataCache, tasks: TaskRunner,
                 controller: TrainingController, messages: Messages, show_history: Callable, parent: QObject):
        super().__init__(parent)
        self._ui = ui
        self._model = model
        self._form = form
        self._data = data
        self._tasks = tasks
        self._controller = controller
        self._messages = messages
        self._show_history = show_history  # the runs part: a model's history is a run
        self.torch_ready = False
        self.closing = False
        self._bind_tried: tuple | None = None  # (weights, data set) last bound, so the same is not tried twice
        ui.predictions.tableChanged.connect(ui.data_plot.set_predictions)
        ui.data_plot.set_predictions(ui.predictions.current())
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self.refresh)
        form.changed.connect(self._on_form_changed)
        model.changed.connect(self._on_model_changed)

    def stop(self) -> None:
        self._timer.stop()

    # --- following the state ----------------------------------------------------------------------

    def _on_form_changed(self) -> None:
        cfg = self._form.config
        kind = self._messages.kind
        if cfg is not None and (kind == "refusal" or (kind == "idle" and not self._model.has_model())):
            # A refusal the settings now fix, or an idle hint about data no longer chosen, would be stale.
            self._messages.status(idle_text(cfg) if not self._model.has_model() else "Ready: press Train.", "idle")
        self._timer.start()

    def _on_model_changed(self, what: str) -> None:
        if what == "dropped":
            self.show_model(curves=True)  # nothing of the model that went may stay on screen
        elif what == "views" and self._model.views is not None:
            self.show_model(curves=False)

    def refresh(self) -> None:
        """The data plot, regions and predictions for the settings: the model's views when it is bound to
        the data they name, file weights bound to it when they fit, else the data alone."""
        cfg = self._form.config
        self._ui.appendix.set_config(cfg)
        if not self.torch_ready or self._controller.is_running() or self.closing or cfg is None:
            return
        if self._model.is_bound_to(cfg):
            self.show_model(curves=False)
        elif self._model.weights is not None and self._bind_tried != (self._model.weights, cfg.dataset):
            self.bind(cfg, explain=False)  # opened weights follow the chosen data when they fit
        else:
            if self._model.trainer is not None and self._ui.predictions.current() is not None:
                # The table and the matrix were of the model's data, which the settings no longer name.
                self._ui.predictions.clear(f"The model was trained on other data: Train fits a model to the "
                                           f"{cfg.dataset.name} data.")
            self.show_data(cfg.dataset)

    def opened(self, weights, ds: DatasetConfig) -> None:
        """A file's weights were just bound to `ds` (or tried): not again."""
        self._bind_tried = (weights, ds)

    # --- what is shown --------------------------------------------------------------------------

    def show_data(self, ds: DatasetConfig) -> None:
        """Show a data set's points (no regions): made in a blink, kept from before, or made on a worker."""
        plot = self._ui.data_plot
        plot.regions.clear()
        if plot.shown_key == ds:
            return
        points = self._data.points(ds)
        if points is not None:
            plot.set_points(points)
            return

        def make(cancel):
            from core.data import load_dataset

            split = load_dataset(ds, cancel)
            return ds, split, data_points(split, ds)

        def failed(exc: BaseException) -> None:
            # The form says what is wrong under the field, and Train waits until it is put right.
            plot.show_message("cannot load this data set")
            plot.setToolTip(str(exc))
            self._form.set_data_problem(ds, str(exc), _field_of(ds, str(exc)))

        def made(result) -> None:
            self._data.put(*result)
            self._form.set_data_problem(ds, None)
            plot.setToolTip(plot.DEFAULT_TOOLTIP)
            plot.set_points(result[2])

        if not quick(ds):
            plot.show_message(f"making the {ds.name} data…")
        self._tasks.submit(make, kind="preview", label=f"Making the {ds.name} data…", on_done=made, on_error=failed,
                           inline=quick(ds))

    def bind(self, cfg: TrainConfig, explain: bool, on_error: Callable[[BaseException], None] | None = None):
        """Bind the opened file's weights to cfg's data on a worker; views and status follow. Returns the task."""
        weights = self._model.weights
        self._bind_tried = (weights, cfg.dataset)
        data = self._data.split(cfg.dataset)

        def done(bound: Bound) -> None:
            self._model.bound(bound)
            self.show_model(curves=False)
            if bound.trainer is not None:
                self._messages.status(f"The model fits the {cfg.dataset.name} data: its predictions are in the table.", "info")
                return
            self.show_data(cfg.dataset)
            if explain:
                self._messages.refuse("Cannot evaluate", f"Cannot evaluate the model: {bound.reason}.")
            else:
                self._messages.status(f"The model cannot be evaluated on the current data: {bound.reason}.", "info")

        small = quick(cfg.dataset) and weights.architecture.parameters < INLINE_WORK // 10_000
        return self._tasks.submit(lambda cancel: bind(weights, cfg, cancel, data), kind="model", label="Evaluating the model…",
                                  on_done=done, inline=small, deadline_s=OPEN_DEADLINE_S,
                                  on_error=on_error or (lambda exc: self._messages.file_failed("evaluate", weights.path, exc)))

    def compute_views(self, trainer: Trainer) -> None:
        def done(views: ModelViews) -> None:
            if self._model.trainer is trainer:
                self._model.set_views(views)

        self._tasks.submit(lambda cancel: model_views(trainer, cancel), kind="views", label="Evaluating the model…",
                           on_done=done, inline=view_work(trainer) <= INLINE_WORK)

    def show_model(self, curves: bool = True) -> None:
        """Curves, data, regions and predictions of the current model (not during a run)."""
        m, ui = self._model, self._ui
        if curves:
            self._show_history(m.history())
        if m.trainer is not None and m.views is not None:
            if ui.data_plot.shown_key != m.views.points.key:
                ui.data_plot.set_points(m.views.points)
            if m.views.regions is not None:
                self.show_regions(m.views.regions)
            ui.predictions.set_predictions(m.views.predictions)
        elif m.trainer is not None:
            self.compute_views(m.trainer)
        elif m.weights is not None:
            arch = m.weights.architecture
            ui.data_plot.regions.clear()
            ui.predictions.clear(
                f"The model takes {arch.inputs} features and gives {arch.outputs} classes; "
                "choose a data set of that shape to evaluate it. You can still predict typed features below."
            )
        else:
            self.clear()
            cfg = self._form.config
            if cfg is not None and self.torch_ready:
                self.show_data(cfg.dataset)

    def show_regions(self, r) -> None:
        self._ui.data_plot.set_regions(r.predicted, r.confidence, r.x_range, r.y_range)

    def clear(self, keep_data: bool = False) -> None:
        """Empty the views; `keep_data` (a new run starts) keeps the points and the plots' ranges, which
        the run's start sets (end_run gives the ranges back to the data, also after a failed start)."""
        ui = self._ui
        ui.loss_plot.clear_data(keep_range=keep_data)
        ui.accuracy_plot.clear_data(keep_range=keep_data)
        if keep_data:
            ui.data_plot.regions.clear()  # the points stay; the new model's regions replace these
        else:
            ui.data_plot.clear_data()
        ui.predictions.clear()

    def predict_typed(self, text: str) -> None:
        ui = self._ui
        if self._controller.is_running():
            ui.predictions.show_prediction("Stop or finish the training first.")
            return
        arch = self._model.weights.architecture if self._model.weights is not None else None
        # Building a model costs per layer as well as per weight (load_state_dict walks the modules).
        arch_work = arch.parameters + INLINE_WORK // 64 * len(arch.hidden_sizes) if arch is not None else 0
        model = self._model  # Qt-free: a worker must hold no widget (see app.run.tasks)
        self._tasks.submit(lambda cancel: model.predict_typed(text), kind="predict", label="Predicting…",
                           on_done=ui.predictions.show_prediction, inline=arch_work < INLINE_WORK)


def _field_of(ds: DatasetConfig, reason: str) -> str:
    """The form's field a data set's refusal belongs under."""
    if ds.name != "csv":
        return "dataset.name"
    return "dataset.label_column" if "label column" in reason.lower() else "dataset.path"
