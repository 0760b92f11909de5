"""Curve data without Qt (app/curves.py, app/runs.py): TensorBoard's debiased moving average against a
one-value-at-a-time reference, the min/max levels the plots draw long curves from, and the run records
(x by step, epoch, samples or wall time; what changed between runs; the curves' CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pytest

from app.state.curves import EmaState, PeakLevels, debiased_ema
from app.state.runs import CSV_COLUMNS, RunList, RunRecord, config_changes, export_curves_csv
from core.config import DatasetConfig, TrainConfig
from core.events import EpochEnd
from core.history import History
from tests.tensorboard import tensorboard_ema

WEIGHTS = (0.0, 1e-9, 0.01, 0.3, 0.6, 0.9, 0.99, 0.999)
LENGTHS = (0, 1, 5, 10_000, 100_000)


def losses_like(n: int, seed: int = 0) -> np.ndarray:
    """A noisy falling loss curve."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return 2.0 * np.exp(-t / max(n / 5, 1)) + 0.05 + rng.uniform(0.0, 0.5, n)


def assert_same_curve(got, expected, rtol: float = 1e-9) -> None:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape
    # nan where nan, inf where inf (same sign), the rest close.
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    fin = np.isfinite(expected)
    assert np.array_equal(got[~fin & ~np.isnan(expected)], expected[~fin & ~np.isnan(expected)])
    if fin.any():
        np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=1e-12)


