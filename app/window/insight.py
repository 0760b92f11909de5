"""Inside the layers during a run: the Layers and Units panels fed from the worker's InsightRecorder, and the
collapse warning. A mixin of MainWindow; the numbers are core.insight's (no Qt)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.panels.units import not_2d_note
from core.insight import Diagnosis, LayerStats, UnitSnapshot

if TYPE_CHECKING:
    from app.run.controller import Drained
    from app.window.run_status import Run


class InsightViews:
    """Feeds the Layers and Units panels (for MainWindow)."""

    def _insight_start(self, run: Run, d: Drained) -> None:
        """A run's first events: a new model starts the panels afresh; every run sets the epochs they span."""
        start = d.start
        if run.mode == "new":
            self._insight_clear()
        self.layers_panel.set_epoch_span(start.first_epoch - 1, start.first_epoch - 1 + start.epochs)

    def _insight_progress(self, run: Run, d: Drained) -> None:
        """Keep what the worker sent; draw it only into a panel on screen (a hidden tab costs nothing: what
        it missed is drawn when it is shown)."""
        pending = self._insight_pending
        for ev in d.others:
            if isinstance(ev, LayerStats):
                pending["stats"].append(ev)
            elif isinstance(ev, UnitSnapshot):
                pending["units"] = ev
            elif isinstance(ev, Diagnosis):
                run.warning = ev.message
                self.layers_panel.set_warning(ev.message)
                if ev.message and not ev.final and not self.controller.is_paused():
                    self._set_status(run.progress_text(), "info")
        if d.points is not None and d.points.num_features != 2:
            self.units_panel.clear(not_2d_note(d.points.num_features))
        # Drawn in the window's rotation of slower views (one per update), not here.

    def _insight_flush(self) -> bool:
        """Draw what the panel on screen has missed; False when there was nothing to draw."""
        pending = self._insight_pending
        drew = False
        if pending["stats"] and self.layers_panel.isVisible():
            self.layers_panel.add_stats(pending["stats"])
            pending["stats"], drew = [], True
        if pending["units"] is not None and self.units_panel.isVisible():
            self.units_panel.set_units(pending["units"])
            pending["units"], drew = None, True
        return drew

    def _insight_clear(self, note: str = "") -> None:
        """No insight for what is shown (a model dropped, a run on several processes)."""
        self._insight_pending = {"stats": [], "units": None}
        self.layers_panel.clear()
        self.layers_panel.set_warning(None)
        self.units_panel.clear(note)

    def _init_insight(self) -> None:
        self._insight_pending = {"stats": [], "units": None}
        self.view_tabs_top.currentChanged.connect(lambda _i: self._insight_flush())
