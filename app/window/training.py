"""The run as the window drives it: Train, Pause, Stop, Reset, and the run's progress fed to the live views.

A run in the window's worker thread or as torchrun processes goes through the TrainingController; the
views it feeds are one rotation of live views (app.run.live). The run's settings come from the form's
state, validated once per change; the model it makes or continues is announced by the model state.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QApplication, QMessageBox

from app.run.controller import TrainingController
from app.run.feed import Drained
from app.run.live import Rotation
from app.run.tasks import TaskRunner
from app.state.data_cache import DataCache
from app.state.form import FormState
from app.state.model_outputs import ModelViews
from app.state.model_state import ModelState
from app.state.run_progress import RunProgress
from app.window.insight import InsightViews
from app.window.messages import Messages
from app.window.runs import RunViews
from app.window.views import ViewSync
from core.config import TrainConfig, batches_per_epoch
from core.events import TrainResult
from core.history import History


class _Status:
    """The status line and the status bar's numbers, drawn in the rotation."""

    name = "status"

    def __init__(self, ui, messages: Messages, controller: TrainingController):
        self._ui, self._messages, self._controller = ui, messages, controller

    def begin(self, run, start) -> None:
        pass

    def feed(self, run, d) -> None:
        pass

    def draw(self, run) -> bool:
        self._ui.run_status.show_progress()
        if not self._controller.is_paused():
            self._messages.status(run.progress_text(), "info")
        return True

    def end(self, run) -> None:
        pass


class _Epochs:
    """The epoch curves of the loss plot."""

    name = "epochs"

    def __init__(self, loss_plot):
        self._plot = loss_plot

    def begin(self, run, start) -> None:
        pass

    def feed(self, run, d) -> None:
        pass

    def draw(self, run) -> bool:
        return self._plot.refresh_epochs()

    def end(self, run) -> None:
        pass


class _Accuracy(_Epochs):
    """The accuracy plot."""

    name = "accuracy"

    def draw(self, run) -> bool:
        return self._plot.refresh()


class _Regions:
    """The decision regions the worker sent last."""

    name = "regions"

    def __init__(self, views: ViewSync):
        self._views = views
        self._shown = None

    def begin(self, run, start) -> None:
        self._shown = None

    def feed(self, run, d) -> None:
        if d.regions is not None:
            run.regions = d.regions

    def draw(self, run) -> bool:
        if run is None or run.regions is None or run.regions is self._shown:
            return False
        self._shown = run.regions
        self._views.show_regions(run.regions)
        return True

    def end(self, run) -> None:
        self.draw(run)  # the last ones, if an update had no turn free for them
        self._shown = None


