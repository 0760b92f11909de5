"""The data last made for the settings, kept for the run and the views (no Qt)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.config import DatasetConfig

if TYPE_CHECKING:
    from core.data import DataSplit


class DataCache:
    """One data set and its sampled points: what the data plot shows and what a Train on the same data
    set reuses, so that a change of settings loads the data once."""

    def __init__(self) -> None:
        self._entry: tuple[DatasetConfig, DataSplit, Any] | None = None

    def put(self, ds: DatasetConfig, split: DataSplit, points: Any) -> None:
        self._entry = (ds, split, points)

    def split(self, ds: DatasetConfig) -> DataSplit | None:
        return self._entry[1] if self._entry is not None and self._entry[0] == ds else None

    def points(self, ds: DatasetConfig) -> Any:
        return self._entry[2] if self._entry is not None and self._entry[0] == ds else None

    def has(self, ds: DatasetConfig) -> bool:
        return self._entry is not None and self._entry[0] == ds
