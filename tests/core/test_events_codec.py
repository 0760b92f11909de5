"""One JSON codec for every event a run sends (core.events): a torchrun run's stream carries them all."""

from __future__ import annotations

import numpy as np

from core.config import TrainConfig
from core.events import BatchEnd, EpochEnd, TrainResult, TrainStart, event_from_json, event_to_json
from core.insight import Diagnosis, LayerStats, UnitSnapshot
from core.insight_recorder import InsightRecorder
from core.training import Trainer


def test_every_event_a_run_sends_round_trips_through_one_json_line():
    events: list = []
    rec = InsightRecorder(events.append)
    trainer = Trainer(TrainConfig(), [rec], threads=1)
    rec.trainer = trainer
    sent: list = []

    class Keep(InsightRecorder.__mro__[1]):  # a plain Callback
        def on_train_start(self, info): sent.append(info)
        def on_batch_end(self, event): sent.append(event)
        def on_epoch_end(self, event): sent.append(event)
        def on_train_end(self, result): sent.append(result)

    trainer.callbacks.append(Keep())
    trainer.fit()
    kinds = {type(e) for e in [*sent, *events]}
    assert {TrainStart, BatchEnd, EpochEnd, TrainResult, LayerStats, UnitSnapshot, Diagnosis} <= kinds
    for event in [*sent, *events]:
        back = event_from_json(event_to_json(event))
        assert type(back) is type(event)
        if isinstance(event, UnitSnapshot):
            assert all(np.array_equal(a, b) and b.dtype == np.float32 for a, b in zip(event.images, back.images, strict=True))
            assert back.hidden_sizes == event.hidden_sizes and back.x_range == event.x_range
        else:
            assert back == event


def test_lines_that_are_not_events_are_none():
    for line in ("", "hello", "{", '{"type": "Nope"}', '{"type": "BatchEnd", "epoch": "x"}', "[1, 2]"):
        assert event_from_json(line) is None, line
