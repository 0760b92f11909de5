"""What the Appendix A panels share: whether torch has loaded, the current data (made once, off the GUI thread when it is not tiny), texts."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QLabel

from app.run.tasks import TaskRunner
from core.config import DatasetConfig
from core.datasets import dataset_spec

if TYPE_CHECKING:
    from core.data import DataSplit

INVALID_TEXT = "The settings are not valid: fix the highlighted setting to see this again."
WAITING_TEXT = "Loading PyTorch…"
# A split up to this size is kept whole, so batch_plan can be given it; beyond, only the labels are kept.
KEEP_SPLIT_SAMPLES = 200_000


def torch_loaded() -> bool:
    """Whether torch has finished importing (on any thread). Never imports it.

    While another thread is still importing torch, `import torch` here would wait for it; the panels
    leave torch alone until then (the window is shown before torch loads).
    """
    module = sys.modules.get("torch")
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def is_tiny(ds: DatasetConfig) -> bool:
    """Data made in a moment: fine to make in the GUI thread (the registry's rule, core.datasets)."""
    return dataset_spec(ds.name).is_small(ds)


@dataclass(frozen=True, eq=False)
class DataInfo:
    """What the panels need of a data set: sizes, class names, the training labels (and the split when small)."""

    dataset: DatasetConfig
    train_samples: int
    num_features: int
    num_classes: int
    class_names: tuple[str, ...]
    y_train: Any  # numpy int64 array, the class of each training sample
    split: DataSplit | None  # the whole split when it has at most KEEP_SPLIT_SAMPLES training samples


def make_data_info(ds: DatasetConfig, cancel: threading.Event | None = None) -> DataInfo:
    """Make or read the data set (core.data.load_dataset) and keep what the panels need."""
    from core.data import load_dataset

    split = load_dataset(ds, cancel)
    n = int(split.X_train.shape[0])
    return DataInfo(
        dataset=ds, train_samples=n, num_features=split.num_features, num_classes=split.num_classes,
        class_names=tuple(split.class_names), y_train=split.y_train.numpy(),
        split=split if n <= KEEP_SPLIT_SAMPLES else None,
    )


class DataSource:
    """The data of the current settings, made once and shared by the panels that need it.

    `request(ds, owner, on_done, on_error)` calls back with a DataInfo at once when the data is
    known or tiny, else once a thread has made it. A request for other data cancels the one in
    flight; each owner has one request at a time (a newer one replaces it).
    """

    def __init__(self, runner: TaskRunner):
        self._runner = runner
        self._info: DataInfo | None = None
        self._pending: DatasetConfig | None = None
        self._waiting: dict[object, tuple[Callable[[DataInfo], None], Callable[[BaseException], None]]] = {}

    def cached(self, ds: DatasetConfig) -> DataInfo | None:
        info = self._info
        return info if info is not None and info.dataset == ds else None

    def request(self, ds: DatasetConfig, owner: object, on_done: Callable[[DataInfo], None],
                on_error: Callable[[BaseException], None]) -> None:
        info = self.cached(ds)
        if info is not None:
            if self._pending is not None:  # back to the data already made: the other one is not wanted
                self._runner.cancel("panel-data")
                self._pending = None
                self._waiting.clear()
            self._waiting.pop(owner, None)
            on_done(info)
            return
        if self._pending != ds:
            self._waiting.clear()  # those owners asked for other data; they ask again with their new settings
        self._waiting[owner] = (on_done, on_error)
        if self._pending == ds:
            return
        self._pending = ds
        tiny = is_tiny(ds)
        label = f"Making the {ds.name} data…" if ds.name != "csv" else "Reading the CSV file…"
        self._runner.submit(lambda cancel: make_data_info(ds, cancel), kind="panel-data", label=label,
                            on_done=self._done, on_error=self._failed, inline=tiny)

    def forget(self, owner: object) -> None:
        """Drop `owner`'s request (its settings went invalid)."""
        self._waiting.pop(owner, None)

    def _done(self, info: DataInfo) -> None:
        if info.dataset != self._pending:
            return
        self._info, self._pending = info, None
        waiting, self._waiting = self._waiting, {}
        for on_done, _ in waiting.values():
            on_done(info)

    def _failed(self, exc: BaseException) -> None:
        self._pending = None
        waiting, self._waiting = self._waiting, {}
        for _, on_error in waiting.values():
            on_error(exc)


def error_text(exc: BaseException) -> str:
    """A person's sentence for a failure: the engine's own message for the errors it explains."""
    if isinstance(exc, (ValueError, OSError, MemoryError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


def note_label(text: str = "", name: str = "", accessible: str = "") -> QLabel:
    """A wrapped, selectable paragraph of explanation."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    if name:
        label.setObjectName(name)
    if accessible:
        label.setAccessibleName(accessible)
    return label
