"""`python -m app.devtools.screenshots OUTDIR`: the window at 1280x800 before, during and after the book's run, and
the views of issue #12 (runs side by side, inside the layers, the units, data beyond two features), as PNGs.

Run it under a real (or virtual) X server for faithful fonts, e.g.
`xvfb-run -a -s "-screen 0 1280x800x24" python -m app.devtools.screenshots resources/screenshots`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from core.events import BatchEnd, Callback

# The book's run takes milliseconds; each batch is held this long so a frame mid-run can be captured.
BATCH_DELAY_S = 0.4


class _SlowDown(Callback):
    def on_batch_end(self, event: BatchEnd) -> None:
        time.sleep(BATCH_DELAY_S)


def _wait(app, condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def _settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.devtools.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="folder for before.png, during.png and after.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from app.window.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        # Its own settings file: screenshots show the defaults and never touch the user's settings.
        window = MainWindow(settings=os.path.join(tmp, "settings.ini"))
        window.resize(args.width, args.height)
        window.show()
        _settle(app, 0.8)
        window.grab().save(os.path.join(args.outdir, "before.png"))

        window.controller.extra_callbacks.append(_SlowDown())
        window.start_training()
        # Mid-run: epoch 2 has begun, so there is an epoch point on each curve and decision regions.
        _wait(app, lambda: len(window.batch_losses()) >= 3)
        _settle(app, 0.15)
        window.grab().save(os.path.join(args.outdir, "during.png"))

        _wait(app, lambda: not window.is_training())
        # "After" comes from the same run again at full speed (Reset gives the same curve), so the
        # status shows real timings rather than the slowed-down ones.
        window.controller.extra_callbacks.clear()
        window.reset_model()
        window.remove_run(window.runs.runs[0].id)  # the slowed-down run: "after" shows one run
        window.start_training()
        _wait(app, lambda: not window.is_training())
        _settle(app, 0.5)
        window.grab().save(os.path.join(args.outdir, "after.png"))
        _views(app, window, args.outdir)
        window.confirm_discard = lambda _question: True  # nothing to ask about: this was only a demonstration
        window.close()
    print(f"wrote before.png, during.png, after.png, runs.png, layers.png, units.png and projection.png to {args.outdir}")
    return 0


def _train(app, window, cfg=None) -> None:
    if cfg is not None:
        window.config_panel.set_config(cfg)
        _settle(app, 0.3)
    window.start_training()
    _wait(app, lambda: not window.is_training(), timeout=120)
    _settle(app, 0.5)


def _views(app, window, outdir: str) -> None:
    """Runs side by side (the book's run, moons at learning rates 0.02, 0.1 and 0.5 from fresh weights, smoothed),
    a collapsed spiral run's layers, a healthy one's units, and digits on its principal components."""
    import dataclasses

    from core.config import DatasetConfig, TrainConfig

    window.confirm_discard = lambda _question: True
    book = dataclasses.replace(TrainConfig(), dataset=DatasetConfig(name="moons", samples=400), batch_size=16, epochs=60)
    for lr in (0.02, 0.1, 0.5):
        window.reset_model()
        _train(app, window, dataclasses.replace(book, learning_rate=lr))
        window.run_views.rename_run(window.runs.current.id, f"lr {lr}")
    for run in window.runs.runs[:-3]:
        window.remove_run(run.id)
    window.findChild(object, "smoothingSpin").setValue(0.6)
    window.view_tabs_bottom.setCurrentWidget(window.runs_panel)
    _settle(app, 0.5)
    window.grab().save(os.path.join(outdir, "runs.png"))

    for run in window.runs.runs:  # the next pictures show one run each
        window.run_views.set_run_visible(run.id, False)
    window.reset_model()
    spiral = TrainConfig(dataset=DatasetConfig(name="spiral"), hidden_sizes=(16, 16), learning_rate=0.5, batch_size=2,
                         epochs=200)
    _train(app, window, spiral)
    window.view_tabs_top.setCurrentWidget(window.layers_panel)
    _settle(app, 0.5)
    window.grab().save(os.path.join(outdir, "layers.png"))

    window.run_views.set_run_visible(window.runs.current.id, False)
    window.reset_model()
    _train(app, window, dataclasses.replace(spiral, learning_rate=0.05, batch_size=8, epochs=300, activation="tanh"))
    window.view_tabs_top.setCurrentWidget(window.units_panel)
    _settle(app, 0.5)
    window.units_panel.select(0, 3)
    _settle(app, 0.3)
    window.grab().save(os.path.join(outdir, "units.png"))

    window.run_views.set_run_visible(window.runs.current.id, False)
    window.reset_model()
    digits = TrainConfig(dataset=DatasetConfig(name="digits", standardize=True), hidden_sizes=(32,), optimizer="adam",
                         learning_rate=0.01, batch_size=32, epochs=15)
    _train(app, window, digits)
    window.view_tabs_top.setCurrentWidget(window.data_plot)
    window.view_tabs_bottom.setCurrentWidget(window.predictions)
    _settle(app, 0.5)
    window.grab().save(os.path.join(outdir, "projection.png"))


if __name__ == "__main__":
    sys.exit(main())
