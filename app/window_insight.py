"""Inside the layers during a run: the Layers and Units panels fed from the worker's InsightRecorder, and the
collapse warning. A mixin of MainWindow; the numbers are core.insight's (no Qt)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.panels.units import not_2d_note
from core.insight import Diagnosis, LayerStats, UnitSnapshot

if TYPE_CHECKING:
    from app.controller import Drained
    from app.run_status import Run


class InsightViews:
    """Feeds the Layers and Units panels (for MainWindow)."""

    def _insight_start(self, run: Run, d: Drained) -> None:
        """A run's first events: a new model starts the panels afresh; every run sets the epochs they span."""
        start = d.start
        if run.mode == "new":
            self.layers_panel.clear()
            self.units_panel.clear()
        self.layers_panel.set_epoch_span(start.first_epoch - 1, start.first_epoch - 1 + start.epochs)

    def _insight_progress(self, run: Run, d: Drained) -> None:
        stats: list[LayerStats] = []
        units = diagnosis = None
        for ev in d.others:
            if isinstance(ev, LayerStats):
                stats.append(ev)
            elif isinstance(ev, UnitSnapshot):
                units = ev
            elif isinstance(ev, Diagnosis):
                diagnosis = ev
        if d.points is not None and d.points.num_features != 2:
            self.units_panel.clear(not_2d_note(d.points.num_features))
        if stats:
            self.layers_panel.add_stats(stats)
        if units is not None:
            self.units_panel.set_units(units)
        if diagnosis is not None:
            run.warning = diagnosis.message
            self.layers_panel.set_warning(diagnosis.message)
            if diagnosis.message and not diagnosis.final and not self.controller.is_paused():
                self._set_status(run.progress_text(), "info")

    def _insight_clear(self, note: str = "") -> None:
        """No insight for what is shown (a model dropped, a run on several processes)."""
        self.layers_panel.clear()
        self.layers_panel.set_warning(None)
        self.units_panel.clear(note)
