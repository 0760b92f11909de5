"""Curve data without Qt: growing numpy buffers, min/max levels for drawing long curves from few points,
and TensorBoard's debiased exponential moving average (the loss curve's smoothing)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# Within one block of the smoothing's vectorized form, weight**-k must stay far from overflow.
_EMA_SCALE_LIMIT = 150 * math.log(10)
_EMA_MAX_BLOCK = 65_536
_EMA_FIR_BLOCK = 2_048
_EMA_FIR_LOG = 18 * math.log(10)


class GrowingBuffer:
    """A numpy array that grows by doubling, so appending n values costs O(n) overall."""

    def __init__(self, dtype=np.float64, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=self._data.dtype).ravel()
        need = self._n + values.shape[0]
        if need > self._data.shape[0]:
            cap = self._data.shape[0]
            while cap < need:
                cap *= 2
            grown = np.empty(cap, dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = values
        self._n = need

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` values now, so appending up to there never stops to copy."""
        if capacity > self._data.shape[0]:
            grown = np.empty(capacity, dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown

    def view(self) -> np.ndarray:
        """The filled part (a view: copy it before keeping it)."""
        return self._data[: self._n]

    def clear(self) -> None:
        self._n = 0

    def truncate(self, n: int) -> None:
        """Keep the first n values."""
        self._n = min(self._n, max(0, n))


class PeakLevels:
    """Each block's min and max at coarser and coarser levels (FACTOR**j values a block at level j),
    kept up to date as values are appended: the cost of an append is that of the new values, not
    of the history, so a curve of any length can be shown from a few thousand points.
    """

    FACTOR = 4

    def __init__(self, target: int, dtype=np.float64):
        self.target = target  # levels are built until one draws at most this many points
        self.dtype = dtype  # of the levels (float32 for a curve only drawn, such as the smoothed loss)
        self._mins: list[GrowingBuffer] = []
        self._maxs: list[GrowingBuffer] = []

    def clear(self) -> None:
        for buf in (*self._mins, *self._maxs):
            buf.clear()

    def reserve(self, n: int) -> None:
        size = n
        for lo, hi in zip(self._mins, self._maxs, strict=True):
            size = -(-size // self.FACTOR)
            lo.reserve(size)
            hi.reserve(size)

    def update(self, values: np.ndarray, first_new: int) -> None:
        """`values` (all of them) changed from index `first_new` on (appended, or the first time)."""
        f = self.FACTOR
        lo_src = hi_src = values
        n, changed, j = values.shape[0], first_new, 0
        while 2 * n > self.target:  # two points (min, max) a block
            if j == len(self._mins):
                self._mins.append(GrowingBuffer(self.dtype))
                self._maxs.append(GrowingBuffer(self.dtype))
            # From the block holding the first changed value, or from where this level stops (a
            # level first needed now is built whole).
            first_block = min(changed // f, len(self._mins[j]))
            starts = np.arange(0, n - first_block * f, f)
            # fmin/fmax skip a nan (a diverged batch) unless the whole block is nan.
            mins = np.fmin.reduceat(lo_src[first_block * f : n], starts)
            maxs = np.fmax.reduceat(hi_src[first_block * f : n], starts)
            for buf, new in ((self._mins[j], mins), (self._maxs[j], maxs)):
                buf.truncate(first_block)
                buf.extend(new)
            lo_src, hi_src = self._mins[j].view(), self._maxs[j].view()
            n, changed, j = lo_src.shape[0], first_block, j + 1
        for buf in (*self._mins[j:], *self._maxs[j:]):  # levels a shorter history no longer needs
            buf.clear()

    def select(self, values: np.ndarray, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, y) to draw for values[i0:i1]: the values themselves when there are at most `target`,
        else each block's min and max (in that order, at the block's first index) at the finest level
        that keeps under `target` points: what peak downsampling of the values themselves shows."""
        if i1 - i0 <= self.target:
            return np.arange(i0, i1), values[i0:i1]
        f = self.FACTOR
        size = 1
        for lo, hi in zip(self._mins, self._maxs, strict=True):
            size *= f
            b0, b1 = i0 // size, min(-(-i1 // size), len(lo))
            if 2 * (b1 - b0) <= self.target or lo is self._mins[-1]:
                m = b1 - b0
                idx = np.empty(2 * m + 1, dtype=np.int64)
                y = np.empty(2 * m + 1, dtype=np.float64)
                idx[0:-1:2] = idx[1:-1:2] = np.arange(b0, b1) * size
                y[0:-1:2] = lo.view()[b0:b1]
                y[1:-1:2] = hi.view()[b0:b1]
                idx[-1], y[-1] = i1 - 1, values[i1 - 1]  # the curve ends where the data does
                return idx, y
        return np.arange(i0, i1), values[i0:i1]


class EmaState:
    """Where TensorBoard's smoothing stands after some values: the running average and how many
    finite values went into it (for the debiasing)."""

    __slots__ = ("last", "count")

    def __init__(self, last: float = 0.0, count: int = 0):
        self.last = last
        self.count = count


def debiased_ema(values: np.ndarray, weight: float, state: EmaState | None = None) -> np.ndarray:
    """TensorBoard's smoothing of `values` (its scalars dashboard, `smoothingWeight` = `weight`):

        last = last * weight + (1 - weight) * value;  n += 1;  smoothed = last / (1 - weight**n)

    starting from last = 0, n = 0; a value that is not finite is shown as it is and leaves the average
    alone. `state` (updated in place) continues an earlier call, so a growing curve is smoothed in
    O(new values). Vectorized in blocks short enough that weight**-k cannot overflow: a million values
    in tens of milliseconds, not a second of Python.
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    if state is None:
        state = EmaState()
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"the smoothing weight must be at least 0 and below 1, not {weight}")
    finite = np.isfinite(values)
    x = values[finite]
    m = x.shape[0]
    if m == 0:
        return out
    if weight == 0.0:
        state.last, state.count = float(x[-1]), state.count + m
        return out
    log_w = math.log(weight)
    block = max(1, min(_EMA_MAX_BLOCK, int(_EMA_SCALE_LIMIT / -log_w)))
    smoothed = np.empty(m, dtype=np.float64)
    last, count = state.last, state.count
    taps = int(math.ceil(_EMA_FIR_LOG / -log_w))  # weight**taps < 1e-18 of a value's weight
    if m > 4 * block and block < _EMA_FIR_BLOCK:
        # A light weight forgets fast: past the first block the average is a short filter of the
        # latest `taps` values (what older ones add is below 1e-18 of the result), one convolution
        # instead of thousands of short blocks.
        head = debiased_ema(x[:block], weight, state)
        kernel = (1.0 - weight) * np.exp(log_w * np.arange(taps + 1))
        run = np.convolve(x, kernel)[block : m]
        n = count + np.arange(block + 1, m + 1, dtype=np.float64)
        smoothed[:block] = head
        smoothed[block:] = run / -np.expm1(n * log_w)
        state.last, state.count = float(run[-1]), count + m
        out[finite] = smoothed
        return out
    for start in range(0, m, block):
        xb = x[start : start + block]
        k = np.arange(1, xb.shape[0] + 1, dtype=np.float64)
        up = np.exp(-log_w * k)  # weight**-k
        down = np.exp(log_w * k)  # weight**k
        run = down * (last + (1.0 - weight) * np.cumsum(xb * up))
        n = count + k
        smoothed[start : start + xb.shape[0]] = run / -np.expm1(n * log_w)  # / (1 - weight**n)
        last, count = float(run[-1]), count + xb.shape[0]
    state.last, state.count = last, count
    out[finite] = smoothed
    return out
