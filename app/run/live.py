"""The live views of a run and their one rotation: each update draws the batch loss, and at most one of the
views that change less, a few times a second, so that no GUI turn repaints much (no Qt here).

A live view is any object with `begin(run, start)`, `feed(run, drained)` (cheap: keep what arrived),
`draw(run) -> bool` (draw what changed; False when there was nothing new) and `end(run)` (draw what is
left). The window lists its views once; a new one is one more object in that list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

# During a run the slower views are drawn at most this often (the batch loss at every update).
SLOW_VIEWS_S = 0.25


class LiveView(Protocol):
    def begin(self, run: Any, start: Any) -> None: ...

    def feed(self, run: Any, drained: Any) -> None: ...

    def draw(self, run: Any) -> bool: ...

    def end(self, run: Any) -> None: ...


class Rotation:
    """Draws the views one per update, in their order, a round at most every `period` seconds."""

    def __init__(self, views: Sequence[LiveView], period: float = SLOW_VIEWS_S, clock=time.monotonic):
        self.views = list(views)
        self._period = period
        self._clock = clock
        self._round_at = 0.0  # when the last round ended
        self._left: list[LiveView] = []  # what is left of this round to draw

    def begin(self, run: Any, start: Any) -> None:
        for view in self.views:
            view.begin(run, start)
        self._round_at, self._left = 0.0, []  # the run's first batches are shown at once

    def feed(self, run: Any, drained: Any) -> None:
        for view in self.views:
            view.feed(run, drained)

    def turn(self, run: Any, news: bool) -> str | None:
        """One update's share: draws at most one view; returns the class name of the one drawn (for app.perf)."""
        now = self._clock()
        if not self._left and now - self._round_at >= self._period and news:
            self._left = list(self.views)
        drawn = None
        while self._left:
            view = self._left.pop(0)
            if view.draw(run):
                drawn = getattr(view, "name", type(view).__name__)
                break  # one per update
        if not self._left and self._round_at < now - self._period:
            self._round_at = now  # the next round starts a period after this one ended
        return drawn

    def end(self, run: Any) -> None:
        self._left = []
        for view in self.views:
            view.end(run)
