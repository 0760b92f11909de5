"""Colours shared by the plots and panels."""

from __future__ import annotations

# Colour-blind-friendly class colours (Okabe-Ito), repeated when there are more classes.
CLASS_COLORS = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
]
TRAIN_COLOR = (0, 114, 178)
TEST_COLOR = (213, 94, 0)
BATCH_COLOR = (150, 150, 150)


def class_color(k: int, alpha: int = 255) -> tuple[int, int, int, int]:
    return (*CLASS_COLORS[k % len(CLASS_COLORS)], alpha)
