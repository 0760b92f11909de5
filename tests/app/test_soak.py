"""Soak: a run of over 200,000 batches with the live plot on finishes in the GUI and the plot keeps every loss."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.app.helpers import widget

SOAK_BATCHES = 200_000


@pytest.mark.soak
def test_200k_batches_with_the_live_plot(window, train, qtbot):
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("moons"))
    widget(window, "samplesSpin").setValue(16_000)  # 12,800 training samples after the 20% test split
    widget(window, "batchSizeSpin").setValue(1)
    widget(window, "epochsSpin").setValue(16)  # 16 x 12,800 = 204,800 batches
    widget(window, "hiddenSizesEdit").setText("8")
    widget(window, "learningRateSpin").setValue(0.01)
    window.resize(1280, 800)
    t0 = time.perf_counter()
    result = train(window, timeout=240_000)
    elapsed = time.perf_counter() - t0
    assert result.status == "finished", result.message
    losses = window.batch_losses()
    assert len(losses) == result.steps == 204_800 >= SOAK_BATCHES
    assert np.array_equal(losses, window.trainer.history.losses())  # every value reached the plot, in order
    assert np.array_equal(window.loss_plot.batch_steps(), np.arange(1, 204_801))
    x, y = window.loss_plot.batch_curve.getData()
    assert 0 < len(x) <= len(losses)  # what is drawn may be downsampled; the data is not
    assert window.progress_bar.value() == 204_800
    print(f"soak: {result.steps} batches in {elapsed:.1f} s ({result.samples_per_second:,.0f} samples/s)")
