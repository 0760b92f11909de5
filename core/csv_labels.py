"""A CSV label column's cells to classes: whole numbers, other numbers, or text. Torch-free, as core.csv_reader."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from core.errors import DataError


def distinct_classes(labels: list[str]) -> list:
    return sorted(set(_class_keys(labels)))


def _class_keys(labels: list[str]) -> list:
    """Each label's class: whole numbers when every label is one (as always: 0..k-1 keep their codes, "01"
    is 1), else exact numbers when every label is a finite number (1, 1.0 and 1e0 are one class, as a
    spreadsheet that wrote some of them with a decimal point meant), else the text itself."""
    try:
        return [int(label) for label in labels]
    except ValueError:
        pass
    try:
        # Decimal, not float: exact, so 0.1 and 0.10000000000000001 stay two classes, and equal values hash alike.
        numbers = [Decimal(label) for label in labels]
    except (InvalidOperation, ValueError):
        return labels
    return numbers if all(v.is_finite() for v in numbers) else labels


def class_names(labels: list[str]) -> tuple[str, ...]:
    keys = _class_keys(labels)
    if keys is labels or not keys or isinstance(keys[0], int):
        return tuple(str(v) for v in sorted(set(keys)))
    # A class of numbers spelt several ways is named by its shortest spelling in the file ("1" for 1 and 1.0).
    spelling: dict[Any, str] = {}
    for key, label in zip(keys, labels, strict=True):
        best = spelling.get(key)
        if best is None or (len(label), label) < (len(best), best):
            spelling[key] = label
    return tuple(spelling[v] for v in sorted(spelling))


def label_codes(labels: list[str], where: str, column: str, most: int) -> np.ndarray:
    """For each label (one per distinct cell), the code of its class; raises DataError for too few or too many classes."""
    keys = _class_keys(labels)
    distinct = sorted(set(keys))
    if len(distinct) < 2:
        raise DataError(f"{where}: the label column {column!r} holds only one class ({str(distinct[0])!r}); it needs at least two")
    if len(distinct) > most:
        raise DataError(
            f"{where}: the label column {column!r} holds {len(distinct)} different values; "
            f"at most {most} classes are allowed; is it really the class label?"
        )
    code = {v: i for i, v in enumerate(distinct)}
    return np.array([code[v] for v in keys], dtype=np.int64)
