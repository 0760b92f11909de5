"""Colours shared by the plots and panels."""

from __future__ import annotations

# Class colours: Okabe-Ito's eight colour-blind-friendly colours first, then wine, olive and indigo
# from Paul Tol's muted scheme and a brown, each further (CIE Lab) from every other colour than
# Okabe-Ito's own closest pair (blue and sky blue), so that digits' 10 classes and up to 12 in all
# stay apart; more classes repeat the list.
CLASS_COLORS = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
    (136, 34, 85),
    (153, 153, 51),
    (51, 34, 136),
    (120, 70, 20),
]
TRAIN_COLOR = (0, 114, 178)
TEST_COLOR = (213, 94, 0)
BATCH_COLOR = (150, 150, 150)
# Rings round wrongly predicted points: a colour no class has, dark enough to see on yellow and grey.
WRONG_COLOR = (220, 20, 60)


def class_color(k: int, alpha: int = 255) -> tuple[int, int, int, int]:
    return (*CLASS_COLORS[k % len(CLASS_COLORS)], alpha)
