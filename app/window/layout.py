"""The main window's widgets and their places: settings and run controls on the left, plots and predictions on the right, menus."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.panels.appendix import AppendixTabs
from app.panels.config_layout import make_button
from app.panels.config_panel import ConfigPanel
from app.panels.layers import LayersPanel
from app.panels.predictions import PredictionsPanel
from app.panels.runs import RunsPanel
from app.panels.units import UnitsPanel
from app.panels.widgets import reserve_lines
from app.plots.accuracy import AccuracyPlot
from app.plots.curve_controls import CurveControls
from app.plots.data_plot import DataPlot
from app.plots.loss import LossPlot
from app.window.run_status import RunStatus

MAX_PROCESSES = 16


@dataclass
class Actions:
    new: QAction
    open: QAction
    save: QAction
    save_as: QAction
    export: QAction
    quit: QAction
    about: QAction
    recent_menu: QMenu


class Ui:
    """The window's widgets, made by build(): each part of the window takes the ones it shows."""

    splitters: dict[str, QSplitter]


# The widgets the window offers as its own attributes (tests and the automation contract use them).
PUBLIC = ("config_panel", "config_scroll", "train_button", "pause_button", "stop_button", "reset_button", "status_label",
          "processes_spin", "copy_command_button", "command_label", "loss_plot", "accuracy_plot", "data_plot", "predictions",
          "curve_controls", "runs_panel", "view_tabs_top", "view_tabs_bottom", "view_tabs", "appendix", "units_panel",
          "layers_panel", "run_status")


