"""The Batches panel: which training samples form each batch in epochs 1 to 3, coloured by class, and what drop_last leaves out."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyledItemDelegate, QTableView, QVBoxLayout, QWidget

from app.panels.appendix._common import INVALID_TEXT, WAITING_TEXT, DataInfo, DataSource, error_text, note_label, torch_loaded
from app.plots.colors import class_color
from app.run.tasks import TaskRunner
from core.config import TrainConfig
from core.memory import parameter_count

EPOCHS = 3  # the epochs shown: enough to see that each one reshuffles
MAX_BATCHES = 50  # batches listed per epoch; the rest are counted
MAX_CHIPS = 16  # samples drawn per batch; the rest are counted
# Plans up to this many indices (and models up to this many parameters) are drawn in the GUI thread.
INLINE_INDICES = 6_000
INLINE_PARAMETERS = 20_000
# batch_plan itself is used up to this many indices; beyond, core.batch_preview draws the same head.
PLAN_INDICES = 300_000
INDICES_ROLE = Qt.ItemDataRole.UserRole
CLASSES_ROLE = Qt.ItemDataRole.UserRole + 1
SIZE_ROLE = Qt.ItemDataRole.UserRole + 2
DROPPED_FILL = QColor("#e4e7eb")
DROPPED_TEXT = QColor("#7b8794")


@dataclass(frozen=True)
class ShownPlan:
    """What the grid shows: the head of the plan and the class of every sample in it."""

    preview: object  # core.batch_preview.BatchPreview
    classes: tuple[tuple[tuple[int, ...], ...], ...]  # classes[e][b][i]: the class of preview.epochs[e][b][i]
    dropped_classes: tuple[tuple[int, ...], ...]
    class_names: tuple[str, ...]


def shown_plan(cfg: TrainConfig, info: DataInfo, cancel: threading.Event | None = None) -> ShownPlan:
    """The first batches of the first EPOCHS epochs of a run of `cfg` on `info`'s data (Qt-free)."""
    from core.batch_preview import BatchPreview, batch_preview

    if info.split is not None and info.train_samples * EPOCHS <= PLAN_INDICES:
        from core.batches import batch_plan

        preview = BatchPreview.from_plan(batch_plan(cfg, EPOCHS, data=info.split), MAX_BATCHES, MAX_CHIPS)
    else:
        preview = batch_preview(cfg, info.train_samples, info.num_features, info.num_classes, EPOCHS,
                                max_batches=MAX_BATCHES, max_items=MAX_CHIPS)
    y = info.y_train
    classes = tuple(tuple(tuple(int(y[i]) for i in batch) for batch in epoch) for epoch in preview.epochs)
    dropped = tuple(tuple(int(y[i]) for i in d) for d in preview.dropped)
    return ShownPlan(preview, classes, dropped, info.class_names)


def text_color(rgb: tuple[int, ...]) -> QColor:
    """Black on light class colours, white on dark ones."""
    r, g, b = rgb[:3]
    return QColor("black") if 0.299 * r + 0.587 * g + 0.114 * b > 140 else QColor("white")


