"""TensorBoard's smoothing, written here one value at a time as its JavaScript does, to test the app's against."""

from __future__ import annotations

import math


def tensorboard_ema(values, weight: float) -> list[float]:
    """last = 0, n = 0; for each finite value last = last * w + (1 - w) * v, n += 1, smoothed = last / (1 - w**n);
    a value that is not finite is shown as it is and leaves the average alone."""
    last, n, out = 0.0, 0, []
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1.0 - weight) * v
        n += 1
        out.append(last / (1.0 - weight**n))
    return out
