"""The window's runs on several processes: Train as torchrun with DDP (processesSpin > 1), the model rank 0
saved taken back at the end, and the command to copy for a bigger machine. A mixin of MainWindow."""

from __future__ import annotations

from app.window.run_status import Run
from core.config import TrainConfig
from core.events import TrainResult


class ProcessRuns:
    """Runs of N > 1 processes through the window's TrainingController (app/process_run.py does the work)."""

    def _start_processes(self, cfg: TrainConfig, n: int) -> bool:
        """Train a fresh model from the seed as torchrun with n processes (DDP); the live curve is rank 0's mean."""
        if self.model.has_model() and (self.model.dirty or self.model.weights is not None) and not self.confirm_discard(
                f"Train a new model on {n} processes and drop the current one?"):
            return False
        self.tasks.cancel("preview")
        self.tasks.cancel("views")
        self._run = Run(mode="new", cfg=cfg, steps_before=0)
        self._clear_views(keep_data=self.data_plot.shown_key == cfg.dataset)
        self._run_record_for("new", cfg)
        self._insight_clear(f"A run on {n} processes is watched through its losses only: the unit pictures and "
                            "layer statistics come from a run in this window (Processes 1).")
        self._lay_out_run("new", cfg)
        self.run_status.starting()
        self.predictions.clear("Training on several processes… the predictions appear when the run ends.")
        self._set_status(f"Starting {n} processes (torchrun, DistributedDataParallel)…", "info")
        try:
            self.controller.start_processes(cfg, n)
        except (OSError, RuntimeError, ValueError) as exc:
            self._run = None
            self._run_record_ended(None)
            self._refuse("Cannot train", f"Cannot start torchrun: {exc}")
            self.run_status.idle()
            return False
        self._update_controls()
        return True

    def _processes_finished(self, run: Run | None, result: TrainResult | None) -> None:
        """A torchrun run ended: its model is the file rank 0 saved, opened like any other (off this thread)."""
        self.loss_plot.end_run()
        self.accuracy_plot.end_run()
        self.run_status.ended(run)
        self._run_record_ended(result)
        path = self.controller.model_path
        if path:
            self.model.drop()
            # Curves, weights and settings as rank 0 saved them, read on a worker; waited for here (with
            # the event loop running), so that whoever hears runFinished next finds the model in place.
            self._wait(self.open_file(path, from_run=True))
        if result is not None and run is not None:
            self._set_status(run.result_text(result) + f" ({self.controller.processes} processes)", "info")
        elif run is not None and not run.failed:
            self._set_status("Stopped: a run on several processes keeps no model when it is stopped.", "info")
        self._update_controls()

    def _copy_command(self) -> None:
        from PySide6.QtWidgets import QApplication

        text = self._command_text()
        if text:
            QApplication.clipboard().setText(text)
            self._set_status(f"Copied: {text}", "info")

    def _command_text(self) -> str:
        cfg = self._config_or_none()
        if cfg is None:
            return ""
        from app.run.process_run import command_text

        return command_text(cfg.with_changes(device="auto" if cfg.device.startswith("cuda") else cfg.device),
                            max(self.processes_spin.value(), 2))
