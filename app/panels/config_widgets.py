"""The settings form's pieces: spin boxes that show a config's value exactly, and hidden sizes as text."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QLabel, QSpinBox

from core.config import SETTINGS_BY_KEY, ConfigError, Setting, format_number

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # what a QSpinBox holds
NOTE_STYLE = "color: #c62828;"
_INTEGER = re.compile(r"[+-]?\d+")


# --- hidden sizes -------------------------------------------------------------------------------


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    """'30, 20' (or '30 20') -> (30, 20); '' -> (); ConfigError naming the field and the bad part otherwise."""
    setting = SETTINGS_BY_KEY["hidden_sizes"]
    low, high = int(setting.low), int(setting.high)
    if not text.strip():
        return ()
    chunks = text.split(",")
    sizes: list[int] = []
    for c, chunk in enumerate(chunks):
        parts = chunk.split()
        if not parts:
            if c == 0:
                where = "before the first comma"
            elif c == len(chunks) - 1:
                where = "after the last comma"
            else:
                where = f"between two commas, after layer {len(sizes)}"
            raise ConfigError(f"hidden_sizes: an empty layer {where}; write a size there or remove the comma",
                              "hidden_sizes")
        for part in parts:
            n = len(sizes) + 1
            if not _INTEGER.fullmatch(part):
                raise ConfigError(f"hidden_sizes: {part!r} (layer {n}) is not a whole number; write sizes like 30, 20",
                                  "hidden_sizes")
            value = int(part)
            if value < low:
                raise ConfigError(f"hidden_sizes: layer {n} has {value} units; a layer needs at least {low} "
                                  f"(use {low} to {high})", "hidden_sizes")
            if value > high:
                raise ConfigError(f"hidden_sizes: layer {n} has {value} units; use {low} to {high}", "hidden_sizes")
            sizes.append(value)
    if len(sizes) > setting.max_items:
        raise ConfigError(f"hidden_sizes: at most {setting.max_items} hidden layers, got {len(sizes)}", "hidden_sizes")
    return tuple(sizes)


def format_hidden_sizes(sizes: Sequence[int]) -> str:
    return ", ".join(str(s) for s in sizes)


# --- numbers --------------------------------------------------------------------------------------


def ladder_step(value: float, steps: int, low: float, high: float) -> float:
    """Move `steps` rungs along 1, 2, 5 x 10^n (a log-ish ladder that suits learning rates)."""
    for _ in range(abs(steps)):
        if value <= 0:
            value = low if low > 0 else 1e-5
            continue
        e = math.floor(math.log10(value))
        rungs = sorted(float(f"{m * 10.0 ** k:.12g}") for k in (e - 1, e, e + 1) for m in (1, 2, 5))
        if steps > 0:
            value = next(r for r in rungs if r > value * (1 + 1e-9))
        else:
            value = next(r for r in reversed(rungs) if r < value * (1 - 1e-9))
        value = min(max(value, low), high)
    return value


def parse_float(text: str) -> float:
    """A number as typed: 0.5, 3e-6, 1E3; ValueError saying what is wrong otherwise."""
    t = text.strip()
    if not t:
        raise ValueError("enter a number")
    if "," in t:
        raise ValueError(f"{t!r} is not a number; write the decimal point as '.', e.g. 0.5")
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"{t!r} is not a number; write it like 0.5 or 3e-6") from None


def parse_int(text: str) -> int:
    """A whole number as typed (10000, 10,000 or 10_000); ValueError saying what is wrong otherwise."""
    t = text.strip()
    digits = t.replace(",", "").replace("_", "")
    if not digits:
        raise ValueError("enter a whole number")
    if not _INTEGER.fullmatch(digits):
        raise ValueError(f"{t!r} is not a whole number")
    return int(digits)


def _decimals_of(value: float) -> int:
    exponent = Decimal(repr(value)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class _ExactSpin:
    """A spin box whose text is the truth: it shows a value exactly (the shortest text that reads back the
    same), keeps any text the user types (a value out of range, 2000, or not a number at all) instead of
    clamping or reverting it, and lets the form say what is wrong. Qt's own value is only a stand-in for
    what the box shows (clamped to Qt's range: a C int, or the setting's range), so Qt never rounds, clips
    or drops the real value."""

    _qt: type[QAbstractSpinBox]

    def _setup(self, setting: Setting) -> None:
        self.setting = setting
        self._exact: float | int | None = None  # the last value the text read as: what the arrows step from
        self._shown: str | None = None  # the text shown for Qt's current stand-in value
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToPreviousValue)
        self.setToolTip(setting.help)
        self.setAccessibleName(setting.label)
        self.setAccessibleDescription(setting.help)

    def parsed(self):
        """The value the text shows; ValueError saying why when it shows none."""
        return self._parse(self.lineEdit().text())

    def value(self):
        try:
            return self.parsed()
        except ValueError:
            return self._exact if self._exact is not None else self._qt.value(self)

    def setValue(self, value) -> None:  # noqa: N802 - Qt's name
        edit = self.lineEdit()
        before = edit.text()
        self._exact = value
        self._shown = self._format(value)
        self._qt.setValue(self, self._stand_in(value))
        if edit.text() != self._shown:  # Qt skips the repaint when its stand-in value did not change
            edit.setText(self._shown)
        if edit.text() != before:
            # Qt writes the editor's text with its signals blocked: the form listens to the editor (what
            # is typed is the truth), so a value set from code is announced here, once.
            edit.textChanged.emit(edit.text())

    # --- Qt's hooks --------------------------------------------------------------------------------

    def textFromValue(self, value) -> str:  # noqa: N802 - Qt's name
        if self._shown is not None and value == self._qt.value(self):
            return self._shown
        return self._format(value)

    def valueFromText(self, text: str):  # noqa: N802 - Qt's name
        try:
            value = self._parse(text)
        except ValueError:
            self._shown = text.strip()  # kept as typed; the form shows why it is not a value
            return self._qt.value(self)
        self._exact = value
        self._shown = self._format(value)
        return self._stand_in(value)

    def validate(self, text: str, pos: int):
        # Everything is acceptable to Qt, so Qt never reverts or clamps what was typed: the form checks it.
        return QValidator.State.Acceptable, text, pos

    def fixup(self, text: str) -> str:
        return text

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt's name
        s = self.setting
        base = self.value()
        if s.kind == "float":
            if s.log_step:
                new = ladder_step(base, steps, s.low, s.high)
            else:
                new = round(base + steps * s.step, max(s.decimals, _decimals_of(base)))
            if not (new > s.low if s.low_open else new >= s.low):
                new = base if s.low_open else s.low  # an open end is never reached: stay
            new = min(new, s.high)
        else:
            new = min(max(base + steps * int(s.step), int(s.low)), int(s.high))
        self.setValue(new)
        self.selectAll()

    def stepEnabled(self):  # noqa: N802 - Qt's name
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.isReadOnly():
            return flags
        value = self.value()
        if value < self.setting.high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if value > self.setting.low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


class FloatSpinBox(_ExactSpin, QDoubleSpinBox):
    """A float setting, shown and kept exactly: 0.125 stays 0.125, 3e-6 shows as 0.000003."""

    _qt = QDoubleSpinBox

    def __init__(self, setting: Setting, parent=None):
        super().__init__(parent)
        self._setup(setting)
        self.setDecimals(323)  # Qt's most: its stand-in value is then as close as Qt can hold
        self.setRange(setting.low, setting.high)

    def _parse(self, text: str) -> float:
        return parse_float(text)

    def _format(self, value: float) -> str:
        return format_number(float(value))

    def _stand_in(self, value: float) -> float:
        if math.isnan(value):
            return self.minimum()
        return min(max(value, self.minimum()), self.maximum())


class IntSpinBox(_ExactSpin, QSpinBox):
    """A whole-number setting over its whole range, beyond a C int too (seeds up to 2**63 - 1)."""

    _qt = QSpinBox

    def __init__(self, setting: Setting, parent=None):
        super().__init__(parent)
        self._setup(setting)
        self.setRange(max(int(setting.low), INT32_MIN), min(int(setting.high), INT32_MAX))

    def _parse(self, text: str) -> int:
        return parse_int(text)

    def _format(self, value: int) -> str:
        return f"{value:,}" if self.setting.group_digits else str(value)

    def _stand_in(self, value: int) -> int:
        return min(max(value, self.minimum()), self.maximum())


def note_label(name: str, accessible: str) -> QLabel:
    """A red line under a field that says what is wrong with it; hidden while nothing is."""
    label = QLabel("")
    label.setObjectName(name)
    label.setAccessibleName(accessible)
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    label.hide()
    return label