# --- TensorBoard's debiased EMA ------------------------------------------------------------------


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize("n", LENGTHS)
def test_debiased_ema_matches_tensorboard(weight, n):
    values = losses_like(n, seed=n)
    got = debiased_ema(values, weight)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert_same_curve(got, tensorboard_ema(values, weight))
    if weight == 0.0:
        assert np.array_equal(got, values)  # no smoothing: the losses themselves
    if n:
        assert got[0] == pytest.approx(values[0], rel=1e-12)  # debiased: starts at the first value, not near 0


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize("n", (7, 10_000, 100_000))
def test_debiased_ema_passes_non_finite_values_through(weight, n):
    values = losses_like(n, seed=1)
    rng = np.random.default_rng(2)
    holes = rng.choice(n, size=max(3, n // 100), replace=False)
    values[holes[0::3]] = np.nan
    values[holes[1::3]] = np.inf
    values[holes[2::3]] = -np.inf
    values[0] = np.nan  # a non-finite first value: the average starts with the next finite one
    got = debiased_ema(values, weight)
    expected = tensorboard_ema(values, weight)
    assert_same_curve(got, expected)
    assert np.isnan(got[0]) and np.all(np.isfinite(got[np.isfinite(values)]))


def test_debiased_ema_of_only_non_finite_values_is_themselves():
    values = np.array([np.nan, np.inf, -np.inf])
    state = EmaState()
    got = debiased_ema(values, 0.6, state)
    assert_same_curve(got, values)
    assert state.count == 0 and state.last == 0.0
    assert debiased_ema(np.array([]), 0.6).shape == (0,)


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize("n", (5, 10_000, 100_000))
def test_debiased_ema_in_chunks_equals_whole(weight, n):
    values = losses_like(n, seed=3)
    values[::97] = np.nan
    whole = debiased_ema(values, weight)
    rng = np.random.default_rng(4)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, 40), replace=False)) if n > 1 else []
    # Chunks of every size: empty, one value, all nan, long (past a block and the convolution's head).
    cuts = sorted({0, *map(int, cuts), n // 2, n // 2, n})
    state = EmaState()
    parts = [debiased_ema(values[a:b], weight, state) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    parts.append(debiased_ema(values[n:], weight, state))
    assert_same_curve(np.concatenate(parts), whole, rtol=1e-9)
    assert state.count == int(np.isfinite(values).sum())
    assert_same_curve(np.concatenate(parts), tensorboard_ema(values, weight))


def test_debiased_ema_state_continues_where_a_single_long_call_left_off():
    values = losses_like(50_000, seed=5)
    state = EmaState()
    first = debiased_ema(values[:30_000], 0.6, state)  # the convolution path
    rest = debiased_ema(values[30_000:], 0.6, state)
    assert_same_curve(np.concatenate([first, rest]), tensorboard_ema(values, 0.6))


@pytest.mark.parametrize("weight", (-0.1, 1.0, 1.5))
def test_debiased_ema_refuses_a_weight_outside_0_to_1(weight):
    with pytest.raises(ValueError, match="weight"):
        debiased_ema(np.ones(3), weight)


# --- min/max levels ----------------------------------------------------------------------------


def brute_select(values: np.ndarray, i0: int, i1: int, target: int, factor: int = PeakLevels.FACTOR):
    """What PeakLevels.select should give, from the values alone: the values themselves when few, else
    each whole block's min and max (nan skipped unless the block is all nan) at the finest block size
    that keeps 2 points a block within `target`, and the last value."""
    if i1 - i0 <= target:
        return np.arange(i0, i1), values[i0:i1]
    size = factor
    while 2 * (-(-i1 // size) - i0 // size) > target:
        size *= factor
    idx, y = [], []
    with np.errstate(all="ignore"):
        for b in range(i0 // size, -(-i1 // size)):
            block = values[b * size : (b + 1) * size]
            lo = np.nan if np.isnan(block).all() else np.nanmin(block)
            hi = np.nan if np.isnan(block).all() else np.nanmax(block)
            idx += [b * size, b * size]
            y += [lo, hi]
    idx.append(i1 - 1)
    y.append(values[i1 - 1])
    return np.array(idx), np.array(y)


def assert_select(levels: PeakLevels, values: np.ndarray, i0: int, i1: int) -> None:
    idx, y = levels.select(values, i0, i1)
    e_idx, e_y = brute_select(values, i0, i1, levels.target)
    assert np.array_equal(idx, e_idx), (i0, i1)
    assert np.array_equal(y, e_y, equal_nan=True), (i0, i1)
    assert len(idx) <= levels.target + 1


def spans(n: int):
    return [(0, n), (0, min(n, 10)), (n // 3, n), (n // 7, n // 2 + 1), (n - 1, n), (1, n - 1)]


@pytest.mark.parametrize("n", (10, 300, 5_000, 70_001))
def test_peak_levels_select_equals_a_fresh_min_max(n):
    values = losses_like(n, seed=n)
    values[7::501] = np.nan
    values[20:20 + 64] = np.nan  # whole blocks of nan (a diverged stretch)
    levels = PeakLevels(256)
    levels.update(values, 0)
    for i0, i1 in spans(n):
        if i1 > i0:
            assert_select(levels, values, i0, i1)


def test_peak_levels_grown_piece_by_piece_equal_levels_built_at_once():
    n = 40_000
    values = losses_like(n, seed=9)
    values[1234] = np.nan
    grown = PeakLevels(128)
    rng = np.random.default_rng(10)
    done = 0
    while done < n:
        upto = min(n, done + int(rng.integers(1, 3_000)))
        grown.update(values[:upto], done)
        done = upto
        for i0, i1 in ((0, upto), (upto // 2, upto)):
            assert_select(grown, values[:upto], i0, i1)
    fresh = PeakLevels(128)
    fresh.update(values, 0)
    for i0, i1 in spans(n):
        a, b = grown.select(values, i0, i1), fresh.select(values, i0, i1)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1], equal_nan=True)


def test_peak_levels_after_clear_follow_a_shorter_history():
    levels = PeakLevels(64)
    long = losses_like(10_000, seed=11)
    levels.update(long, 0)
    levels.clear()
    short = losses_like(500, seed=12)
    levels.update(short, 0)
    assert_select(levels, short, 0, 500)
    assert_select(levels, short, 100, 400)


# --- run records ----------------------------------------------------------------------------------

# The book's run: 5 training samples, batches of 2, drop_last: 2 batches an epoch, 3 epochs.
BOOK = dict(steps=np.arange(1, 7), losses=np.array([0.75, 0.65, 0.44, 0.13, 0.03, 0.001]),
            elapsed=np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), epoch=np.array([1, 1, 2, 2, 3, 3]),
            batch=np.array([1, 2, 1, 2, 1, 2]), size=np.array([2, 2, 2, 2, 2, 2]))


def epoch_end(epoch: int, step: int, elapsed: float, loss: float = 0.5) -> EpochEnd:
    return EpochEnd(epoch=epoch, step=step, train_loss=loss, test_loss=loss + 0.1, train_accuracy=0.5 + 0.1 * epoch,
                    test_accuracy=0.4 + 0.1 * epoch, elapsed=elapsed)


def book_record(run_id: int = 1, name: str = "run 1") -> RunRecord:
    run = RunRecord(run_id, name, (1, 2, 3), TrainConfig())
    run.begin_fit()
    b = BOOK
    run.append_batches(b["steps"][:3], b["losses"][:3], b["elapsed"][:3], b["epoch"][:3], b["batch"][:3], b["size"][:3], 2)
    run.append_epochs([epoch_end(1, 2, 0.2)])
    run.append_batches(b["steps"][3:], b["losses"][3:], b["elapsed"][3:], b["epoch"][3:], b["batch"][3:], b["size"][3:], 2)
    run.append_epochs([epoch_end(2, 4, 0.4), epoch_end(3, 6, 0.6)])
    return run


def assert_increasing(x: np.ndarray) -> None:
    assert np.all(np.isfinite(x)) and np.all(np.diff(x) > 0), x


def test_run_record_x_by_step_epoch_samples_and_time():
    run = book_record()
    assert len(run) == 6 and run.first_step == 1
    assert run.batch_x("step").tolist() == [1, 2, 3, 4, 5, 6]
    assert run.batch_x("epoch").tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert run.batch_x("samples").tolist() == [2, 4, 6, 8, 10, 12]
    np.testing.assert_allclose(run.batch_x("time"), BOOK["elapsed"], rtol=1e-6)
    for mode in ("step", "epoch", "samples", "time"):
        assert_increasing(run.batch_x(mode))
        assert len(run.batch_x(mode)) == 6
    # Each epoch's point sits at its last batch, whatever x counts.
    assert run.epoch_x("step").tolist() == [2, 4, 6]
    assert run.epoch_x("epoch").tolist() == [1, 2, 3]
    assert run.epoch_x("samples").tolist() == [4, 8, 12]
    np.testing.assert_allclose(run.epoch_x("time"), [0.2, 0.4, 0.6])
    assert run.epoch_column("test_acc").tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert "loss 0.5" in run.final_text() and "test 70.0%" in run.final_text() and "epoch 3" in run.final_text()


def test_run_record_read_while_growing_equals_read_at_the_end():
    """x is kept and grown with the run: reading it between batches gives what reading it once does."""
    grown = RunRecord(1, "a", (1, 2, 3), None)
    grown.begin_fit()
    b = BOOK
    for i in range(6):
        grown.append_batches(b["steps"][i:i + 1], b["losses"][i:i + 1], b["elapsed"][i:i + 1], b["epoch"][i:i + 1],
                             b["batch"][i:i + 1], b["size"][i:i + 1], 2)
        for mode in ("step", "epoch", "samples", "time"):
            assert len(grown.batch_x(mode)) == i + 1
    once = book_record()
    for mode in ("step", "epoch", "samples", "time"):
        assert np.array_equal(grown.batch_x(mode), once.batch_x(mode))


def test_a_continued_fit_goes_on_in_every_x():
    """Continue training: the trainer's clock and its batch counter restart, the run's x goes on."""
    run = book_record()
    run.batch_x("epoch"), run.batch_x("samples")  # cached before the fit goes on
    run.begin_fit()
    # Three more epochs with batches of one (5 batches an epoch): steps 7..21, elapsed from 0 again.
    n = 15
    steps = np.arange(7, 7 + n)
    epoch = np.repeat([4, 5, 6], 5)
    batch = np.tile(np.arange(1, 6), 3)
    elapsed = 0.05 * np.arange(1, n + 1)
    run.append_batches(steps, np.full(n, 0.01), elapsed, epoch, batch, np.ones(n, dtype=np.int32), 5)
    run.append_epochs([epoch_end(4, 11, 0.25), epoch_end(5, 16, 0.5), epoch_end(6, 21, 0.75)])
    assert len(run) == 21
    assert run.batch_x("step").tolist() == list(range(1, 22))
    np.testing.assert_allclose(run.batch_x("epoch")[6:], 3 + np.arange(1, n + 1) / 5)
    assert run.batch_x("epoch")[:6].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert run.batch_x("samples")[6:].tolist() == list(range(13, 13 + n))
    np.testing.assert_allclose(run.batch_x("time")[6:], 0.6 + elapsed, rtol=1e-6)
    np.testing.assert_allclose(run.epoch_x("time"), [0.2, 0.4, 0.6, 0.85, 1.1, 1.35], rtol=1e-6)
    for mode in ("step", "epoch", "samples", "time"):
        assert_increasing(run.batch_x(mode))
        assert_increasing(run.epoch_x(mode))


def book_history(extra: int = 0) -> History:
    losses = [0.75, 0.65, 0.44, 0.13, 0.03, 0.001] + [0.002] * extra
    return History(losses, [epoch_end(1, 2, 0.2), epoch_end(2, 4, 0.4), epoch_end(3, 6, 0.6)])


def test_set_history_rebuilds_epochs_batches_and_times():
    run = RunRecord(1, "book.pt", (1, 2, 3), TrainConfig(), source="/tmp/book.pt")
    run.set_history(book_history(), batch_size=2)
    assert run.losses.view().tolist() == [0.75, 0.65, 0.44, 0.13, 0.03, 0.001]
    assert run.epoch.view().tolist() == [1, 1, 2, 2, 3, 3]
    assert run.batch.view().tolist() == [1, 2, 1, 2, 1, 2]
    assert run.batch_x("step").tolist() == [1, 2, 3, 4, 5, 6]
    assert run.batch_x("epoch").tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert run.batch_x("samples").tolist() == [2, 4, 6, 8, 10, 12]
    np.testing.assert_allclose(run.batch_x("time"), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rtol=1e-6)
    assert [e.epoch for e in run.epochs] == [1, 2, 3]
    # And a model from a file trained on: its run goes on after the file's curve.
    run.begin_fit()
    run.append_batches(np.arange(7, 9), np.array([0.01, 0.02]), np.array([0.1, 0.2]), np.array([4, 4]),
                       np.array([1, 2]), np.array([2, 2]), 2)
    np.testing.assert_allclose(run.batch_x("time")[6:], [0.7, 0.8], rtol=1e-6)
    assert run.batch_x("epoch")[6:].tolist() == [3.5, 4.0]
    for mode in ("step", "epoch", "samples", "time"):
        assert_increasing(run.batch_x(mode))


def test_a_file_stopped_mid_epoch_then_trained_on_keeps_its_wall_time():
    run = RunRecord(1, "stopped.pt", (1, 2, 3), TrainConfig())
    run.set_history(book_history(extra=1), batch_size=2)  # stopped after the first batch of epoch 4
    assert run.epoch.view().tolist() == [1, 1, 2, 2, 3, 3, 4]
    run.begin_fit()
    run.append_batches(np.arange(8, 10), np.array([0.01, 0.02]), np.array([0.1, 0.2]), np.array([4, 5]),
                       np.array([2, 1]), np.array([2, 2]), 2)
    assert np.all(np.isfinite(run.batch_x("time")[7:]))


def test_set_history_of_a_run_stopped_mid_epoch_puts_the_rest_in_the_next_epoch():
    run = RunRecord(1, "stopped.pt", (1, 2, 3), TrainConfig())
    run.set_history(book_history(extra=1), batch_size=2)
    assert len(run) == 7 and run.batch.view().tolist()[-1] == 1 and run.epoch.view().tolist()[-1] == 4
    assert run.batch_x("samples").tolist()[-1] == 14
    assert_increasing(run.batch_x("epoch"))


def test_smoothing_is_the_debiased_ema_of_the_run_and_follows_new_batches():
    run = book_record()
    run.set_smoothing(0.6)
    np.testing.assert_allclose(run.smoothed.view(), tensorboard_ema(run.losses.view(), 0.6), rtol=1e-6)
    run.append_batches(np.array([7, 8]), np.array([0.2, np.nan]), np.array([0.7, 0.8]), np.array([4, 4]),
                       np.array([1, 2]), np.array([2, 2]), 2)
    expected = tensorboard_ema(run.losses.view(), 0.6)
    assert_same_curve(run.smoothed.view(), np.asarray(expected, dtype=np.float32), rtol=1e-6)
    run.set_smoothing(0.0)
    assert len(run.smoothed) == 0
    run.set_smoothing(0.9)
    assert_same_curve(run.smoothed.view(), np.asarray(tensorboard_ema(run.losses.view(), 0.9), dtype=np.float32))


# --- the runs list and what changed between runs ----------------------------------------------------


def test_config_changes_in_the_forms_words():
    book = TrainConfig()
    assert config_changes(None, book) == [] and config_changes(book, None) == []
    assert config_changes(book, TrainConfig()) == []
    assert config_changes(book, replace(book, learning_rate=0.05)) == ["Learning rate 0.5 → 0.05"]
    assert config_changes(book, replace(book, hidden_sizes=(8,))) == ["Hidden layer sizes 30, 20 → 8"]
    assert config_changes(book, replace(book, hidden_sizes=())) == ["Hidden layer sizes 30, 20 → none"]
    assert config_changes(book, replace(book, shuffle=False)) == ["Shuffle every epoch on → off"]
    moons = replace(book, dataset=DatasetConfig(name="moons"), seed=7, epochs=10)
    changes = config_changes(book, moons)
    assert "Data set appendix-a → moons" in changes
    assert "Random seed 123 → 7" in changes and "Epochs 3 → 10" in changes


def test_run_list_names_colours_and_changes():
    runs = RunList()
    first = runs.new_run(TrainConfig())
    second = runs.new_run(replace(TrainConfig(), learning_rate=0.1))
    assert [r.name for r in runs.runs] == ["run 1", "run 2"] and runs.current is second
    assert first.color != second.color
    assert first.changes == [] and second.changes == ["Learning rate 0.5 → 0.1"]
    assert "lr 0.1" in second.settings_text() and "layers 30, 20" in second.settings_text()
    second.visible = False
    assert runs.visible() == [first]
    runs.remove(second.id)
    assert runs.runs == [first] and runs.current is None and runs.get(second.id) is None
    third = runs.new_run(TrainConfig(), name="book.pt", source="/x/book.pt")
    # Ids are never reused; what changed is from the run before it in the list (the removed one is gone).
    assert third.id == 3 and third.name == "book.pt" and third.source == "/x/book.pt" and third.changes == []


# --- the curves' CSV ----------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert tuple(header) == CSV_COLUMNS == ("run", "epoch", "batch", "step", "loss", "smoothed")
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_export_curves_csv_rows_columns_and_values():
    first = book_record(1, "run 1")
    second = RunRecord(2, "lr 0.05, again", (4, 5, 6), None)  # a comma in the name: quoted
    second.append_batches(np.arange(1, 5), np.array([1.0, np.nan, 0.5, 0.25]))
    rows = read_csv(export_curves_csv([first, second], 0.6))
    assert len(rows) == 10
    assert [r["run"] for r in rows] == ["run 1"] * 6 + ["lr 0.05, again"] * 4
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
    assert [int(r["epoch"]) for r in rows[:6]] == [1, 1, 2, 2, 3, 3]
    assert [int(r["batch"]) for r in rows[:6]] == [1, 2, 1, 2, 1, 2]
    assert [float(r["loss"]) for r in rows[:6]] == BOOK["losses"].tolist()  # full precision
    for run, part in ((first, rows[:6]), (second, rows[6:])):
        assert_same_curve([float(r["smoothed"]) for r in part], tensorboard_ema(run.losses.view(), 0.6), rtol=1e-12)
    assert rows[7]["loss"] == "nan" and rows[7]["smoothed"] == "nan"
    # Without smoothing the smoothed column is the loss itself.
    plain = read_csv(export_curves_csv([first], 0.0))
    assert [r["smoothed"] for r in plain] == [r["loss"] for r in plain]
    assert read_csv(export_curves_csv([], 0.6)) == []
