"""The engine reproduces the book's run and equals a plain DataLoader loop bit for bit."""

import threading

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from core.config import TrainConfig, batches_per_epoch
from core.data import ToyDataset, load_dataset
from core.events import Callback
from core.model import NeuralNetwork
from core.training import History, Trainer, TrainingError

BOOK_LOSSES = [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]


def dataloader_losses(cfg: TrainConfig) -> list[float]:
    """The book's loop, verbatim in spirit: Dataset + DataLoader + seeded model + SGD."""
    data = load_dataset(cfg.dataset)
    loader = DataLoader(
        ToyDataset(data.X_train, data.y_train),
        batch_size=cfg.batch_size,
        shuffle=cfg.shuffle,
        drop_last=cfg.drop_last,
        num_workers=0,
    )
    torch.manual_seed(cfg.seed)
    model = NeuralNetwork(data.num_features, data.num_classes, cfg.hidden_sizes, cfg.activation)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    out = []
    for _ in range(cfg.epochs):
        model.train()
        for features, labels in loader:
            logits = model(features)
            loss = F.cross_entropy(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
    return out


def engine_losses(cfg: TrainConfig) -> list[float]:
    trainer = Trainer(cfg)
    trainer.fit()
    return list(trainer.history.batch_loss)


def test_book_run_prints_the_book_losses():
    losses = engine_losses(TrainConfig())
    assert [round(x, 2) for x in losses] == BOOK_LOSSES
    trainer = Trainer(TrainConfig())
    result = trainer.fit()
    assert result.status == "finished"
    assert result.last_epoch.train_accuracy == 1.0 and result.last_epoch.test_accuracy == 1.0


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"drop_last": False},
        {"shuffle": False},
        {"seed": 7, "batch_size": 3, "drop_last": False},
        {"seed": 1, "batch_size": 1, "epochs": 4},
        {"dataset": {"name": "moons", "samples": 203, "seed": 3}, "batch_size": 16, "drop_last": False, "epochs": 3},
        {"dataset": {"name": "blobs", "samples": 150, "classes": 4}, "batch_size": 32, "seed": 99, "epochs": 2},
        {"dataset": {"name": "iris"}, "batch_size": 10, "optimizer": "adam", "learning_rate": 0.01, "hidden_sizes": [8]},
        {"dataset": {"name": "xor", "samples": 64}, "hidden_sizes": [], "momentum": 0.9, "batch_size": 5},
    ],
)
def test_engine_equals_dataloader_loop_bit_for_bit(changes):
    cfg = TrainConfig().with_changes(**changes).validate()
    assert engine_losses(cfg) == dataloader_losses(cfg)


def test_continuing_equals_one_longer_run():
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 100}, batch_size=8, epochs=2)
    one = Trainer(cfg.with_changes(epochs=4))
    one.fit()
    two = Trainer(cfg)
    two.fit()
    torch.manual_seed(999)  # someone else using the global RNG between runs must not matter
    torch.rand(10)
    two.fit()
    assert list(one.history.batch_loss) == list(two.history.batch_loss)
    assert two.epochs_completed == 4 and two.steps == one.steps


def test_continue_with_new_learning_rate_keeps_weights_and_history():
    first = Trainer(TrainConfig())
    first.fit()
    nxt = first.continue_with(TrainConfig().with_changes(learning_rate=0.1, epochs=1))
    result = nxt.fit()
    assert result.epochs_completed == 4 and len(nxt.history.batch_loss) == 8
    assert nxt.optimizer.param_groups[0]["lr"] == 0.1
    with pytest.raises(TrainingError, match="layers changed"):
        first.continue_with(TrainConfig().with_changes(hidden_sizes=(5,)))
    with pytest.raises(TrainingError, match="data set changed"):
        first.continue_with(TrainConfig().with_changes(dataset={"name": "moons"}))
    with pytest.raises(TrainingError, match="0 batches"):
        first.continue_with(TrainConfig().with_changes(batch_size=8))


