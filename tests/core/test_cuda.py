"""The cuda path on a real GPU: skipped where torch sees none (the injected-probe tests cover the logic there).

What only a GPU can show: the engine trains on cuda:0 and matches a DataLoader loop run on the same
device; a file saved from GPU weights (storages tagged cuda:0) opens on the cpu; a run moves between
devices and goes on; the command line trains and saves with device=cuda.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from core.checkpoint import load_model_file, save_model_file
from core.config import DatasetConfig, TrainConfig
from core.data import ToyDataset, load_dataset
from core.devices import list_devices, resolve_device
from core.model import NeuralNetwork
from core.training import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _dataloader_losses_on(cfg: TrainConfig, device: torch.device) -> list[float]:
    """The book's loop with `.to(device)` on the model and each batch, as its GPU section writes it."""
    data = load_dataset(cfg.dataset)
    loader = DataLoader(ToyDataset(data.X_train, data.y_train), batch_size=cfg.batch_size, shuffle=cfg.shuffle, drop_last=cfg.drop_last)
    torch.manual_seed(cfg.seed)
    model = NeuralNetwork(data.num_features, data.num_classes, cfg.hidden_sizes, cfg.activation).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    out = []
    for _ in range(cfg.epochs):
        model.train()
        for features, labels in loader:
            features, labels = features.to(device), labels.to(device)
            loss = F.cross_entropy(model(features), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
    return out


def test_real_probe_lists_each_gpu_with_its_name():
    gpus = [d for d in list_devices() if d.name.startswith("cuda")]
    assert len(gpus) == torch.cuda.device_count()
    assert all(d.available for d in gpus)
    assert gpus[0].label == f"cuda:0 ({torch.cuda.get_device_name(0)})"
    assert resolve_device("auto") == torch.device("cuda:0")


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(device="cuda"),
        TrainConfig(device="cuda:0", dataset=DatasetConfig(name="moons", samples=2_000, seed=3), batch_size=64, epochs=3),
    ],
    ids=["book", "moons"],
)
def test_engine_on_gpu_matches_the_book_loop_on_the_same_gpu(cfg):
    trainer = Trainer(cfg)
    result = trainer.fit()
    assert result.status == "finished"
    assert str(trainer.device) == "cuda:0" and next(trainer.model.parameters()).is_cuda
    want = _dataloader_losses_on(cfg, torch.device("cuda:0"))
    got = list(trainer.history.batch_loss)
    assert len(got) == len(want)
    # The same kernels on the same batches: equal to rounding (cuBLAS may pick another algorithm per shape).
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_book_run_on_gpu_gives_the_book_numbers():
    trainer = Trainer(TrainConfig(device="cuda"))
    result = trainer.fit()
    assert [round(x, 2) for x in trainer.history.batch_loss] == [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]
    assert result.last_epoch.train_accuracy == 1.0 and result.last_epoch.test_accuracy == 1.0


def test_gpu_saved_files_open_on_the_cpu(tmp_path):
    trainer = Trainer(TrainConfig(device="cuda"))
    trainer.fit()
    # The book's own save on a GPU: storages recorded as cuda:0 in the pickle.
    book = tmp_path / "book-gpu.pth"
    torch.save(trainer.model.state_dict(), book)
    loaded = load_model_file(book)
    assert all(t.device.type == "cpu" for t in loaded.state_dict.values())
    X = torch.tensor([[-0.9, 2.9], [2.7, -1.5]])
    with torch.no_grad():
        on_gpu = trainer.model.eval()(X.cuda()).cpu()
        on_cpu = loaded.build_model().eval()(X)
    torch.testing.assert_close(on_cpu, on_gpu, rtol=1e-5, atol=1e-6)
    # The app's own file from the GPU trainer, with the optimizer state that lives on the GPU.
    app_file = tmp_path / "app-gpu.pt"
    save_model_file(
        app_file, model_state=trainer.model.state_dict(), config=trainer.cfg, optimizer_state=trainer.optimizer.state_dict()
    )
    again = load_model_file(app_file)
    assert again.config["device"] == "cuda"
    assert all(t.device.type == "cpu" for t in again.state_dict.values())


def test_a_run_moves_between_cpu_and_gpu_and_goes_on():
    base = TrainConfig(epochs=2)
    trainer = Trainer(base)
    trainer.fit()
    on_gpu = trainer.continue_with(base.with_changes(device="cuda"))
    on_gpu.fit()
    assert next(on_gpu.model.parameters()).is_cuda
    back = on_gpu.continue_with(base.with_changes(device="cpu"))
    result = back.fit()
    assert result.status == "finished" and len(back.history.batch_loss) == 6 * 2
    assert not next(back.model.parameters()).is_cuda
    # Momentum/Adam state follows the weights to the GPU (the optimizer casts it on load).
    adam = Trainer(base.with_changes(optimizer="adam", learning_rate=0.01))
    adam.fit()
    moved = adam.continue_with(adam.cfg.with_changes(device="cuda"))
    assert moved.fit().status == "finished"


def test_cli_trains_on_gpu_and_the_file_predicts_on_the_cpu(tmp_path):
    out = tmp_path / "m.pt"
    env = {**os.environ, "PYTHONPATH": ROOT}
    run = subprocess.run(
        [sys.executable, "-m", "core", "train", "--set", "device=cuda", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "cuda:0" in run.stdout and "Train accuracy: 1.00 | Test accuracy: 1.00" in run.stdout
    pred = subprocess.run(
        [sys.executable, "-m", "core", "predict", str(out), "--input=-0.9,2.9", "--json"],
        cwd=ROOT, env={**env, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)[0]["predicted"] == 0