class BatchesModel(QAbstractTableModel):
    """Rows: batch 0, 1, ... and a last "dropped" row; columns: epochs. A cell holds one batch's sample indices."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plan: ShownPlan | None = None

    def set_plan(self, plan: ShownPlan | None) -> None:
        self.beginResetModel()
        self.plan = plan
        self.endResetModel()

    def shown_batches(self) -> int:
        return 0 if self.plan is None else len(self.plan.preview.batch_sizes)

    def has_dropped_row(self) -> bool:
        return self.plan is not None and self.plan.preview.dropped_count > 0

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self.shown_batches() + int(self.has_dropped_row())

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.plan is None else len(self.plan.preview.epochs)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole or self.plan is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return f"Epoch {section + 1}"
        return "dropped" if section >= self.shown_batches() else f"Batch {section}"

    def cell(self, row: int, column: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
        """The shown indices, their classes and the batch's real size."""
        p = self.plan
        if row < self.shown_batches():
            return p.preview.epochs[column][row], p.classes[column][row], p.preview.batch_sizes[row]
        return p.preview.dropped[column], p.dropped_classes[column], p.preview.dropped_count

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if self.plan is None or not index.isValid():
            return None
        indices, classes, size = self.cell(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            more = size - len(indices)
            return " ".join(map(str, indices)) + (f" …+{more:,}" if more else "")
        if role == INDICES_ROLE:
            return indices
        if role == CLASSES_ROLE:
            return classes
        if role == SIZE_ROLE:
            return size
        if role == Qt.ItemDataRole.ToolTipRole:
            dropped = index.row() >= self.shown_batches()
            what = "left out by drop_last" if dropped else f"batch {index.row()} of epoch {index.column() + 1}"
            names = self.plan.class_names
            lines = [f"{i} (class {names[c] if c < len(names) else c})" for i, c in zip(indices, classes, strict=True)]
            more = size - len(indices)
            return f"Samples {what}:\n" + ", ".join(lines) + (f"\n…and {more:,} more" if more else "")
        return None


class ChipDelegate(QStyledItemDelegate):
    """Draws a batch as a row of chips, one per sample, each in its class colour (grey when dropped)."""

    GAP = 3

    def chip_width(self, option_or_metrics, digits: int) -> int:
        fm = option_or_metrics
        return fm.horizontalAdvance("0" * max(digits, 1)) + 10

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        model: BatchesModel = index.model()
        indices, classes, size = model.cell(index.row(), index.column())
        dropped = index.row() >= model.shown_batches()
        fm = option.fontMetrics
        digits = len(str(max(model.plan.preview.train_samples - 1, 0)))
        w, h = self.chip_width(fm, digits), option.rect.height() - 6
        # As many chips as the column has room for; the rest are counted ("+12 more").
        room = option.rect.width() - 12
        fit = len(indices) if size == len(indices) and len(indices) * (w + self.GAP) <= room else max(
            0, (room - fm.horizontalAdvance(f"+{size:,} more") - 6) // (w + self.GAP))
        drawn = min(len(indices), fit)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        x, y = option.rect.left() + 6, option.rect.top() + 3
        for i, c in zip(indices[:drawn], classes[:drawn], strict=True):
            rgb = class_color(c)
            rect = QRect(x, y, w, h)
            if dropped:
                painter.setBrush(DROPPED_FILL)
                painter.setPen(QPen(QColor(*rgb[:3]), 1.5))
            else:
                painter.setBrush(QColor(*rgb[:3]))
                painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 4, 4)
            painter.setPen(DROPPED_TEXT if dropped else text_color(rgb))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(i))
            x += w + self.GAP
        more = size - drawn
        if more:
            painter.setPen(QColor("#52606d"))
            painter.drawText(QRect(x + 2, y, option.rect.right() - x, h), Qt.AlignmentFlag.AlignVCenter, f"+{more:,} more")
        if not indices and not more:
            painter.setPen(QColor("#52606d"))
            painter.drawText(option.rect.adjusted(6, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, "(none)")
        painter.restore()

    def sizeHint(self, option, index: QModelIndex) -> QSize:  # noqa: N802
        model: BatchesModel = index.model()
        indices, _, size = model.cell(index.row(), index.column())
        digits = len(str(max(model.plan.preview.train_samples - 1, 0)))
        w = self.chip_width(option.fontMetrics, digits)
        more = option.fontMetrics.horizontalAdvance(f"+{size - len(indices):,} more") + 8 if size > len(indices) else 0
        return QSize(12 + len(indices) * (w + self.GAP) + more, option.fontMetrics.height() + 12)


class _FittingTable(QTableView):
    """A table that tells its panel when its width changes, so the epochs can share it."""

    def __init__(self, on_resize):
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._on_resize()


class BatchesPanel(QWidget):
    """The DataLoader made visible for the current settings: batches of epochs 1-3 as `batch_plan` lists them."""

    def __init__(self, runner: TaskRunner | None = None, source: DataSource | None = None,
                 parent: QWidget | None = None, *, torch_ready: bool | None = None):
        super().__init__(parent)
        self.setObjectName("batchesPanel")
        self._own_runner = runner is None
        self.runner = runner if runner is not None else TaskRunner(self)
        self.source = source if source is not None else DataSource(self.runner)
        self._torch_ready = torch_loaded() if torch_ready is None else torch_ready
        self._cfg: TrainConfig | None = None
        self._shown_key: tuple | None = None
        self._working = False  # a plan for the current settings is on its way

        self.summary_label = note_label(name="batchesSummaryLabel", accessible="Batches summary")
        self.legend_label = note_label(name="batchesLegendLabel", accessible="Class colours")
        self.model = BatchesModel(self)
        self.table = _FittingTable(self._fit_columns)
        self.table.setObjectName("batchesTable")
        self.table.setAccessibleName("Batches of epochs 1 to 3")
        self.table.setToolTip(
            "Each row is one batch (the book's 0-based batch numbers), each column one epoch. Every chip is a "
            "training sample's index, coloured by its class. The grey row holds the samples drop_last leaves out."
        )
        self.table.setModel(self.model)
        self.table.setItemDelegate(ChipDelegate(self.table))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setShowGrid(True)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.note_label = note_label(name="batchesNoteLabel", accessible="What the batches show")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.legend_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note_label)
        self.set_config(None)

    # --- public API ----------------------------------------------------------------------------------

    def set_config(self, cfg: TrainConfig | None) -> None:
        """Show the batches of `cfg`'s run; None: the settings are not valid."""
        self._cfg = cfg
        if cfg is None:
            self._clear(INVALID_TEXT)
            return
        self.note_label.setText(self._notes(cfg))
        if not self._torch_ready:
            self._clear(WAITING_TEXT, notes=False)
            return
        key = self._key(cfg)
        if key == self._shown_key:
            self.runner.cancel("batches-plan")  # back to what is shown: nothing newer is wanted
            self.source.forget(self)
            return
        self._working = True
        self.source.request(cfg.dataset, self, lambda info: self._plan(cfg, info), self._failed)
        if self._working and self._cfg is cfg:  # still working: say so rather than show the old batches
            self._shown_key = None
            self.model.set_plan(None)
            self.summary_label.setText("Making the data…" if self.source.cached(cfg.dataset) is None
                                       else "Drawing the batches…")

    def set_torch_ready(self) -> None:
        if not self._torch_ready:
            self._torch_ready = True
            self.set_config(self._cfg)

    def plan(self) -> ShownPlan | None:
        """What the grid shows now (None while there is nothing to show)."""
        return self.model.plan

    def shutdown(self) -> None:
        if self._own_runner:
            self.runner.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    # --- work ----------------------------------------------------------------------------------------

    @staticmethod
    def _key(cfg: TrainConfig) -> tuple:
        # What the draws depend on (the activation has no parameters, so it draws nothing).
        return cfg.dataset, cfg.hidden_sizes, cfg.batch_size, cfg.shuffle, cfg.drop_last, cfg.seed

    def _plan(self, cfg: TrainConfig, info: DataInfo) -> None:
        if cfg is not self._cfg:
            return
        params = parameter_count(info.num_features, cfg.hidden_sizes, info.num_classes)
        inline = info.train_samples * EPOCHS <= INLINE_INDICES and params <= INLINE_PARAMETERS
        self.runner.submit(lambda cancel: shown_plan(cfg, info, cancel), kind="batches-plan",
                           label="Drawing the batches…", on_done=lambda plan: self._show(cfg, plan),
                           on_error=self._failed, inline=inline)

    def _failed(self, exc: BaseException) -> None:
        self._clear(f"The batches cannot be shown: {error_text(exc)}", notes=False)

    def _clear(self, message: str, notes: bool = True) -> None:
        self.runner.cancel("batches-plan")
        self.source.forget(self)
        self._working = False
        self._shown_key = None
        self.model.set_plan(None)
        self.summary_label.setText(message)
        self.legend_label.setText("")
        if notes:
            self.note_label.setText("")

    def _show(self, cfg: TrainConfig, plan: ShownPlan) -> None:
        if cfg is not self._cfg:
            return
        self._shown_key = self._key(cfg)
        self._working = False
        self.model.set_plan(plan)
        self.summary_label.setText(self._summary(cfg, plan))
        k = len(plan.class_names)
        shown = plan.class_names[:12]
        chips = " ".join(
            f"<span style='background-color:{QColor(*class_color(c)[:3]).name()}; "
            f"color:{text_color(class_color(c)).name()}'>&nbsp;{name}&nbsp;</span>" for c, name in enumerate(shown)
        )
        self.legend_label.setText(f"Classes: {chips}" + (f" … ({k} in all)" if k > len(shown) else ""))
        self.table.resizeRowsToContents()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Each epoch as wide as its batches need, but the epochs side by side in the view when they do not
        fit: a column too narrow for a batch draws the chips it has room for and counts the rest."""
        n = self.model.columnCount()
        if n == 0:
            return
        self.table.resizeColumnsToContents()
        share = (self.table.viewport().width() - 2) // n
        for c in range(n):
            self.table.setColumnWidth(c, max(min(self.table.columnWidth(c), share), 110))

    # --- texts ---------------------------------------------------------------------------------------

    @staticmethod
    def _summary(cfg: TrainConfig, plan: ShownPlan) -> str:
        p = plan.preview
        n, bs, bpe = p.train_samples, p.batch_size, p.batches_per_epoch
        text = (f"<b>{n:,}</b> training samples, batch_size <b>{bs:,}</b>: <b>{bpe:,}</b> batches per epoch"
                f" (DataLoader(train_ds, batch_size={bs}, shuffle={cfg.shuffle}, drop_last={cfg.drop_last}))")
        if p.dropped_count and bpe:
            text += f"; drop_last leaves out {p.dropped_count:,} sample(s) of every epoch"
        shown = len(p.batch_sizes)
        if shown < bpe:
            text += f". Showing the first {shown} batches of each epoch; {bpe - shown:,} more are not listed."
        if bpe == 0:
            text += (f". <b>drop_last leaves no batch at all</b>: batch_size {bs:,} is larger than the {n:,} samples, "
                     "so training refuses these settings.")
        return text

    @staticmethod
    def _notes(cfg: TrainConfig) -> str:
        if cfg.shuffle:
            order = (f"<b>shuffle</b> is on: each epoch draws a new order, so epoch 2 differs from epoch 1. The draws "
                     f"follow torch.manual_seed({cfg.seed}), so the same seed repeats this whole sequence in every run; "
                     "another seed gives another one.")
        else:
            order = "<b>shuffle</b> is off: every epoch takes the samples in the same order, 0, 1, 2, …"
        drop = ("<b>drop_last</b> is on: samples that do not fill a last batch are left out of the epoch (grey row)"
                + (", a different sample each epoch when shuffled." if cfg.shuffle else ".")
                if cfg.drop_last else "<b>drop_last</b> is off: an epoch's last batch may be smaller than the others.")
        if cfg.num_workers:
            workers = (f"<b>num_workers</b> = {cfg.num_workers}: {cfg.num_workers} worker process(es) load batches in "
                       "parallel")
        else:
            workers = "<b>num_workers</b> = 0: the training loop loads each batch itself"
        workers += ("; workers change who loads the batches and how fast, never which samples form them or their "
                    "order (the main process draws the indices).")
        runs = f" This run stops after {cfg.epochs} epoch(s)." if cfg.epochs < EPOCHS else ""
        return f"{order} {drop}<br>{workers}{runs}"