def test_num_workers_path_matches_fast_path():
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 60}, batch_size=7, drop_last=False, epochs=2)
    fast = engine_losses(cfg)
    slow = engine_losses(cfg.with_changes(num_workers=1))
    assert fast == slow


def test_zero_batches_refused_before_training():
    with pytest.raises(TrainingError, match="batch_size \\(8\\) is larger than the 5 training samples"):
        Trainer(TrainConfig().with_changes(batch_size=8))
    assert batches_per_epoch(5, 8, False) == 1
    assert Trainer(TrainConfig().with_changes(batch_size=8, drop_last=False)).batches_per_epoch == 1


def test_exploding_loss_ends_with_advice():
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 200}, learning_rate=900.0, epochs=50, batch_size=4)
    result = Trainer(cfg).fit()
    assert result.status == "diverged"
    assert "lower learning rate" in result.message


class Recorder(Callback):
    def __init__(self, stop_at=None, stop=None):
        self.events, self.stop_at, self.stop = [], stop_at, stop
        self.started = self.ended = None

    def on_train_start(self, info):
        self.started = info

    def on_batch_end(self, e):
        self.events.append(e)
        if self.stop_at and e.step == self.stop_at:
            self.stop.set()

    def on_train_end(self, result):
        self.ended = result


def test_stop_between_batches():
    stop = threading.Event()
    rec = Recorder(stop_at=5, stop=stop)
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 100}, epochs=10)
    result = Trainer(cfg, [rec]).fit(stop)
    assert result.status == "stopped" and result.steps == 5 and len(rec.events) == 5
    assert rec.ended is result


def test_pause_then_resume_finishes_the_same_run():
    pause, stop = threading.Event(), threading.Event()
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 100}, epochs=2)

    class PauseOnce(Callback):
        def on_batch_end(self, e):
            if e.step == 3:
                pause.set()
                threading.Timer(0.05, pause.clear).start()

    paused = Trainer(cfg, [PauseOnce()])
    result = paused.fit(stop, pause)
    assert result.status == "finished"
    assert list(paused.history.batch_loss) == engine_losses(cfg)


def test_events_are_plain_numbers():
    rec = Recorder()
    Trainer(TrainConfig(), [rec]).fit()
    for e in rec.events:
        assert all(isinstance(v, (int, float)) for v in vars(e).values())
    assert rec.started.batches_per_epoch == 2 and rec.started.parameters == 752


def test_exception_reaches_on_exception_and_is_raised():
    seen = []

    class Boom(Callback):
        def on_batch_end(self, e):
            raise RuntimeError("boom")

        def on_exception(self, exc):
            seen.append(exc)

    with pytest.raises(RuntimeError):
        Trainer(TrainConfig(), [Boom()]).fit()
    assert len(seen) == 1


def test_history_round_trip_and_initial_state():
    t = Trainer(TrainConfig())
    t.fit()
    h = History.from_dict(t.history.to_dict())
    assert list(h.batch_loss) == list(t.history.batch_loss) and h.epochs == t.history.epochs
    again = Trainer(TrainConfig(), initial_state=t.state_dict_cpu(), history=h)
    assert torch.equal(again.predict(torch.tensor([[1.0, 2.0]])), t.predict(torch.tensor([[1.0, 2.0]])))
    with pytest.raises(TrainingError, match="inputs"):
        Trainer(TrainConfig().with_changes(dataset={"name": "iris"}), initial_state=t.state_dict_cpu())


def test_cuda_refused_with_reason_when_absent():
    from core.devices import DeviceError, Probe

    no_gpu = Probe(cuda_built=False, cuda_count=0, cuda_names=(), mps_built=False, mps_available=False)
    with pytest.raises(DeviceError, match="no CUDA support"):
        Trainer(TrainConfig().with_changes(device="cuda"), probe=no_gpu)
