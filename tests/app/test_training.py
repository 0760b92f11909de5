"""Training through the real window: the book's numbers, stop, pause, reset, continue, errors, closing mid-run."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.config import TrainConfig
from core.training import Trainer
from tests.app.helpers import click, widget

BOOK_LOSSES = [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]


def long_run(window, epochs: int = 1000) -> None:
    """Settings for a run that goes on far longer than any test waits: moons, one sample per batch."""
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("moons"))
    widget(window, "samplesSpin").setValue(2000)
    widget(window, "batchSizeSpin").setValue(1)
    widget(window, "epochsSpin").setValue(epochs)
    widget(window, "hiddenSizesEdit").setText("8")
    widget(window, "learningRateSpin").setValue(0.05)


def wait_for_losses(qtbot, window, n: int, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: len(window.batch_losses()) >= n, timeout=timeout)


def test_books_run_gives_the_books_losses_on_the_plot(window, train):
    assert widget(window, "trainButton").text() == "Train"
    result = train(window)
    assert result.status == "finished"
    x, y = window.loss_plot.batch_curve.getData()
    assert np.round(y, 2).tolist() == BOOK_LOSSES
    assert x.tolist() == [1, 2, 3, 4, 5, 6]
    assert np.round(window.batch_losses(), 2).tolist() == BOOK_LOSSES
    status = widget(window, "statusLabel").text()
    assert "finished" in status.lower() and "2 batches per epoch" in status
    assert window.progress_bar.value() == window.progress_bar.maximum() == 6
    steps, train_loss, test_loss = window.loss_plot.epoch_losses()
    assert steps.tolist() == [2, 4, 6] and len(train_loss) == len(test_loss) == 3
    epochs, train_acc, test_acc = window.accuracy_plot.accuracies()
    assert epochs.tolist() == [1, 2, 3] and train_acc[-1] == 1.0 and test_acc[-1] == 1.0
    table = widget(window, "predictionsTable")
    model = table.model()
    assert model.rowCount() == 2
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == ["#", "predicted", "true", "correct", "p(0)", "p(1)", "logit 0", "logit 1", "x1", "x2"]
    assert "100.0%" in widget(window, "predictionsAccuracyLabel").text()
    assert widget(window, "trainButton").text() == "Continue training"
    assert window.is_dirty() and window.windowTitle().startswith("untitled*")


@pytest.mark.parametrize(("drop_last", "per_epoch"), [(True, 2), (False, 3)])
def test_drop_last_changes_batches_per_epoch(window, train, drop_last, per_epoch):
    widget(window, "dropLastCheck").setChecked(drop_last)
    train(window)
    assert window.progress_bar.maximum() == 3 * per_epoch
    assert f"batch {per_epoch}/{per_epoch}" in widget(window, "epochLabel").text()
    assert f"{per_epoch} batches per epoch" in widget(window, "statusLabel").text()
    assert len(window.batch_losses()) == 3 * per_epoch


def test_batch_size_changes_batches_per_epoch(window, train):
    widget(window, "batchSizeSpin").setValue(1)
    train(window)
    assert window.progress_bar.maximum() == 15
    assert "5 batches per epoch" in widget(window, "statusLabel").text()


def test_status_label_follows_the_run(window, qtbot):
    long_run(window)
    click(qtbot, widget(window, "trainButton"))
    label = widget(window, "statusLabel")
    try:
        qtbot.waitUntil(lambda: label.text().startswith("Epoch 1/1000, batch "), timeout=60_000)
    except Exception:
        raise AssertionError(f"the status line says {label.text()!r}; losses so far {len(window.batch_losses())}") from None
    assert "/1600" in label.text()  # 2000 samples, 20% test: 1600 training batches of one
    assert not widget(window, "trainButton").isEnabled() and not widget(window, "batchSizeSpin").isEnabled()
    assert widget(window, "stopButton").isEnabled() and widget(window, "pauseButton").isEnabled()
    # The status bar's fields are drawn in the rotation of slower views, a turn or two after the status line
    # (on a busy machine turns are far apart): waited for, not assumed.
    qtbot.waitUntil(lambda: "samples/s" in widget(window, "speedLabel").text() and "left" in widget(window, "timeLabel").text(),
                    timeout=60_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        click(qtbot, widget(window, "stopButton"))


def test_stop_mid_run_keeps_the_weights(window, qtbot):
    long_run(window)
    click(qtbot, widget(window, "trainButton"))
    wait_for_losses(qtbot, window, 200)
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000) as blocker:
        click(qtbot, widget(window, "stopButton"))
    assert blocker.args[0].status == "stopped"
    assert "stopped" in widget(window, "statusLabel").text().lower()
    n = len(window.batch_losses())
    assert 200 <= n < 1000 * 1600
    assert window.trainer is not None and window.trainer.steps == n  # every loss reached the plot
    assert widget(window, "trainButton").isEnabled() and widget(window, "trainButton").text() == "Continue training"
    assert widget(window, "batchSizeSpin").isEnabled() and not widget(window, "stopButton").isEnabled()


def _settled_count(qtbot, window, ticks: int) -> int:
    for _ in range(ticks):
        with qtbot.waitSignal(window.controller.drained, timeout=60_000):
            pass
    return len(window.batch_losses())


def test_pause_and_resume(window, qtbot):
    long_run(window)
    click(qtbot, widget(window, "trainButton"))
    wait_for_losses(qtbot, window, 100)
    pause = widget(window, "pauseButton")
    click(qtbot, pause)
    assert pause.text() == "Resume"
    assert widget(window, "statusLabel").text().startswith("Paused")
    n = _settled_count(qtbot, window, 3)
    assert _settled_count(qtbot, window, 5) == n  # nothing trains while paused
    click(qtbot, pause)
    assert pause.text() == "Pause"
    wait_for_losses(qtbot, window, n + 100)
    click(qtbot, pause)  # stop works while paused too
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000) as blocker:
        click(qtbot, widget(window, "stopButton"))
    assert blocker.args[0].status == "stopped"


def test_reset_gives_the_same_curve_again(window, train, qtbot):
    train(window)
    first = window.batch_losses()
    reset = widget(window, "resetButton")
    click(qtbot, reset)
    assert len(window.batch_losses()) == 0 and window.trainer is None
    assert widget(window, "trainButton").text() == "Train"
    assert not reset.isEnabled()
    train(window)
    assert np.array_equal(window.batch_losses(), first)


def test_continue_training_is_one_longer_run(window, train):
    train(window)
    assert widget(window, "trainButton").text() == "Continue training"
    train(window)
    losses = window.batch_losses()
    assert len(losses) == 12
    assert np.round(losses[:6], 2).tolist() == BOOK_LOSSES
    longer = Trainer(TrainConfig(epochs=6))
    longer.fit()
    assert np.allclose(losses, longer.history.losses(), rtol=0, atol=1e-7)
    assert "Epoch 6/6" in widget(window, "epochLabel").text()
    assert window.accuracy_plot.accuracies()[0].tolist() == [1, 2, 3, 4, 5, 6]


def test_continue_under_a_changed_learning_rate_but_not_changed_layers(window, train):
    train(window)
    widget(window, "learningRateSpin").setValue(0.1)
    assert widget(window, "trainButton").text() == "Continue training"
    widget(window, "hiddenSizesEdit").setText("10")
    assert widget(window, "trainButton").text() == "Train (new model)"
    widget(window, "hiddenSizesEdit").setText("30, 20")
    assert widget(window, "trainButton").text() == "Continue training"
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("xor"))
    assert widget(window, "trainButton").text() == "Train (new model)"
    result = train(window)
    assert result.status == "finished"
    assert window.trainer.data.name == "xor" and window.trainer.history.epochs[0].epoch == 1


def test_worker_error_is_shown_and_the_next_run_works(window, train, monkeypatch):
    real_fit = Trainer.fit
    calls = []

    def failing_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected failure")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", failing_once)
    assert train(window) is None
    assert "injected failure" in widget(window, "statusLabel").text()
    assert window.last_message is not None and "injected failure" in window.last_message[1]
    assert window._message_box is not None and window._message_box.isVisible()
    assert not window.is_training() and widget(window, "trainButton").isEnabled()
    assert widget(window, "trainButton").text() == "Train"  # nothing was trained
    result = train(window)
    assert result.status == "finished"
    assert np.round(window.batch_losses(), 2).tolist() == BOOK_LOSSES


def test_a_data_error_while_building_the_trainer_is_shown(window, train, tmp_path):
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("csv"))
    widget(window, "csvPathEdit").setText(str(tmp_path / "missing.csv"))
    assert train(window) is None
    assert "missing.csv" in widget(window, "statusLabel").text()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    widget(window, "csvPathEdit").setText(str(bad))
    assert train(window) is None
    assert "Error" in widget(window, "statusLabel").text()
    combo.setCurrentIndex(combo.findData("appendix-a"))
    assert train(window).status == "finished"


def test_a_diverged_run_says_so(window, train):
    widget(window, "learningRateSpin").setValue(10)
    widget(window, "epochsSpin").setValue(20)
    result = train(window)
    assert result.status == "diverged"
    assert "diverged" in widget(window, "statusLabel").text().lower()
    assert window.last_message is not None and "learning rate" in window.last_message[1]


def test_closing_mid_run_stops_the_run(window, qtbot, capfd):
    # How fast is for app.devtools.perf to say (a busy machine stretches any wall-clock bound); here: the close
    # returns with the run stopped and its thread gone, nothing destroyed while running.
    long_run(window)
    click(qtbot, widget(window, "trainButton"))
    wait_for_losses(qtbot, window, 50)
    t0 = time.perf_counter()
    assert window.close()
    print(f"closed mid-run in {time.perf_counter() - t0:.3f} s")
    assert not window.is_training()
    assert "Destroyed while thread" not in capfd.readouterr().err


def test_stop_event_and_threads_of_the_worker(window, train, monkeypatch):
    """The worker runs fit(stop_event, pause_event) on a Trainer built with threads=1, off the GUI thread."""
    import threading

    seen = {}
    real_fit = Trainer.fit

    def spy(self, stop=None, pause=None, epochs=None):
        seen.update(threads=self.threads, stop=stop, pause=pause, thread=threading.current_thread())
        return real_fit(self, stop, pause, epochs)

    monkeypatch.setattr(Trainer, "fit", spy)
    train(window)
    assert seen["threads"] == 1
    assert isinstance(seen["stop"], threading.Event) and isinstance(seen["pause"], threading.Event)
    assert seen["thread"] is not threading.main_thread()


def test_an_unavailable_device_is_reported_and_the_next_run_works(window, train):
    # The fake device list offers cuda:0; this CPU-only torch cannot use it, so the run must fail politely.
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine really has a GPU")
    combo = widget(window, "deviceCombo")
    combo.setCurrentIndex(combo.findData("cuda:0"))
    assert train(window) is None
    assert "cuda" in widget(window, "statusLabel").text().lower()
    assert widget(window, "progressBar").text() == "no run yet"
    assert window.data_plot.point_counts() == (5, 2)  # the data preview is back
    combo.setCurrentIndex(combo.findData("cpu"))
    assert train(window).status == "finished"


def test_continuing_with_an_impossible_batch_size_fails_and_keeps_the_model(window, train):
    train(window)
    widget(window, "batchSizeSpin").setValue(50)  # drop_last on: 0 batches per epoch
    assert train(window) is None
    assert "batch_size" in widget(window, "statusLabel").text()
    assert window.trainer is not None and window.trainer.steps == 6
    assert widget(window, "predictionsTable").model().rowCount() == 2
    assert np.round(window.batch_losses(), 2).tolist() == BOOK_LOSSES