def build(window: QMainWindow, config_panel: ConfigPanel, torch_later: bool) -> Ui:
    """Lay the window out: its central widget and status bar; returns the widgets (buttons, status, plots,
    predictions, run status)."""
    w = Ui()
    w.config_panel = config_panel
    scroll = QScrollArea()
    scroll.setObjectName("configScroll")
    scroll.setWidgetResizable(True)
    scroll.setWidget(config_panel)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    # Wide enough for the widest form row plus a vertical scroll bar (which appears when options are many).
    bar_width = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(max(config_panel.sizeHint().width(), 320) + bar_width + 2 * scroll.frameWidth() + 6)
    w.config_scroll = scroll

    w.train_button = make_button("trainButton", "Train", "Train", "Train the model with these settings (Ctrl+Return).")
    w.train_button.setShortcut(QKeySequence("Ctrl+Return"))
    w.train_button.setDefault(True)
    w.train_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 12px; }")
    w.pause_button = make_button("pauseButton", "Pause", "Pause or resume",
                            "Pause training between two batches; press again to resume.")
    w.stop_button = make_button("stopButton", "Stop", "Stop",
                           "Stop after the current batch. The weights trained so far are kept: you can "
                           "save them or continue training later.")
    w.reset_button = make_button("resetButton", "Reset", "Reset weights",
                            "Forget the trained weights and curves. The next Train builds fresh weights "
                            "from the seed, so the same settings give the same curve again.")
    buttons = QGridLayout()
    buttons.addWidget(w.train_button, 0, 0, 1, 2)
    buttons.addWidget(w.pause_button, 1, 0)
    buttons.addWidget(w.stop_button, 1, 1)
    buttons.addWidget(w.reset_button, 2, 0, 1, 2)

    status = w.status_label = QLabel()
    status.setObjectName("statusLabel")
    status.setAccessibleName("Status")
    status.setToolTip("What is happening now.")
    status.setWordWrap(True)
    status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    status.setStyleSheet("QLabel { background: #f3f6fa; border: 1px solid #d0d7de; padding: 4px; }")
    reserve_lines(status, 3)

    # Processes: 1 trains in the window's worker thread; N > 1 runs torchrun with DDP (core.distributed).
    w.processes_spin = QSpinBox()
    w.processes_spin.setObjectName("processesSpin")
    w.processes_spin.setAccessibleName("Processes")
    w.processes_spin.setRange(1, MAX_PROCESSES)
    w.processes_spin.setToolTip(
        "1 trains in this window's worker thread. N > 1 runs the same settings as torchrun with N processes "
        "(DistributedDataParallel: gloo on the CPU, one GPU per process with nccl), a fresh model from the seed; "
        "the live curve is the loss averaged over the processes. On a few CPU cores one process is faster.")
    w.copy_command_button = make_button("copyCommandButton", "Copy command", "Copy the torchrun command",
                                   "Copy the torchrun command that runs these settings, to run it on a bigger machine.")
    w.command_label = QLabel("")
    w.command_label.setObjectName("torchrunCommandLabel")
    w.command_label.setAccessibleName("torchrun command")
    w.command_label.setWordWrap(True)
    w.command_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    w.command_label.setStyleSheet("QLabel { font-family: monospace; color: #404040; }")
    w.command_label.hide()
    processes = QHBoxLayout()
    processes.addWidget(QLabel("Processes"))
    processes.addWidget(w.processes_spin)
    processes.addStretch(1)
    processes.addWidget(w.copy_command_button)

    left = QWidget()
    left.setObjectName("leftPanel")
    lv = QVBoxLayout(left)
    lv.setContentsMargins(6, 6, 6, 6)
    lv.addWidget(scroll, 1)
    lv.addLayout(processes)
    lv.addWidget(w.command_label)
    lv.addLayout(buttons)
    lv.addWidget(status)

    w.loss_plot = LossPlot()
    w.accuracy_plot = AccuracyPlot()
    w.data_plot = DataPlot()
    w.predictions = PredictionsPanel()

    w.curve_controls = CurveControls()
    w.runs_panel = RunsPanel()
    loss_box = QWidget()
    loss_box.setObjectName("lossBox")
    lb = QVBoxLayout(loss_box)
    lb.setContentsMargins(0, 0, 0, 0)
    lb.setSpacing(0)
    lb.addWidget(w.curve_controls)
    lb.addWidget(w.loss_plot, 1)
    # Views of the model's input plane and insides share the top right; the predictions and the runs
    # the bottom right. A view in a hidden tab costs nothing while a run trains.
    w.view_tabs_top = QTabWidget()
    w.view_tabs_top.setObjectName("insightTabs")
    w.view_tabs_top.setAccessibleName("Data and insight views")
    w.view_tabs_top.addTab(w.data_plot, "Data")
    w.view_tabs_top.setTabToolTip(0, "The data and the model's decision regions.")
    w.units_panel = UnitsPanel()
    w.layers_panel = LayersPanel()
    w.view_tabs_top.addTab(w.units_panel, "Units")
    w.view_tabs_top.setTabToolTip(1, "What each hidden unit learned: its output over the input plane (2-D data).")
    w.view_tabs_top.addTab(w.layers_panel, "Layers")
    w.view_tabs_top.setTabToolTip(2, "Inside the layers: weight and gradient norms and dead ReLU units, per epoch.")
    w.view_tabs_bottom = QTabWidget()
    w.view_tabs_bottom.setObjectName("resultTabs")
    w.view_tabs_bottom.setAccessibleName("Predictions and runs")
    w.view_tabs_bottom.addTab(w.predictions, "Predictions")
    w.view_tabs_bottom.addTab(w.runs_panel, "Runs (0)")
    w.view_tabs_bottom.setTabToolTip(1, "Every run kept side by side: show, hide, rename, remove, restore its settings.")

    top = QSplitter(Qt.Orientation.Horizontal)
    top.addWidget(loss_box)
    top.addWidget(w.view_tabs_top)
    top.setStretchFactor(0, 3)
    top.setStretchFactor(1, 2)
    bottom = QSplitter(Qt.Orientation.Horizontal)
    bottom.addWidget(w.accuracy_plot)
    bottom.addWidget(w.view_tabs_bottom)
    bottom.setStretchFactor(0, 2)
    bottom.setStretchFactor(1, 3)
    right = QSplitter(Qt.Orientation.Vertical)
    right.addWidget(top)
    right.addWidget(bottom)
    right.setStretchFactor(0, 3)
    right.setStretchFactor(1, 2)

    # The training view, and beside it the half of Appendix A a run does not show (autograd, the
    # DataLoader's batches, the model, the code itself).
    w.view_tabs = QTabWidget()
    w.view_tabs.setObjectName("viewTabs")
    w.view_tabs.setAccessibleName("Views")
    w.view_tabs.addTab(right, "Training")
    w.view_tabs.setTabToolTip(0, "The live loss, the accuracy, the data with the decision regions, and the predictions.")
    w.appendix = AppendixTabs(torch_later=torch_later)
    w.view_tabs.addTab(w.appendix, "Appendix A: autograd, batches, model, code")
    w.view_tabs.setTabToolTip(1, "What the run does inside: autograd's gradients, the DataLoader's batches, "
                                 "the model's layers and the plain PyTorch script for these settings.")

    main = QSplitter(Qt.Orientation.Horizontal)
    main.setObjectName("mainSplitter")
    main.addWidget(left)
    main.addWidget(w.view_tabs)
    main.setStretchFactor(0, 0)
    main.setStretchFactor(1, 1)
    main.setCollapsible(0, False)
    window.setCentralWidget(main)
    # Starting sizes for 1280x800: the loss plot widest, the predictions table wide enough for its columns.
    main.setSizes([360, 920])
    right.setSizes([450, 300])
    top.setSizes([560, 380])
    bottom.setSizes([400, 540])
    w.run_status = RunStatus(window.statusBar())
    w.splitters = {"main": main, "right": right, "top": top, "bottom": bottom}
    return w


