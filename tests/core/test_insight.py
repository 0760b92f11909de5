"""core.insight: layer stats against a hand computation, the collapse diagnosis (a collapsed run warned, healthy
runs not), the recorder's throttling, and that looking inside never changes what training does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import insight
from core.config import DATASET_PRESETS, TrainConfig
from core.events import EpochEnd, TrainResult, TrainStart
from core.insight import (
    CAUSE_DEAD,
    CAUSE_ONE_CLASS,
    CAUSE_VANISHED,
    CollapseWatch,
    Diagnosis,
    LayerStats,
    UnitSnapshot,
    diagnose,
    find_causes,
    layer_stats,
    unit_activations,
)
from core.insight_recorder import InsightRecorder
from core.model import NeuralNetwork
from core.training import Trainer

# The acceptance run: the book's learning rate and batch size on the spiral, with a small ReLU network.
COLLAPSE = TrainConfig().with_changes(dataset={"name": "spiral"}, learning_rate=0.5, batch_size=2,
                                      hidden_sizes=(16, 16), activation="relu", optimizer="sgd", epochs=200)


def tiny_model() -> NeuralNetwork:
    """2 inputs, hidden 3 (ReLU), 2 outputs, with hand-set weights: hidden unit 3 is negative on every row."""
    model = NeuralNetwork(2, 2, (3,), "relu")
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        model.layers[0].bias.copy_(torch.tensor([0.0, 0.5, -5.0]))
        model.layers[2].weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.25]]))
        model.layers[2].bias.copy_(torch.tensor([0.1, -0.1]))
    return model


X_TINY = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [2.0, -1.0], [0.5, 0.5]])
Y_TINY = torch.tensor([1, 1, 0, 0])


def run(cfg: TrainConfig, **recorder) -> tuple[Trainer, list]:
    events: list = []
    rec = InsightRecorder(events.append, **recorder)
    trainer = Trainer(cfg, [rec], threads=1)
    rec.trainer = trainer
    trainer.fit()
    return trainer, events


def stats_with(**changes) -> LayerStats:
    base = dict(epoch=20, step=100, linear_names=("hidden 1", "hidden 2", "output"), weight_norm=(3.0, 2.0, 1.0),
                grad_norm=(0.1, 0.1, 0.1), hidden_sizes=(4, 4), dead_units=(1, 0), loss=0.3, accuracy=0.9,
                predicted_counts=(50, 50), label_counts=(50, 50), rows=100, train_samples=100)
    return LayerStats(**{**base, **changes})


# --- layer_stats ------------------------------------------------------------------------------------


def test_layer_stats_match_a_hand_computation():
    model = tiny_model()
    stats = layer_stats(model, X_TINY, Y_TINY, epoch=3, step=7)

    w0, b0, w1, b1 = (p.detach() for p in model.parameters())
    assert stats.linear_names == ("hidden 1", "output")
    assert stats.weight_norm == pytest.approx((math.sqrt(w0.pow(2).sum() + b0.pow(2).sum()),
                                               math.sqrt(w1.pow(2).sum() + b1.pow(2).sum())), rel=1e-6)
    # The gradient of the mean loss, as backward() gives it on a copy of the model.
    twin = tiny_model()
    F.cross_entropy(twin(X_TINY), Y_TINY).backward()
    g = [p.grad for p in twin.parameters()]
    assert stats.grad_norm == pytest.approx((math.sqrt(g[0].pow(2).sum() + g[1].pow(2).sum()),
                                             math.sqrt(g[2].pow(2).sum() + g[3].pow(2).sum())), rel=1e-6)
    # Unit 1 is positive on rows 0, 2, 3; unit 2 on all; unit 3 (bias -5) on none: one dead unit of three.
    assert stats.hidden_sizes == (3,)
    assert stats.dead_units == (1,)
    assert stats.dead_share == (pytest.approx(1 / 3),)
    logits = model(X_TINY).detach()
    pred = logits.argmax(1)
    assert stats.predicted_counts == tuple(torch.bincount(pred, minlength=2).tolist())
    assert stats.label_counts == (2, 2)
    assert stats.accuracy == pytest.approx(float((pred == Y_TINY).float().mean()))
    assert stats.loss == pytest.approx(float(F.cross_entropy(logits, Y_TINY)), rel=1e-6)
    assert (stats.epoch, stats.step, stats.rows) == (3, 7, 4)


def test_layer_stats_leave_the_parameters_grad_alone():
    model = tiny_model()
    layer_stats(model, X_TINY, Y_TINY)
    assert all(p.grad is None for p in model.parameters())
    F.cross_entropy(model(X_TINY[:2]), Y_TINY[:2]).backward()
    before = [p.grad.clone() for p in model.parameters()]
    layer_stats(model, X_TINY, Y_TINY)
    assert all(torch.equal(p.grad, b) for p, b in zip(model.parameters(), before, strict=True))


def test_dead_units_are_counted_for_relu_only():
    tanh = NeuralNetwork(2, 2, (3, 2), "tanh")
    stats = layer_stats(tanh, X_TINY, Y_TINY)
    assert stats.dead_units is None and stats.dead_share is None
    assert stats.linear_names == ("hidden 1", "hidden 2", "output")
    logistic = layer_stats(NeuralNetwork(2, 2, (), "relu"), X_TINY, Y_TINY)
    assert logistic.linear_names == ("output",) and logistic.dead_units is None


def test_unit_activations_are_each_units_output_over_the_plane():
    model = tiny_model()
    snap = unit_activations(model, ((-1.0, 2.0), (-1.0, 2.0)), grid=5, activation="relu", max_units=2)
    assert snap.hidden_sizes == (3,)
    assert snap.images[0].shape == (2, 5, 5) and snap.images[0].dtype == np.float32  # the first 2 of 3 units
    xs = np.linspace(snap.x_range[0], snap.x_range[1], 5)
    ys = np.linspace(snap.y_range[0], snap.y_range[1], 5)
    # Unit 1 is relu(x1): the same down each column, x's value along a row (row = y).
    assert snap.images[0][0][2] == pytest.approx(np.maximum(xs, 0), abs=1e-6)
    assert snap.images[0][1][:, 0] == pytest.approx(np.maximum(ys + 0.5, 0), abs=1e-6)


# --- the diagnosis ----------------------------------------------------------------------------------


def test_each_cause_is_found_and_named():
    assert find_causes(stats_with()) == ()
    dead = stats_with(dead_units=(1, 4))
    assert find_causes(dead) == (CAUSE_DEAD,)
    assert "all 4 units of hidden layer 2 are dead" in diagnose(dead, 0.5, "relu")
    one = stats_with(predicted_counts=(0, 100), accuracy=0.5, loss=0.9)
    assert find_causes(one) == (CAUSE_ONE_CLASS,)
    assert "every prediction is class 1 (50%" in diagnose(one, class_names=("0", "1"))
    # One class but already better than guessing the shares (log 2): still learning, not collapsed.
    assert find_causes(stats_with(predicted_counts=(0, 100), loss=0.5)) == ()
    vanished = stats_with(grad_norm=(0.0, 1e-9, 0.1))
    assert find_causes(vanished) == (CAUSE_VANISHED,)
    assert "hidden layers 1 and 2" in diagnose(vanished)
    # A model that fits its data has small gradients everywhere, not vanished ones.
    assert find_causes(stats_with(grad_norm=(1e-9, 1e-9, 1e-9), loss=1e-6)) == ()
    assert find_causes(stats_with(weight_norm=(math.nan, 1.0, 1.0), dead_units=(4, 4))) == ()  # diverged: the trainer says so


def test_the_advice_names_a_lower_rate_and_another_activation():
    text = diagnose(stats_with(dead_units=(4, 4)), learning_rate=0.5, activation="relu")
    assert text.startswith("The run has collapsed: ")
    assert "a lower learning rate (e.g. 0.05 instead of 0.5)" in text
    assert "another activation (leaky_relu or tanh)" in text
    assert diagnose(stats_with()) is None


def test_one_class_must_persist_but_a_dead_layer_counts_at_once():
    watch = CollapseWatch(persist_epochs=10)
    one = dict(predicted_counts=(0, 100), loss=0.9)
    assert watch.update(stats_with(epoch=0, **one)) == ()  # a fresh model often predicts one class
    assert watch.update(stats_with(epoch=9, **one)) == ()
    assert watch.update(stats_with(epoch=10, **one)) == (CAUSE_ONE_CLASS,)
    assert watch.update(stats_with(epoch=11)) == ()
    assert watch.update(stats_with(epoch=12, **one)) == ()  # it starts over
    assert watch.update(stats_with(epoch=13, dead_units=(4, 0))) == (CAUSE_DEAD,)


def test_the_collapsed_acceptance_run_is_warned():
    """Spiral, lr 0.5, batch 2, 16-16 ReLU, 200 epochs (about 10 s here): hidden layer 2 dies near epoch 54."""
    trainer, events = run(COLLAPSE, units=False)
    final = [e for e in events if isinstance(e, Diagnosis) and e.final]
    assert len(final) == 1 and events[-1] is final[0]
    assert CAUSE_DEAD in final[0].causes
    assert final[0].message.startswith("The run has collapsed: ")
    assert "all 16 units of hidden layer 2 are dead" in final[0].message
    assert "a lower learning rate (e.g. 0.05 instead of 0.5)" in final[0].message
    # ...and said while it ran, not only at the end.
    assert any(isinstance(e, Diagnosis) and not e.final and e.message for e in events)
    last = [e for e in events if isinstance(e, LayerStats)][-1]
    assert last.epoch == 200 and last.dead_units[1] == 16 and max(last.predicted_counts) == last.rows


@pytest.mark.parametrize("name", ["appendix-a", "moons", "spiral"])
def test_healthy_runs_are_never_warned(name, monkeypatch):
    monkeypatch.setattr(insight, "COST_SHARE", 1.0)
    cfg = TrainConfig().with_changes(dataset={"name": name}, **DATASET_PRESETS[name])
    # A look at every epoch: the strictest test of the persistence rule. A clock that stands still: with the real
    # one a look slower than the next epoch (a busy machine) was skipped, and 99 looks came instead of 101.
    _, events = run(cfg, units=False, stats_interval_s=0.0, clock=lambda: 0.0)
    assert len([e for e in events if isinstance(e, LayerStats)]) == cfg.epochs + 1
    diagnoses = [e for e in events if isinstance(e, Diagnosis)]
    assert [d.message for d in diagnoses] == [None] and diagnoses[0].final


# --- the recorder -----------------------------------------------------------------------------------


def test_looking_inside_does_not_change_training(monkeypatch):
    monkeypatch.setattr(insight, "COST_SHARE", 1.0)  # a look at every epoch, however short
    cfg = TrainConfig().with_changes(dataset={"name": "spiral", "samples": 200}, epochs=6, batch_size=8)
    plain = Trainer(cfg, threads=1)
    plain.fit()
    watched, events = run(cfg, stats_interval_s=0.0, units_interval_s=0.0, clock=lambda: 0.0)  # every look due
    assert watched.history.batch_loss == plain.history.batch_loss  # bit for bit
    assert [e.test_loss for e in watched.history.epochs] == [e.test_loss for e in plain.history.epochs]
    for key, value in plain.model.state_dict().items():
        assert torch.equal(watched.model.state_dict()[key], value)
    assert len([e for e in events if isinstance(e, UnitSnapshot)]) == 7  # the start and each epoch


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_looks_are_throttled_with_the_first_and_last_forced():
    clock = FakeClock()
    events: list = []
    trainer = Trainer(TrainConfig(), threads=1)
    rec = InsightRecorder(events.append, stats_interval_s=0.5, units_interval_s=1.0, clock=clock, trainer=trainer)
    rec.on_train_start(TrainStart("cpu", 100, 1, 2, 200, 5, 2, 100))

    def epoch(n: int, at: float) -> None:
        clock.t = at
        trainer.steps = 2 * n
        trainer.epochs_completed = n
        rec.on_epoch_end(EpochEnd(n, 2 * n, 0.5, 0.5, 1.0, 1.0, at))

    epoch(1, 0.01)  # the first epoch: forced
    for n, at in enumerate([0.1, 0.2, 0.3, 0.45, 0.52, 0.6, 1.02, 1.1, 1.2], start=2):
        epoch(n, at)
    rec.on_train_end(TrainResult("finished", "", 10, 20, 1.2, 1.0))
    stats = [e.epoch for e in events if isinstance(e, LayerStats)]
    units = [e.epoch for e in events if isinstance(e, UnitSnapshot)]
    assert stats == [0, 1, 6, 8, 10]  # start, first epoch, 0.52 s, 1.02 s, end
    assert units == [0, 1, 8, 10]  # start, first epoch, 1.02 s, end
    assert isinstance(events[-1], Diagnosis) and events[-1].final


def test_a_costly_look_waits_longer(monkeypatch):
    clock = FakeClock()
    events: list = []
    trainer = Trainer(TrainConfig(), threads=1)
    real = insight.layer_stats

    def slow_stats(*args, **kwargs):
        clock.t += 0.1  # a look that takes 100 ms: at most COST_SHARE (1%) of the time, so 10 s apart
        return real(*args, **kwargs)

    monkeypatch.setattr(insight, "layer_stats", slow_stats)
    rec = InsightRecorder(events.append, units=False, stats_interval_s=0.25, clock=clock, trainer=trainer)
    rec.on_train_start(TrainStart("cpu", 100, 1, 2, 200, 5, 2, 100))
    for n in range(2, 400):
        clock.t += 0.1
        trainer.steps = n
        rec.on_epoch_end(EpochEnd(n, n, 0.5, 0.5, 1.0, 1.0, clock.t))
    times = [e.epoch for e in events if isinstance(e, LayerStats)]
    assert times[0] == 0 and len(times) >= 3 and all(b - a >= 100 for a, b in zip(times[1:], times[2:], strict=False))


def test_a_recorder_without_a_trainer_does_nothing():
    events: list = []
    rec = InsightRecorder(events.append)
    rec.on_train_start(TrainStart("cpu", 1, 1, 1, 1, 5, 2, 10))
    rec.on_epoch_end(EpochEnd(1, 1, 0.5, 0.5, 1.0, 1.0, 0.1))
    rec.on_train_end(TrainResult("finished", "", 1, 1, 0.1, 1.0))
    assert events == []


def test_no_pictures_for_data_that_is_not_2d():
    cfg = TrainConfig().with_changes(dataset={"name": "iris"}, epochs=2, batch_size=16)
    _, events = run(cfg)
    assert not any(isinstance(e, UnitSnapshot) for e in events)
    assert any(isinstance(e, LayerStats) for e in events)