class Training(QObject):
    """Starts, pauses, stops and resets runs; feeds their progress to the plots and the live views."""

    def __init__(self, ui, model: ModelState, form: FormState, data: DataCache, controller: TrainingController,
                 tasks: TaskRunner, messages: Messages, views: ViewSync, runs: RunViews, insight: InsightViews,
                 confirm_discard: Callable[[str], bool], open_run_model: Callable[[str], bool], parent: QObject):
        super().__init__(parent)
        self._ui = ui
        self._model = model
        self._form = form
        self._data = data
        self._controller = controller
        self._tasks = tasks
        self._messages = messages
        self._views = views
        self._runs = runs
        self._insight = insight
        self._confirm_discard = confirm_discard
        self._open_run_model = open_run_model  # a torchrun run's model file, opened like any other
        self.run: RunProgress | None = None
        self.closing = False
        self.live = Rotation([_Status(ui, messages, controller), _Epochs(ui.loss_plot), _Accuracy(ui.accuracy_plot),
                              insight, _Regions(views)])
        controller.progress.connect(self._on_progress)
        controller.failed.connect(self._on_failed)
        controller.runFinished.connect(self._on_run_finished)

    # --- what the buttons do ----------------------------------------------------------------------

    def start(self) -> bool:
        """What the Train button does; False (with the reason shown) when the run cannot start."""
        if self._controller.is_running() or self._tasks.running("model") or self._tasks.running("save"):
            return False
        cfg, error = self._form.config, self._form.error
        if cfg is None:
            self._messages.refuse("Cannot train", f"Cannot train: {error}", kind="refusal")
            return False
        problem = self._form.data_problem()
        if problem is not None:
            self._messages.refuse("Cannot train", f"Cannot train: {problem[1]}", kind="refusal")
            return False
        processes = self._ui.processes_spin.value()
        mode = "new" if processes > 1 else self._model.mode_for(cfg)
        if mode == "new" and (self._model.dirty or self._model.weights is not None or self._model.has_model()):
            question = (f"Train a new model on {processes} processes and drop the current one?" if processes > 1
                        else "Train a new model from the seed and drop the current one?")
            if (self._model.dirty or self._model.weights is not None) and not self._confirm_discard(question):
                return False
            # Dropped now, as agreed: if the new run cannot start, nothing on screen shows the old model.
            self._model.drop()
        self._tasks.cancel("preview")  # the run makes (or reuses) the data itself
        self._tasks.cancel("views")
        if processes > 1:
            return self._start_processes(cfg, processes)
        prev, weights, controller = self._model.trainer, self._model.weights, self._controller
        data = self._data.split(cfg.dataset)

        def make(callbacks):
            from core import training  # looked up at call time, so a test can swap core.training.Trainer

            if mode == "continue":
                return prev.continue_with(cfg, callbacks)
            kwargs = {}
            if mode == "from-file":
                kwargs = dict(initial_state=weights.state_dict, optimizer_state=weights.optimizer_state,
                              history=History(weights.history.batch_loss, weights.history.epochs))
            return training.Trainer(cfg, callbacks, threads=1, data=data, cancel=controller.stop_event, **kwargs)

        steps_before = {"continue": prev.steps if prev else 0, "from-file": len(weights.history.batch_loss) if weights else 0}
        history = self._model.history()
        self._begin(RunProgress(mode=mode, cfg=cfg, steps_before=steps_before.get(mode, 0),
                                history_before=History(history.batch_loss, history.epochs)))
        self._ui.predictions.clear("Training… the predictions on the test split appear when the run ends or is stopped.")
        self._messages.status("Loading the data and building the model…" if mode != "continue" else "Continuing…", "info")
        self._controller.start(cfg, make, regions=True)
        return True

    def _begin(self, run: RunProgress) -> None:
        self.run = run
        if run.mode == "new":
            self._views.clear(keep_data=self._ui.data_plot.shown_key == run.cfg.dataset)
        self._lay_out(run)
        self._ui.run_status.starting()

    def _start_processes(self, cfg: TrainConfig, n: int) -> bool:
        """Train a fresh model from the seed as torchrun with n processes (DDP); the live curve is rank 0's mean."""
        self._begin(RunProgress(mode="new", cfg=cfg, steps_before=0))
        self._insight.clear(f"A run on {n} processes is watched through its losses only: the unit pictures and "
                            "layer statistics come from a run in this window (Processes 1).")
        self._ui.predictions.clear("Training on several processes… the predictions appear when the run ends.")
        self._messages.status(f"Starting {n} processes (torchrun, DistributedDataParallel)…", "info")
        try:
            self._controller.start_processes(cfg, n)
        except (OSError, RuntimeError, ValueError) as exc:
            self.run = None
            self._messages.refuse("Cannot train", f"Cannot start torchrun: {exc}")
            self._ui.run_status.idle()
            return False
        return True

    def _lay_out(self, run: RunProgress) -> None:
        """Set the plots' axes for the run now, when the number of batches is already known (the data on
        screen, or the model that continues), rather than again when the run's first events arrive."""
        cfg = run.cfg
        if run.mode == "continue":
            n_train, first_epoch = self._model.trainer.data.X_train.shape[0], self._model.trainer.epochs_completed + 1
        elif run.mode == "new" and self._data.has(cfg.dataset):
            n_train, first_epoch = self._data.points(cfg.dataset).train_samples, 1
        else:
            return
        per_epoch = batches_per_epoch(n_train, cfg.batch_size, cfg.drop_last)
        if per_epoch > 0:
            self._ui.loss_plot.begin_run(run.steps_before + 1, per_epoch * cfg.epochs, first_epoch, cfg.epochs)
            self._ui.accuracy_plot.begin_run(first_epoch - 1 + cfg.epochs)

    def stop(self) -> None:
        if self._controller.is_running():
            self._controller.stop()
            self._messages.status("Stopping after the current batch…", "info")

    def set_paused(self, paused: bool) -> None:
        if not self._controller.is_running():
            return
        self._controller.set_paused(paused)
        run = self.run or RunProgress("new", TrainConfig(), 0)
        self._messages.status(run.paused_text() if paused else run.progress_text(), "info")

    def reset(self) -> None:
        """Forget the weights and curves; the next Train starts fresh weights from the seed."""
        if self._controller.is_running():
            return
        self.drop_model()
        self._messages.status("Reset: the next Train builds fresh weights from the seed, so the same settings give the same "
                              "curve.", "info")

    def drop_model(self) -> None:
        self._tasks.cancel("views")
        self._tasks.cancel("model")
        self._ui.run_status.idle()
        self._insight.clear()
        self._model.drop()  # the views follow (ViewSync hears "dropped")

    def copy_command(self) -> None:
        text = self.command_text()
        if text:
            QApplication.clipboard().setText(text)
            self._messages.status(f"Copied: {text}", "info")

    def command_text(self) -> str:
        cfg = self._form.config
        if cfg is None:
            return ""
        from app.run.process_run import command_text

        return command_text(cfg.with_changes(device="auto" if cfg.device.startswith("cuda") else cfg.device),
                            max(self._ui.processes_spin.value(), 2))

    # --- the run ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_progress(self, d: Drained) -> None:
        run, ui = self.run, self._ui
        if run is None:
            return
        if d.start is not None:
            run.start = d.start
            run.batches_per_epoch = d.start.batches_per_epoch
            # The run's record is made when the run has really started: a Train that fails before its
            # first epoch (data that cannot be read) adds no run.
            self._runs.record_for(run.mode, run.cfg, run.history_before)
            ui.run_status.started(d.start)
            ui.appendix.set_device_text(d.start.device)
            ui.loss_plot.begin_run(run.steps_before + 1, d.start.total_steps, d.start.first_epoch, d.start.epochs)
            ui.accuracy_plot.begin_run(d.start.first_epoch - 1 + d.start.epochs)
            self.live.begin(run, d.start)
        if d.points is not None:
            run.points = d.points
            if ui.data_plot.shown_key != d.points.key:
                ui.data_plot.set_points(d.points)
        self._runs.record_progress(d)
        self.live.feed(run, d)
        if d.predictions is not None:
            run.predictions = d.predictions
        if d.last_batch is not None:
            ui.run_status.batches(run, d.last_batch, len(d.losses), d.samples, show=False)
        # Every update draws the batch loss; what changes less is drawn in the rotation, one view per update.
        ui.loss_plot.refresh(batches=len(d.losses) > 0, epochs=False)
        self.live.turn(run, news=d.last_batch is not None or bool(d.epochs))

    def warn(self, run: RunProgress) -> None:
        """A collapse diagnosed mid-run: the status line says so at once."""
        if not self._controller.is_paused():
            self._messages.status(run.progress_text(), "info")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.run is not None:
            self.run.failed = True
        self._messages.refuse("Training failed", f"Training failed: {message}", status=f"Error: {message}")

    @Slot(object)
    def _on_run_finished(self, result: TrainResult | None) -> None:
        run, self.run = self.run, None
        if self.closing:
            return
        ui = self._ui
        ui.loss_plot.end_run()
        ui.accuracy_plot.end_run()
        ui.run_status.ended(run)
        if run is not None and run.start is not None:
            self._runs.record_ended(result)
        self.live.end(run)
        if self._controller.processes > 1:
            self._processes_finished(run, result)
            return
        trainer = self._controller.trainer
        progressed = trainer is not None and run is not None and trainer.steps > run.steps_before
        if result is not None or progressed:
            # A run that trained keeps its model, even one that failed part-way (its curve is on screen).
            views = None
            if run is not None and run.points is not None and run.predictions is not None:
                views = ModelViews(run.points, run.regions, run.predictions)
            self._model.trained(trainer, views, progressed)
            if views is None:
                self._views.compute_views(trainer)
            else:
                ui.predictions.set_predictions(views.predictions)
        else:
            self._views.show_model(curves=run is not None and run.mode == "new")
        if result is not None:
            self._messages.status(run.result_text(result), "info")
            if result.status == "diverged":
                self._messages.show(QMessageBox.Icon.Warning, "Training diverged", run.result_text(result))
        elif run is not None and not run.failed:
            self._messages.status("Stopped before the first batch: nothing was trained.", "info")

    def _processes_finished(self, run: RunProgress | None, result: TrainResult | None) -> None:
        """A torchrun run ended: its model is the file rank 0 saved, opened like any other (off this thread)."""
        path = self._controller.model_path
        if path:
            self._model.drop()
            # Curves, weights and settings as rank 0 saved them, read on a worker; waited for here (with
            # the event loop running), so that whoever hears runFinished next finds the model in place.
            self._open_run_model(path)
        if result is not None and run is not None:
            self._messages.status(run.result_text(result) + f" ({self._controller.processes} processes)", "info")
        elif run is not None and not run.failed:
            self._messages.status("Stopped: a run on several processes keeps no model when it is stopped.", "info")
