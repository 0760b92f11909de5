"""Small widget helpers shared by the window's panels."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def reserve_lines(label: QLabel, lines: int) -> None:
    """Keep a word-wrapped label at least `lines` lines tall (its style's padding included).

    A wrapped label is as tall as its text: a message one line shorter than the last one shrinks it,
    which lays out its whole panel again and repaints every widget in it (10-20 ms on a slow machine,
    at the very moment a run starts). Messages up to `lines` lines now change no geometry; a longer
    one still grows the label, so nothing is cut off.
    """
    text = label.text()
    label.setText("\n".join(["X"] * lines))
    label.setMinimumHeight(label.sizeHint().height())
    label.setText(text)


def set_steady_text(label: QLabel, text: str) -> None:
    """Set a status field's text without letting the field get narrower (see `release_width`).

    A field whose width follows its text ("batch 99/500", then "batch 100/500") lays the status bar out
    again at nearly every update, repainting every field in it; it grows to the widest text instead.
    """
    label.setText(text)
    width = label.sizeHint().width()
    if width > label.minimumWidth():
        label.setMinimumWidth(width)


def release_width(label: QLabel) -> None:
    """Let a field set with `set_steady_text` take its text's width again."""
    label.setMinimumWidth(0)
