"""Inside the layers during a run: the Layers and Units panels fed from the worker's InsightRecorder, and the
collapse warning. A live view (app.run.live); the numbers are core.insight's (no Qt)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.panels.units import not_2d_note
from core.insight import Diagnosis, LayerStats, UnitSnapshot

if TYPE_CHECKING:
    from app.run.feed import Drained
    from app.state.run_progress import RunProgress


class InsightViews:
    """Feeds the Layers and Units panels; draws only into the one on screen (a hidden tab costs nothing:
    what it missed is drawn when it is shown)."""

    name = "insight"

    def __init__(self, ui, on_warning: Callable[[RunProgress], None]):
        self._layers = ui.layers_panel
        self._units = ui.units_panel
        self._on_warning = on_warning  # a collapse diagnosed mid-run: the status line says so
        self._stats: list[LayerStats] = []
        self._pictures: UnitSnapshot | None = None
        ui.view_tabs_top.currentChanged.connect(lambda _i: self.draw(None))

    def begin(self, run: RunProgress, start) -> None:
        """A run's first events: a new model starts the panels afresh; every run sets the epochs they span."""
        if run.mode == "new":
            self.clear()
        self._layers.set_epoch_span(start.first_epoch - 1, start.first_epoch - 1 + start.epochs)

    def feed(self, run: RunProgress, d: Drained) -> None:
        """Keep what the worker sent (drawn in the rotation of slower views, one per update, not here)."""
        for ev in d.others:
            if isinstance(ev, LayerStats):
                self._stats.append(ev)
            elif isinstance(ev, UnitSnapshot):
                self._pictures = ev
            elif isinstance(ev, Diagnosis):
                run.warning = ev.message
                self._layers.set_warning(ev.message)
                if ev.message and not ev.final:
                    self._on_warning(run)
        if d.points is not None and d.points.num_features != 2:
            self._units.clear(not_2d_note(d.points.num_features))

    def draw(self, _run: RunProgress | None) -> bool:
        """Draw what the panel on screen has missed; False when there was nothing to draw."""
        drew = False
        if self._stats and self._layers.isVisible():
            self._layers.add_stats(self._stats)
            self._stats, drew = [], True
        if self._pictures is not None and self._units.isVisible():
            self._units.set_units(self._pictures)
            self._pictures, drew = None, True
        return drew

    def end(self, run: RunProgress | None) -> None:
        self.draw(run)

    def clear(self, note: str = "") -> None:
        """No insight for what is shown (a model dropped, a run on several processes)."""
        self._stats, self._pictures = [], None
        self._layers.clear()
        self._layers.set_warning(None)
        self._units.clear(note)
