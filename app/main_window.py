"""The main window: settings on the left, live plots and predictions on the right, run controls, files, settings."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.about import APP_NAME, about_text
from app.config_panel import ConfigPanel
from app.controller import Drained, TrainingController, decision_regions
from app.plots import AccuracyPlot, DataPlot, LossPlot
from app.predictions import PredictionsPanel
from app.session import (
    FileWeights,
    fits_data,
    parse_feature_row,
    predict_rows,
    predict_test_split,
    same_model_shape,
    softmax,
)
from app.widgets import release_width, reserve_lines, set_steady_text
from core.config import GENERATED_DATASETS, ConfigError, TrainConfig, batches_per_epoch
from core.devices import DeviceInfo, list_devices
from core.errors import ArchitectureError, DataError, DeviceError, TrainingError
from core.events import TrainResult, TrainStart
from core.history import History

if TYPE_CHECKING:
    from core.training import Trainer

# torch, and the engine modules that need it (core.training, core.checkpoint, core.data), are imported
# where used: with `torch_later`, the window is built and shown before torch has loaded.

SETTINGS_ENV = "TORCH_PLAYGROUND_SETTINGS"  # an .ini path; tests and portable installs point it elsewhere
MAX_RECENT = 8
MODEL_FILTER = "PyTorch model files (*.pt *.pth);;All files (*)"
MODEL_SUFFIXES = (".pt", ".pth")
# Errors that come from what the user chose (settings, data, device, file), shown without a traceback.
USER_ERRORS = (ConfigError, DataError, DeviceError, TrainingError, ArchitectureError, ValueError, OSError)

# Generating more points than this for a preview would make the settings feel sluggish.
PREVIEW_MAX_SAMPLES = 200_000
IDLE_PROGRESS = "no run yet"
IDLE_TEXT = "Idle: press Train to run the book's example, or change the settings first."


def make_settings(settings: QSettings | str | os.PathLike | None = None) -> QSettings:
    """The QSettings to use: the given one, an .ini path, $TORCH_PLAYGROUND_SETTINGS, or the user's."""
    if isinstance(settings, QSettings):
        return settings
    path = settings if settings is not None else os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(os.fspath(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "torch-playground", "torch-playground")


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class _Run:
    """What the window tracks about the run in progress."""

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


class MainWindow(QMainWindow):
    """Torch Playground's window; its defaults are the book's run, ready to train.

    Parameters
    ----------
    settings : a QSettings, an .ini path, or None for $TORCH_PLAYGROUND_SETTINGS / the user's settings.
    devices : the devices to offer (a list of DeviceInfo or a function returning one); None asks torch.
    restore_session : restore the last window geometry and settings (the app does; tests start clean).
    torch_later : build the window without torch, to show it sooner (the app does): the device list
        offers cpu and the data preview waits until `torch_ready()` is called, once torch has loaded.

    Hooks tests may replace: `confirm_discard(question) -> bool` (asked before a trained, unsaved
    model is dropped) and `_show_message(icon, title, text)` (the message box).
    """

    def __init__(
        self,
        settings: QSettings | str | os.PathLike | None = None,
        devices: Sequence[DeviceInfo] | Callable[[], Sequence[DeviceInfo]] | None = None,
        restore_session: bool = False,
        parent: QWidget | None = None,
        torch_later: bool = False,
    ):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = make_settings(settings)
        self._devices_arg = devices
        self._torch_ready = not torch_later
        self._pending_device: str | None = None  # a restored device choice the early device list lacks
        self._painted = False
        self._after_paint: list[Callable[[], None]] = []
        self._preview_split: tuple | None = None  # (DatasetConfig, training samples) of the data preview
        self.installEventFilter(self)
        self.confirm_discard: Callable[[str], bool] = self._ask_discard
        self.last_message: tuple[str, str] | None = None  # (title, text) of the last message box
        self._message_box: QMessageBox | None = None

        self._trainer: Trainer | None = None  # the current model, bound to its data
        self._weights: FileWeights | None = None  # weights from a file that do not fit the data (yet)
        self._model_path: str | None = None
        self._dirty = False  # trained since it was last saved or opened
        self._run: _Run | None = None
        self._last_result: TrainResult | None = None
        self._closing = False

        self.controller = TrainingController(self)
        self.controller.progress.connect(self._on_progress)
        self.controller.failed.connect(self._on_failed)
        self.controller.runFinished.connect(self._on_run_finished)

        self._build_ui()
        self._build_menus()
        # Show the chosen data before any training, a moment after the settings stop changing.
        self._preview_key = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(200)
        self._preview_timer.timeout.connect(self._preview_data)
        self.config_panel.changed.connect(self._preview_timer.start)
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        if restore_session:
            self._restore_session()
        self._update_controls()
        self._update_title()
        self._set_status(IDLE_TEXT)
        self.device_label.setText(f"Device: {self.config_panel.device_combo.currentData()}")
        if self._torch_ready:
            self._preview_data()
        else:
            self.data_plot.show_message("loading PyTorch…")

    def is_torch_ready(self) -> bool:
        return self._torch_ready

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """Call `callback` in the event loop once the window has been painted (at once if it has)."""
        if self._painted:
            QTimer.singleShot(0, callback)
        else:
            self._after_paint.append(callback)

    def is_painted(self) -> bool:
        return self._painted

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self and event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            self.removeEventFilter(self)
            # After this paint has finished: the callbacks run in a later turn of the event loop.
            for callback in self._after_paint:
                QTimer.singleShot(0, callback)
            self._after_paint.clear()
        return False

    def torch_ready(self, devices: Sequence[DeviceInfo] | None = None) -> None:
        """torch has loaded (`torch_later`): offer the real devices and show the data preview."""
        if self._torch_ready:
            return
        self._torch_ready = True
        if devices is None:
            devices = self._devices_arg() if callable(self._devices_arg) else self._devices_arg
        self.config_panel.set_devices(devices if devices is not None else list_devices(), prefer=self._pending_device)
        self._pending_device = None
        if not self.controller.is_running():
            self.device_label.setText(f"Device: {self.config_panel.device_combo.currentData()}")
        if self.data_plot.message.toPlainText() == "loading PyTorch…":
            self.data_plot.show_message("")
        self._preview_key = None
        self._preview_data()

    # --- building ---------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        devices = self._devices_arg
        if not self._torch_ready and devices is None:
            # The real list needs torch: cpu until torch_ready() brings the rest.
            devices = [DeviceInfo("cpu", "cpu", True)]
        self.config_panel = ConfigPanel(devices)
        self.config_panel.changed.connect(self._update_controls)

        scroll = QScrollArea()
        scroll.setObjectName("configScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.config_panel)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the widest form row plus a vertical scroll bar (which appears when options are many).
        bar_width = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(self.config_panel.sizeHint().width(), 320) + bar_width + 2 * scroll.frameWidth() + 6)

        self.train_button = self._button("trainButton", "Train", "Train",
                                         "Train the model with these settings (Ctrl+Return).")
        self.train_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.train_button.setDefault(True)
        self.pause_button = self._button("pauseButton", "Pause", "Pause or resume",
                                         "Pause training between two batches; press again to resume.")
        self.stop_button = self._button("stopButton", "Stop", "Stop",
                                        "Stop after the current batch. The weights trained so far are kept: you can "
                                        "save them or continue training later.")
        self.reset_button = self._button("resetButton", "Reset", "Reset weights",
                                         "Forget the trained weights and curves. The next Train builds fresh weights "
                                         "from the seed, so the same settings give the same curve again.")
        self.train_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(lambda: self.set_paused(not self.controller.is_paused()))
        self.stop_button.clicked.connect(self.stop_training)
        self.reset_button.clicked.connect(self.reset_model)
        self.train_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 12px; }")

        buttons = QGridLayout()
        buttons.addWidget(self.train_button, 0, 0, 1, 2)
        buttons.addWidget(self.pause_button, 1, 0)
        buttons.addWidget(self.stop_button, 1, 1)
        buttons.addWidget(self.reset_button, 2, 0, 1, 2)

        self.status_label = QLabel()
        self.status_label.setObjectName("statusLabel")
        self.status_label.setAccessibleName("Status")
        self.status_label.setToolTip("What is happening now.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.status_label.setStyleSheet("QLabel { background: #f3f6fa; border: 1px solid #d0d7de; padding: 4px; }")
        reserve_lines(self.status_label, 3)

        left = QWidget()
        left.setObjectName("leftPanel")
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        lv.addWidget(scroll, 1)
        lv.addLayout(buttons)
        lv.addWidget(self.status_label)

        self.loss_plot = LossPlot()
        self.accuracy_plot = AccuracyPlot()
        self.data_plot = DataPlot()
        self.predictions = PredictionsPanel()
        self.predictions.predictRequested.connect(self._predict_typed)
        self.predictions.evaluateRequested.connect(self.evaluate)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.loss_plot)
        top.addWidget(self.data_plot)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.accuracy_plot)
        bottom.addWidget(self.predictions)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 3)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(bottom)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.setObjectName("mainSplitter")
        main.addWidget(left)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setCollapsible(0, False)
        self.setCentralWidget(main)
        # Starting sizes for 1280x800: the loss plot widest, the predictions table wide enough for its columns.
        main.setSizes([360, 920])
        right.setSizes([450, 300])
        top.setSizes([560, 380])
        bottom.setSizes([400, 540])
        self._splitters = {"main": main, "right": right, "top": top, "bottom": bottom}

        bar = self.statusBar()
        self.device_label = self._status_field("deviceLabel", "Device", "The device this run trains on.")
        self.epoch_label = self._status_field("epochLabel", "Epoch and batch",
                                              "Epoch and batch of the run (batches per epoch after the slash).")
        self.speed_label = self._status_field("speedLabel", "Speed", "Training samples processed per second.")
        self.time_label = self._status_field("timeLabel", "Time", "Time spent training, and an estimate of what is left.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setAccessibleName("Run progress")
        self.progress_bar.setToolTip("Batches done out of the batches this run will train.")
        self.progress_bar.setFormat(IDLE_PROGRESS)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setMinimumWidth(220)
        for w in (self.device_label, self.epoch_label, self.speed_label, self.time_label):
            bar.addWidget(w)
        bar.addPermanentWidget(self.progress_bar)

    def _button(self, name: str, text: str, accessible: str, tooltip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setAccessibleName(accessible)
        b.setToolTip(tooltip)
        return b

    def _status_field(self, name: str, accessible: str, tooltip: str) -> QLabel:
        label = QLabel("")
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setToolTip(tooltip)
        label.setContentsMargins(6, 0, 6, 0)
        return label

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.setObjectName("fileMenu")

        def action(name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
            a = QAction(text, self)
            a.setObjectName(name)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.setToolTip(tip)
            a.triggered.connect(slot)
            return a

        self.new_action = action("actionNew", "&New", self._on_new, QKeySequence.StandardKey.New,
                                 "Start over with the book's settings and no model.")
        self.open_action = action("actionOpen", "&Open Model…", self._on_open, "Ctrl+O",
                                  "Open a .pt/.pth file: this app's model files or a bare state_dict.")
        self.save_action = action("actionSave", "&Save Model", self._on_save, "Ctrl+S",
                                  "Save the model with its settings, curves and optimizer state.")
        self.save_as_action = action("actionSaveAs", "Save Model &As…", self._on_save_as, "Ctrl+Shift+S",
                                     "Save the model to a new file.")
        self.export_action = action("actionExportWeights", "&Export Weights…", self._on_export,
                                    tip="Write only the state_dict, exactly what the book's "
                                        "torch.save(model.state_dict(), 'model.pth') writes.")
        self.quit_action = action("actionQuit", "&Quit", self.close, QKeySequence.StandardKey.Quit, "Close the app.")
        self.recent_menu = QMenu("Recent &Models", self)
        self.recent_menu.setObjectName("recentMenu")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        self.about_action = action("actionAbout", "&About Torch Playground", self.show_about,
                                   tip="Versions and the devices this machine has.")
        help_menu.addAction(self.about_action)
        self._rebuild_recent_menu()

    # --- public API -------------------------------------------------------------------------------

    @property
    def trainer(self) -> Trainer | None:
        """The current model's trainer (None when there is none or it is running)."""
        return self._trainer

    def is_training(self) -> bool:
        return self.controller.is_running()

    def is_dirty(self) -> bool:
        """A trained model that has not been saved since."""
        return self._dirty

    def has_model(self) -> bool:
        return self._trainer is not None or self._weights is not None

    def model_path(self) -> str | None:
        return self._model_path

    def batch_losses(self) -> np.ndarray:
        """Every batch loss the loss plot holds (all of them, never downsampled)."""
        return self.loss_plot.batch_losses()

    def status_text(self) -> str:
        return self.status_label.text()

    def train_mode(self) -> str:
        """What Train does now: 'new' (a fresh model from the seed), 'continue' or 'from-file' (go on from weights)."""
        try:
            cfg = self.config_panel.config()
        except ConfigError:
            return "new"
        return self._mode_for(cfg)

    def _mode_for(self, cfg: TrainConfig) -> str:
        if self._trainer is not None and same_model_shape(self._trainer.cfg, cfg):
            return "continue"
        if self._weights is not None and tuple(self._weights.architecture.hidden_sizes) == tuple(cfg.hidden_sizes):
            return "from-file"
        return "new"

    def start_training(self) -> bool:
        """What the Train button does; False (with the reason shown) when the run cannot start."""
        if self.controller.is_running():
            return False
        try:
            cfg = self.config_panel.config()
        except ConfigError as exc:
            self._refuse("Cannot train", f"Cannot train: {exc}")
            return False
        mode = self._mode_for(cfg)
        prev, weights = self._trainer, self._weights
        if mode == "continue":
            def make(callbacks):
                return prev.continue_with(cfg, callbacks)
            steps_before = prev.steps
        elif mode == "from-file":
            def make(callbacks):
                from core import training

                history = History.from_dict(weights.history)
                return training.Trainer(cfg, callbacks, initial_state=weights.state_dict,
                                        optimizer_state=weights.optimizer_state, history=history, threads=1)
            steps_before = len(History.from_dict(weights.history).batch_loss)
        else:
            def make(callbacks):
                from core import training  # looked up at call time, so a test can swap core.training.Trainer

                return training.Trainer(cfg, callbacks, threads=1)
            steps_before = 0
            self._clear_views(keep_data=True)
        self._run = _Run(mode=mode, cfg=cfg, steps_before=steps_before)
        self._lay_out_run(mode, cfg, steps_before)
        self._last_result = None
        self.progress_bar.setRange(0, 0)  # busy until the trainer says how many batches
        self.progress_bar.setFormat("%v / %m batches")
        self.predictions.clear("Training… the predictions on the test split appear when the run ends or is stopped.")
        self.speed_label.setText("")
        self.time_label.setText("")
        self._set_status("Loading the data and building the model…" if mode != "continue" else "Continuing…")
        self.controller.start(cfg, make, regions=True)
        self._update_controls()
        return True

    def _lay_out_run(self, mode: str, cfg: TrainConfig, steps_before: int) -> None:
        """Set the plots' axes for the run now, when the number of batches is already known (the data
        on screen, or the model that continues): laid out in this turn, with the clearing, rather than
        again when the run's first events arrive (its start sets the same ranges, which then move nothing)."""
        if mode == "continue":
            n_train, first_epoch = self._trainer.data.X_train.shape[0], self._trainer.epochs_completed + 1
        elif mode == "new" and self._preview_split is not None and self._preview_split[0] == cfg.dataset:
            n_train, first_epoch = self._preview_split[1], 1
        else:
            return
        per_epoch = batches_per_epoch(n_train, cfg.batch_size, cfg.drop_last)
        if per_epoch > 0:
            self.loss_plot.begin_run(steps_before + 1, per_epoch * cfg.epochs)
            self.accuracy_plot.begin_run(first_epoch - 1 + cfg.epochs)

    def stop_training(self) -> None:
        if self.controller.is_running():
            self.controller.stop()
            self._set_status("Stopping after the current batch…")

    def set_paused(self, paused: bool) -> None:
        if not self.controller.is_running():
            return
        self.controller.set_paused(paused)
        run = self._run
        where = f" at epoch {run.epoch}, batch {run.batch}/{run.batches_per_epoch}" if run and run.epoch else ""
        self._set_status(f"Paused{where}: press Resume to go on." if paused else self._progress_text())
        self._update_controls()

    def reset_model(self) -> None:
        """Forget the weights and curves; the next Train starts fresh weights from the seed."""
        if self.controller.is_running():
            return
        self._drop_model()
        self._set_status("Reset: the next Train builds fresh weights from the seed, so the same settings give the same curve.")

    def load_model(self, path: str | os.PathLike) -> bool:
        """Open a model file; False (nothing raised, state unchanged, reason shown) when it is refused."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if self.controller.is_running():
            self._refuse("Cannot open", f"Cannot open {name}: stop the training first.")
            return False
        from core.checkpoint import ModelFileError, load_model_file

        try:
            loaded = load_model_file(path)
        except ModelFileError as exc:
            self._refuse("Cannot open model", _sentence(exc, f"Cannot open {path}"))
            return False
        except Exception as exc:  # noqa: BLE001 - a file must never crash the app
            self._refuse("Cannot open model", f"Cannot open {name}: {type(exc).__name__}: {exc}")
            return False
        arch = loaded.architecture
        notes = list(getattr(loaded, "warnings", []) or [])
        cfg = None
        if loaded.config:
            try:
                cfg = TrainConfig.from_dict(dict(loaded.config))
            except (ConfigError, TypeError) as exc:
                notes.append(f"its settings were not usable ({exc}), so the current ones are kept")
        if cfg is None:
            cfg = self._config_or_default()
        if tuple(cfg.hidden_sizes) != tuple(arch.hidden_sizes) or (loaded.activation and cfg.activation != loaded.activation):
            cfg = cfg.with_changes(hidden_sizes=tuple(arch.hidden_sizes), activation=loaded.activation or cfg.activation)
        try:
            history = History.from_dict(loaded.history)
        except (TypeError, ValueError) as exc:
            history = History()
            notes.append(f"its training curves were not readable ({exc})")

        # From here on the file is accepted: apply it.
        notes += self.config_panel.set_config(cfg)
        try:
            cfg = self.config_panel.config()
        except ConfigError:
            pass
        weights = FileWeights(
            path=path,
            state_dict=loaded.state_dict,
            architecture=arch,
            activation=loaded.activation or cfg.activation,
            optimizer_state=loaded.optimizer_state,
            history=history.to_dict(),
            standardizer=loaded.standardizer,
            class_names=tuple(loaded.class_names) if loaded.class_names else None,
            feature_names=tuple(loaded.feature_names) if loaded.feature_names else None,
            config=cfg,
        )
        trainer, reason = self._bind(weights, cfg)
        self._trainer = trainer
        self._weights = None if trainer is not None else weights
        self._model_path = path
        self._dirty = False
        self._last_result = None
        self._show_model_views()
        self._add_recent(path)
        self._update_title()
        self._update_controls()
        kind = "this app's model file" if loaded.config else f"{loaded.format} weights"
        text = (f"Opened {name} ({kind}): {arch.inputs} inputs, hidden sizes {list(arch.hidden_sizes)}, "
                f"{arch.outputs} outputs, {arch.parameters:,} parameters, {len(history.batch_loss)} batches trained.")
        if reason:
            text += f" It cannot be evaluated or trained on the current data: {reason}."
        if notes:
            text += " Note: " + "; ".join(notes) + "."
        self._set_status(text)
        return True

    def save_model(self, path: str | os.PathLike) -> bool:
        """Save the current model (weights, settings, curves, optimizer state); False with the reason shown."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if self.controller.is_running():
            self._refuse("Cannot save", f"Cannot save {name}: stop the training first.")
            return False
        if not self.has_model():
            self._refuse("Nothing to save", "There is no model to save yet: train one or open a model file first.")
            return False
        if self._trainer is not None:
            t = self._trainer
            kwargs = dict(
                model_state=t.state_dict_cpu(),
                config=t.cfg.to_dict(),
                history=t.history.to_dict(),
                optimizer_state=t.optimizer.state_dict(),
                standardizer=t.data.standardizer.to_dict() if t.data.standardizer is not None else None,
                class_names=list(t.data.class_names),
                feature_names=list(t.data.feature_names),
            )
        else:
            w = self._weights
            kwargs = dict(
                model_state=w.state_dict,
                config=w.config.to_dict(),
                history=w.history,
                optimizer_state=w.optimizer_state,
                standardizer=w.standardizer,
                class_names=list(w.class_names) if w.class_names else None,
                feature_names=list(w.feature_names) if w.feature_names else None,
            )
        from core.checkpoint import save_model_file

        try:
            save_model_file(path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a failed save must be reported, not crash
            self._refuse("Cannot save", _sentence(exc, f"Cannot save {path}"))
            return False
        self._model_path = path
        self._dirty = False
        self._add_recent(path)
        self._update_title()
        self._set_status(f"Saved the model to {path}.")
        return True

    def export_weights(self, path: str | os.PathLike) -> bool:
        """Write the bare state_dict (what the book's torch.save(model.state_dict(), path) writes)."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if self.controller.is_running():
            self._refuse("Cannot export", f"Cannot export {name}: stop the training first.")
            return False
        if not self.has_model():
            self._refuse("Nothing to export", "There are no weights to export yet: train a model first.")
            return False
        state = self._trainer.state_dict_cpu() if self._trainer is not None else self._weights.state_dict
        from core.checkpoint import export_state_dict

        try:
            export_state_dict(path, state)
        except Exception as exc:  # noqa: BLE001
            self._refuse("Cannot export", _sentence(exc, f"Cannot export to {path}"))
            return False
        self._set_status(f"Exported the weights (a bare state_dict) to {path}.")
        return True

    def evaluate(self) -> bool:
        """Bind weights opened from a file to the current data set (when their shapes fit) and predict."""
        if self._weights is None or self.controller.is_running():
            return self._trainer is not None
        try:
            cfg = self.config_panel.config()
        except ConfigError as exc:
            self._refuse("Cannot evaluate", f"Cannot evaluate: {exc}")
            return False
        trainer, reason = self._bind(self._weights, cfg)
        if trainer is None:
            self._refuse("Cannot evaluate", f"Cannot evaluate the model: {reason}.")
            return False
        self._trainer, self._weights = trainer, None
        self._show_model_views()
        self._update_controls()
        self._set_status("The model fits the current data: its predictions are in the table.")
        return True

    def new_session(self) -> bool:
        """File > New: the book's settings and no model (asks first when a trained model is unsaved)."""
        if self._dirty and not self.confirm_discard("Start a new session and drop the trained, unsaved model?"):
            return False
        self.controller.shutdown()
        self._drop_model()
        self.config_panel.set_config(TrainConfig())
        self._model_path = None
        self._update_title()
        self._set_status(IDLE_TEXT)
        return True

    def show_about(self) -> None:
        self._show_message(QMessageBox.Icon.Information, f"About {APP_NAME}", about_text(self.config_panel.devices()))

    # --- training events --------------------------------------------------------------------------

    @Slot(object)
    def _on_progress(self, d: Drained) -> None:
        run = self._run
        if run is None:
            return
        if d.start is not None:
            run.start = d.start
            self.progress_bar.setRange(0, max(d.start.total_steps, 1))
            self.progress_bar.setValue(0)
            self.device_label.setText(f"Device: {d.start.device}")
            self.loss_plot.begin_run(run.steps_before + 1, d.start.total_steps)
            self.accuracy_plot.begin_run(d.start.first_epoch - 1 + d.start.epochs)
            run.batches_per_epoch = d.start.batches_per_epoch
            trainer = self.controller.current_trainer()
            if trainer is not None:
                self._show_data(trainer)
        if len(d.losses):
            self.loss_plot.append_batches(d.steps, d.losses)
        if d.epochs:
            self.loss_plot.append_epochs(d.epochs)
            self.accuracy_plot.append_epochs(d.epochs)
        if d.regions is not None:
            r = d.regions
            self.data_plot.set_regions(r.predicted, r.confidence, r.x_range, r.y_range)
        if d.last_batch is not None:
            b = d.last_batch
            run.done += len(d.losses)
            run.samples += d.samples
            run.elapsed = b.elapsed
            run.epoch, run.batch, run.batches_per_epoch = b.epoch, b.batch, b.batches_per_epoch
            self.progress_bar.setValue(min(run.done, self.progress_bar.maximum()))
            self._update_run_fields()
            if not self.controller.is_paused():
                self._set_status(self._progress_text())

    def _epoch_total(self) -> int:
        run = self._run
        if run is None or run.start is None:
            return run.epoch if run else 0
        return run.start.first_epoch - 1 + run.start.epochs

    def _progress_text(self) -> str:
        run = self._run
        if run is None or not run.epoch:
            return "Starting…"
        return f"Epoch {run.epoch}/{self._epoch_total()}, batch {run.batch}/{run.batches_per_epoch}"

    def _update_run_fields(self) -> None:
        run = self._run
        if run is None:
            return
        set_steady_text(self.epoch_label, f"Epoch {run.epoch}/{self._epoch_total()} · batch {run.batch}/{run.batches_per_epoch}")
        speed = run.samples / run.elapsed if run.elapsed > 0 else 0.0
        set_steady_text(self.speed_label, f"{speed:,.0f} samples/s")
        total = run.start.total_steps if run.start else 0
        left = run.elapsed / run.done * (total - run.done) if run.done and total else 0.0
        set_steady_text(self.time_label, f"{format_duration(run.elapsed)} elapsed · {format_duration(left)} left")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._set_status(f"Error: {message}")
        self._show_error("Training failed", f"Training failed: {message}")

    @Slot(object)
    def _on_run_finished(self, result: TrainResult | None) -> None:
        run, self._run = self._run, None
        trainer = self.controller.trainer
        if self._closing:
            return
        progressed = trainer is not None and run is not None and trainer.steps > run.steps_before
        self.loss_plot.end_run()
        self.accuracy_plot.end_run()
        if result is not None or progressed:
            # A run that trained keeps its model, even one that failed part-way (its curve is on screen).
            self._trainer = trainer
            self._weights = None
            if progressed:
                self._dirty = True
            self._show_model_views(data=False)
        else:
            # Nothing trained (it failed before the first batch): show the model we still have, if any.
            self._show_model_views(data=run is not None and run.mode == "new")
        self._last_result = result
        if run is None or run.start is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setFormat(IDLE_PROGRESS)
        if result is not None:
            text = self._result_text(result, run)
            self._set_status(text)
            if result.status == "diverged":
                self._show_message(QMessageBox.Icon.Warning, "Training diverged", text)
        self._update_controls()
        self._update_title()

    def _result_text(self, result: TrainResult, run: _Run | None) -> str:
        bpe = run.batches_per_epoch if run else 0
        acc = ""
        last = result.last_epoch
        if last is not None:
            acc = f" Train accuracy {last.train_accuracy * 100:.1f}%"
            if last.test_accuracy is not None:
                acc += f", test accuracy {last.test_accuracy * 100:.1f}%"
            acc += "."
        speed = f"{result.samples_per_second:,.0f} samples/s"
        message = result.message[:1].upper() + result.message[1:]
        if result.status == "finished":
            return f"{message} ({bpe} batches per epoch, {result.steps} batches in all, {speed}).{acc}"
        if result.status == "stopped":
            return f"{message}.{acc}"
        if result.status == "diverged":
            return f"Diverged: {result.message}"
        return f"{result.status.capitalize()}: {result.message}"

    # --- views ------------------------------------------------------------------------------------

    def _clear_views(self, keep_data: bool = False) -> None:
        """Empty the views; `keep_data` (a new run starts) keeps the points and the plots' ranges, which
        the run's start sets (end_run gives the ranges back to the data, also after a failed start)."""
        self.loss_plot.clear_data(keep_range=keep_data)
        self.accuracy_plot.clear_data(keep_range=keep_data)
        if keep_data:
            self.data_plot.regions.clear()  # the points stay; the new model's regions replace these
        else:
            self.data_plot.clear_data()
        self.predictions.clear()

    def _show_data(self, trainer: Trainer) -> None:
        # The preview (or the last run) usually shows this very data already: redrawing thousands of
        # points would stall the window just as a run starts.
        if self.data_plot.shown_key != trainer.cfg.dataset:
            self._show_data_split(trainer.data, trainer.cfg.dataset)

    def _show_data_split(self, data, key=None) -> None:
        self.data_plot.set_data(
            data.X_train.numpy(), data.y_train.numpy(), data.X_test.numpy(), data.y_test.numpy(),
            tuple(data.feature_names), data.num_classes, data.standardizer is not None, key=key,
        )

    def _preview_data(self) -> None:
        """Without a model, the data plot shows the data set the settings describe (no decision regions)."""
        if self.controller.is_running() or self.has_model():
            self._preview_key = None
            return
        try:
            ds = self.config_panel.config().dataset
        except ConfigError:
            return
        if ds == self._preview_key:
            return
        self._preview_key = ds
        if ds.name in GENERATED_DATASETS and ds.samples > PREVIEW_MAX_SAMPLES:
            self.data_plot.show_message(f"{ds.samples:,} samples: shown once training starts")
            return
        from core.data import load_dataset

        self._preview_split = None
        try:
            data = load_dataset(ds)
        except (DataError, ConfigError, OSError, ValueError) as exc:
            self.data_plot.show_message("cannot load this data set")
            self.data_plot.setToolTip(str(exc))
            return
        self.data_plot.setToolTip(self.data_plot.DEFAULT_TOOLTIP)
        self._preview_split = (ds, int(data.X_train.shape[0]))  # what a run on this data will train on
        self._show_data_split(data, ds)

    def _show_model_views(self, data: bool = True) -> None:
        """Curves, data, regions and predictions of the current model (not during a run)."""
        t, w = self._trainer, self._weights
        if t is not None:
            if data:
                self.loss_plot.set_history(t.history)
                self.accuracy_plot.set_history(t.history)
                self._show_data(t)
            snap = decision_regions(t)
            if snap is not None:
                self.data_plot.set_regions(snap.predicted, snap.confidence, snap.x_range, snap.y_range)
            split = "test" if t.data.X_test.shape[0] else "training"
            self.predictions.set_predictions(predict_test_split(t), split=split)
        elif w is not None:
            history = History.from_dict(w.history)
            self.loss_plot.set_history(history)
            self.accuracy_plot.set_history(history)
            self.data_plot.show_message("the model does not fit the current data")
            self.predictions.clear(
                f"The model takes {w.architecture.inputs} features and gives {w.architecture.outputs} classes; "
                "choose a data set of that shape to evaluate it. You can still predict typed features below."
            )
        else:
            self._clear_views()
            self._preview_key = None
            self._preview_data()

    def _predict_typed(self, text: str) -> None:
        t, w = self._trainer, self._weights
        if self.controller.is_running():
            self.predictions.show_prediction("Stop or finish the training first.")
            return
        if t is None and w is None:
            self.predictions.show_prediction("No model yet: train one or open a model file.")
            return
        n_in = t.data.num_features if t is not None else w.architecture.inputs
        try:
            row = parse_feature_row(text, n_in)
            logits = predict_rows(row, trainer=t, weights=w)
        except (ValueError, RuntimeError) as exc:
            self.predictions.show_prediction(f"Cannot predict: {exc}")
            return
        probs = softmax(logits)[0]
        k = int(np.argmax(probs))
        names = t.data.class_names if t is not None else (w.class_names or ())
        cls = names[k] if k < len(names) else str(k)
        self.predictions.show_prediction(
            f"class {cls} (p = {probs[k]:.3f}); probabilities " + ", ".join(f"{p:.3f}" for p in probs)
        )

    # --- state helpers ----------------------------------------------------------------------------

    def _bind(self, weights: FileWeights, cfg: TrainConfig) -> tuple[Trainer | None, str | None]:
        """A trainer holding the file's weights on cfg's data, or (None, why not)."""
        from core.training import Trainer

        try:
            trainer = Trainer(cfg, threads=1, initial_state=None)
        except USER_ERRORS as exc:
            return None, str(exc)
        reason = fits_data(weights.architecture, trainer.data)
        if reason is not None:
            return None, reason
        try:
            trainer = Trainer(
                cfg, threads=1, data=trainer.data, initial_state=weights.state_dict,
                optimizer_state=weights.optimizer_state, history=History.from_dict(weights.history),
            )
        except Exception as exc:  # noqa: BLE001 - weights that will not load stay unbound, the app goes on
            return None, str(exc) or type(exc).__name__
        return trainer, None

    def _config_or_default(self) -> TrainConfig:
        try:
            return self.config_panel.config()
        except ConfigError:
            return TrainConfig()

    def _drop_model(self) -> None:
        self._trainer = None
        self._weights = None
        self._dirty = False
        self._last_result = None
        self._clear_views()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        for label in (self.epoch_label, self.speed_label, self.time_label):
            label.setText("")
            release_width(label)
        self.progress_bar.setFormat(IDLE_PROGRESS)
        self._update_controls()
        self._update_title()
        self._preview_key = None
        self._preview_data()

    def _update_controls(self) -> None:
        running = self.controller.is_running()
        self.config_panel.set_running(running)
        self.train_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.reset_button.setEnabled(not running and self.has_model())
        self.pause_button.setText("Resume" if running and self.controller.is_paused() else "Pause")
        for a in (self.new_action, self.open_action, self.save_action, self.save_as_action, self.export_action):
            a.setEnabled(not running)
        self.recent_menu.setEnabled(not running)
        self.predictions.evaluate_button.setEnabled(not running and self._weights is not None)
        if not running:
            self.save_action.setEnabled(self.has_model())
            self.save_as_action.setEnabled(self.has_model())
            self.export_action.setEnabled(self.has_model())
        mode = self.train_mode()
        if mode == "continue" or mode == "from-file":
            self.train_button.setText("Continue training")
            self.train_button.setToolTip(
                "Go on training the current model for the number of epochs set, from its weights and optimizer "
                "state (Ctrl+Return). Reset to start again from fresh weights."
            )
        elif self.has_model():
            self.train_button.setText("Train (new model)")
            self.train_button.setToolTip(
                "The data or the layers changed, so the current model cannot go on: Train builds a new model "
                "from the seed and drops the current one (Ctrl+Return)."
            )
        else:
            self.train_button.setText("Train")
            self.train_button.setToolTip("Train a new model with these settings, starting from the seed (Ctrl+Return).")
        if not running:
            self.device_label.setText(f"Device: {self.config_panel.device_combo.currentData()}")

    def _update_title(self) -> None:
        name = os.path.basename(self._model_path) if self._model_path else "untitled"
        self.setWindowTitle(f"{name}{'*' if self._dirty else ''} — {APP_NAME}")

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _refuse(self, title: str, text: str) -> None:
        self._set_status(text)
        self._show_error(title, text)

    def show_error(self, title: str, text: str) -> None:
        """An error message box, its text also in the status line."""
        self._set_status(f"Error: {text}")
        self._show_error(title, text)

    def _show_error(self, title: str, text: str) -> None:
        self._show_message(QMessageBox.Icon.Critical, title, text)

    def _show_message(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        """A non-blocking message box (open(), not exec()), so a test or a running plot never waits on it."""
        self.last_message = (title, text)
        box = self._message_box
        if box is None:
            box = QMessageBox(self)
            box.setObjectName("messageBox")
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            self._message_box = box
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.open()

    def _ask_discard(self, question: str) -> bool:
        # Without a screen (tests, CI) nobody could answer a modal question: carry on.
        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return True
        buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, APP_NAME, question, buttons, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    # --- files and menus --------------------------------------------------------------------------

    def _start_dir(self) -> str:
        if self._model_path:
            return os.path.dirname(self._model_path)
        recent = self.recent_files()
        return os.path.dirname(recent[0]) if recent else str(Path.home())

    def _on_new(self) -> None:
        self.new_session()

    def _on_open(self) -> None:
        if self._dirty and not self.confirm_discard("Open another model and drop the trained, unsaved one?"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._start_dir(), MODEL_FILTER)
        if path:
            self.load_model(path)

    def open_recent(self, path: str) -> bool:
        if self._dirty and not self.confirm_discard("Open another model and drop the trained, unsaved one?"):
            return False
        return self.load_model(path)

    def _on_save(self) -> None:
        if self._model_path and self.has_model():
            self.save_model(self._model_path)
        else:
            self._on_save_as()

    def _on_save_as(self) -> None:
        default = self._model_path or os.path.join(self._start_dir(), "model.pt")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", default, MODEL_FILTER)
        if path:
            if not path.lower().endswith(MODEL_SUFFIXES):
                path += ".pt"
            self.save_model(path)

    def _on_export(self) -> None:
        default = os.path.join(self._start_dir(), "model.pth")
        path, _ = QFileDialog.getSaveFileName(self, "Export weights (state_dict)", default, MODEL_FILTER)
        if path:
            self.export_weights(path)

    def recent_files(self) -> list[str]:
        raw = self.settings.value("recentFiles", "[]")
        try:
            files = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        except (json.JSONDecodeError, TypeError):
            files = []
        return [f for f in files if isinstance(f, str)][:MAX_RECENT]

    def _add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        files = [path] + [f for f in self.recent_files() if f != path]
        self.settings.setValue("recentFiles", json.dumps(files[:MAX_RECENT]))
        self.settings.sync()
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        files = self.recent_files()
        if not files:
            a = menu.addAction("(none yet)")
            a.setEnabled(False)
            return
        for i, f in enumerate(files):
            a = menu.addAction(f"&{i + 1} {os.path.basename(f)}")
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, p=f: self.open_recent(p))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _model_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _model_paths(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_recent(paths[0])

    # --- settings and closing ---------------------------------------------------------------------

    def _restore_session(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, (QByteArray, bytes)):
            self.restoreGeometry(geometry)
        text = self.settings.value("lastConfig")
        if isinstance(text, str) and text:
            try:
                cfg = TrainConfig.from_json(text)
            except (ConfigError, TypeError):
                return  # an old or hand-edited value: keep the book's defaults
            if not self._torch_ready and self.config_panel.device_combo.findData(cfg.device) < 0:
                self._pending_device = cfg.device  # chosen again once the real device list is known
            self.config_panel.set_config(cfg)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        try:
            self.settings.setValue("lastConfig", self.config_panel.config().to_json())
        except ConfigError:
            pass
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._dirty and not self._closing and not self.confirm_discard("Quit and drop the trained, unsaved model?"):
            event.ignore()
            return
        self._closing = True
        self.controller.shutdown()
        self.save_settings()
        if self._message_box is not None:
            self._message_box.close()
        event.accept()


def _sentence(exc: BaseException, prefix: str) -> str:
    """The engine's reasons already read "cannot open PATH: why"; add the prefix only where one does not."""
    reason = str(exc) or type(exc).__name__
    if reason.lower().startswith("cannot"):
        return reason[:1].upper() + reason[1:]
    return f"{prefix}: {reason}"


def _model_paths(urls: list[QUrl]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile().lower().endswith(MODEL_SUFFIXES)]
