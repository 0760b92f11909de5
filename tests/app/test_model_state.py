"""The window's model state without Qt: open, bind, follow the data, save, predict (plain calls, no event loop)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from app.state.model_state import ModelState, bind, open_model
from core.checkpoint import load_model_file, save_model_file
from core.config import DatasetConfig, TrainConfig
from core.errors import Cancelled
from core.history import History
from core.model import NeuralNetwork

ROOT = Path(__file__).resolve().parents[2]
ODD = TrainConfig(dataset=DatasetConfig(name="moons", samples=160, noise=0.1234, test_fraction=0.125),
                  hidden_sizes=(8,), learning_rate=3e-6, weight_decay=1e-6, epochs=1)


def test_the_model_state_imports_no_qt():
    code = "import sys, app.state.model_state, app.state.model_outputs; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_an_app_file_opens_bound_to_its_data_and_saves_back_unchanged(tmp_path):
    torch.manual_seed(0)
    path, again = tmp_path / "odd.pt", tmp_path / "again.pt"
    save_model_file(path, model_state=NeuralNetwork(2, 2, (8,)).state_dict(), config=ODD, history=History([0.7, 0.6]))
    opened = open_model(str(path), TrainConfig())
    assert opened.weights.config == ODD and opened.bound.reason is None
    state = ModelState()
    state.opened(opened, str(path))
    assert state.is_bound_to(ODD) and state.mode_for(ODD) == "continue" and not state.dirty
    assert state.views.predictions.total == 20 and state.views.regions is not None  # 160 * 0.125 test rows
    assert state.save_job(str(again))(threading.Event()) == str(again)
    loaded = load_model_file(again)
    assert TrainConfig.from_dict(loaded.config) == ODD and loaded.history.losses().tolist() == [0.7, 0.6]


def test_bare_weights_bind_to_data_that_fits_and_say_why_not_otherwise(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.pth"
    torch.save(NeuralNetwork(4, 3, (6,)).state_dict(), path)
    opened = open_model(str(path), TrainConfig())  # the book's data: 2 features, so no fit
    assert opened.bound.trainer is None and "4 input" in opened.bound.reason
    state = ModelState()
    state.opened(opened, str(path))
    # 4 features and 3 classes cannot train on the book's 2 and 2: Train makes a new model there (issue #19's
    # defect 5: the button said "Continue training"), and goes on from the file's weights on iris.
    iris = TrainConfig(dataset=DatasetConfig(name="iris"), hidden_sizes=(6,))
    assert state.has_model() and state.mode_for(TrainConfig(hidden_sizes=(6,))) == "new"
    assert state.mode_for(iris) == "from-file"
    assert state.predict_typed("5.1, 3.5, 1.4, 0.2").startswith("class ")
    assert "4 feature" in state.predict_typed("1, 2")
    bound = bind(state.weights, iris)
    state.bound(bound)
    assert state.is_bound_to(iris) and state.views.predictions.total == 30
    state.drop()
    assert not state.has_model() and state.predict_typed("1, 2").startswith("No model")


def test_binding_stops_when_cancelled(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.pth"
    torch.save(NeuralNetwork(2, 2).state_dict(), path)
    weights = open_model(str(path), TrainConfig()).weights
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        bind(weights, TrainConfig(dataset=DatasetConfig(name="moons", samples=1000)), cancel)