def build_menus(window: QMainWindow, slots) -> Actions:
    """The File and Help menus; `slots` has on_new, on_open, on_save, on_save_as, on_export, close, show_about
    (the window gives its file actions' and its own)."""
    file_menu = window.menuBar().addMenu("&File")
    file_menu.setObjectName("fileMenu")

    def action(name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, window)
        a.setObjectName(name)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip)
        a.setToolTip(tip)
        a.triggered.connect(slot)
        return a

    actions = Actions(
        new=action("actionNew", "&New", slots.on_new, QKeySequence.StandardKey.New,
                   "Start over with the book's settings and no model."),
        open=action("actionOpen", "&Open Model…", slots.on_open, "Ctrl+O",
                    "Open a .pt/.pth file: this app's model files or a bare state_dict."),
        save=action("actionSave", "&Save Model", slots.on_save, "Ctrl+S",
                    "Save the model with its settings, curves and optimizer state."),
        save_as=action("actionSaveAs", "Save Model &As…", slots.on_save_as, "Ctrl+Shift+S", "Save the model to a new file."),
        export=action("actionExportWeights", "&Export Weights…", slots.on_export,
                      tip="Write only the state_dict, exactly what the book's torch.save(model.state_dict(), 'model.pth') writes."),
        quit=action("actionQuit", "&Quit", slots.close, QKeySequence.StandardKey.Quit, "Close the app."),
        about=action("actionAbout", "&About Torch Playground", slots.show_about, tip="Versions and the devices this machine has."),
        recent_menu=QMenu("Recent &Models", window),
    )
    actions.recent_menu.setObjectName("recentMenu")
    file_menu.addAction(actions.new)
    file_menu.addAction(actions.open)
    file_menu.addMenu(actions.recent_menu)
    file_menu.addSeparator()
    for a in (actions.save, actions.save_as, actions.export):
        file_menu.addAction(a)
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    help_menu = window.menuBar().addMenu("&Help")
    help_menu.setObjectName("helpMenu")
    help_menu.addAction(actions.about)
    return actions
