"""The settings the form shows, validated once per change, and what is known to be wrong with the data they name (no Qt)."""

from __future__ import annotations

from app.state.evented import Event
from core.config import ConfigError, DatasetConfig, TrainConfig


class FormState:
    """The form's current TrainConfig, or the ConfigError that says why there is none; and a problem with
    the data set it names, found when that data was made or read (a malformed CSV, a label column that is
    not there), which the form shows under the field and which keeps Train from starting.

    `changed()` is emitted after every change, once: the form validates its controls once per edit and
    sets the result here; everything else reads `config` instead of validating again.
    """

    def __init__(self) -> None:
        self.config: TrainConfig | None = None
        self.error: ConfigError | None = None
        self._data_problem: tuple[DatasetConfig, str, str] | None = None  # (data set, field key, reason)
        self.changed = Event()

    def set(self, config: TrainConfig | None, error: ConfigError | None) -> None:
        self.config, self.error = config, error
        self.changed.emit()

    def set_data_problem(self, dataset: DatasetConfig, reason: str | None, key: str = "dataset.path") -> None:
        """The data set `dataset` cannot be made or read (`reason`), or (None) it can."""
        new = (dataset, key, reason) if reason else None
        if new == self._data_problem or (new is None and (self._data_problem is None or self._data_problem[0] != dataset)):
            return
        self._data_problem = new
        self.changed.emit()

    def data_problem(self) -> tuple[str, str] | None:
        """(field key, reason) when the data the current settings name is known to be unusable."""
        p = self._data_problem
        if p is None or self.config is None or p[0] != self.config.dataset:
            return None
        return p[1], p[2]

    def trainable(self) -> TrainConfig | None:
        """The config a Train would run: valid, on data not known to be unusable."""
        return self.config if self.config is not None and self.data_problem() is None else None
