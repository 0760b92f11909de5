"""The optimizer registry (core.optimizers): one row per optimizer, read everywhere; RMSprop and Adagrad are rows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from core.config import ConfigError, TrainConfig, apply_overrides
from core.memory import optimizer_state_copies
from core.model import NeuralNetwork
from core.optimizers import OPTIMIZER_SPECS, OPTIMIZERS, optimizer_spec
from core.settings import SETTINGS_BY_KEY
from core.training import Trainer

X_TRAIN = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
Y_TRAIN = torch.tensor([0, 0, 0, 1, 1])


class ToyDataset(Dataset):
    def __init__(self, X, y):
        self.features, self.labels = X, y

    def __getitem__(self, index):
        return self.features[index], self.labels[index]

    def __len__(self):
        return self.labels.shape[0]


def plain_loop(make_optimizer, epochs: int = 3) -> list[float]:
    """The book's loop, with `make_optimizer(params)` in place of its SGD."""
    torch.manual_seed(123)
    loader = DataLoader(ToyDataset(X_TRAIN, Y_TRAIN), batch_size=2, shuffle=True, num_workers=0, drop_last=True)
    torch.manual_seed(123)
    model = NeuralNetwork(2, 2)
    optimizer = make_optimizer(model.parameters())
    losses = []
    for _ in range(epochs):
        model.train()
        for features, labels in loader:
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize(("name", "make"), [
    ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01)),
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.01)),
])
def test_each_optimizer_equals_the_plain_torch_loop_loss_for_loss(name, make):
    cfg = apply_overrides(TrainConfig(), [f"optimizer={name}", "learning_rate=0.01"])
    trainer = Trainer(cfg)
    trainer.fit()
    assert list(trainer.history.batch_loss) == plain_loop(make)


def test_rmsprop_takes_the_configs_momentum_and_adagrad_refuses_nothing_it_ignores():
    cfg = apply_overrides(TrainConfig(), ["optimizer=rmsprop", "learning_rate=0.01", "momentum=0.9"])
    trainer = Trainer(cfg)
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.9 and type(trainer.optimizer) is torch.optim.RMSprop
    trainer.fit()
    assert list(trainer.history.batch_loss) == plain_loop(lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9))
    ada = Trainer(apply_overrides(TrainConfig(), ["optimizer=adagrad"]))
    assert type(ada.optimizer) is torch.optim.Adagrad and "momentum" not in ada.optimizer.defaults


def test_the_registry_is_the_settings_choices_and_the_memory_check():
    assert SETTINGS_BY_KEY["optimizer"].choices == OPTIMIZERS == ("sgd", "adam", "adamw", "rmsprop", "adagrad")
    assert optimizer_state_copies("rmsprop", 0.0) == 1 and optimizer_state_copies("rmsprop", 0.9) == 2
    assert optimizer_state_copies("adagrad") == 1 and optimizer_state_copies("adam") == 2 and optimizer_state_copies("sgd") == 0
    with pytest.raises(ConfigError, match="optimizer"):
        apply_overrides(TrainConfig(), ["optimizer=lbfgs"])
    for spec in OPTIMIZER_SPECS:  # every row builds the class it names from the config's settings alone
        opt = spec.build(NeuralNetwork(2, 2).parameters(), 0.1, 0.5 if spec.momentum else 0.0, 0.01)
        assert type(opt).__name__ == spec.torch_class
        assert spec.script_line(0.1).startswith(f"optimizer = torch.optim.{spec.torch_class}(model.parameters(), lr=0.1")


def test_continuing_a_run_keeps_rmsprops_state():
    cfg = apply_overrides(TrainConfig(), ["optimizer=rmsprop", "learning_rate=0.01", "epochs=6"])
    whole = Trainer(cfg)
    whole.fit()
    half = Trainer(cfg.with_changes(epochs=3))
    half.fit()
    more = half.continue_with(cfg.with_changes(epochs=3))
    more.fit()
    assert list(more.history.batch_loss) == list(whole.history.batch_loss)
    assert optimizer_spec("rmsprop").torch_class == "RMSprop"
