"""The exported script: plain book-style PyTorch that, run alone, gives the engine's weights bit for bit."""

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.config import TrainConfig, apply_overrides
from core.errors import DataError
from core.script import render_script

ROOT = Path(__file__).resolve().parents[2]
BOOK_LINES = [
    "Epoch: 001/003 | Batch 000/002 | Train Loss: 0.75",
    "Epoch: 001/003 | Batch 001/002 | Train Loss: 0.65",
    "Epoch: 002/003 | Batch 000/002 | Train Loss: 0.44",
    "Epoch: 002/003 | Batch 001/002 | Train Loss: 0.13",
    "Epoch: 003/003 | Batch 000/002 | Train Loss: 0.03",
    "Epoch: 003/003 | Batch 001/002 | Train Loss: 0.00",
]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_script_alone(script: Path, folder: Path) -> subprocess.CompletedProcess:
    """`python train.py` in an otherwise empty folder, with a clean environment."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    for key in ("SYSTEMROOT", "TMPDIR", "TEMP", "TMP"):  # what Python and torch need on some systems
        if key in os.environ:
            env[key] = os.environ[key]
    # The same intra-op thread count as this process's in-process `core train` (another test may have
    # set it to 1): float sums split over other thread counts can differ in their last bit.
    import torch

    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    proc = subprocess.run([sys.executable, script.name], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def batch_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "| Batch" in ln]


@pytest.mark.parametrize(
    "sets",
    [
        [],
        [
            "dataset.name=moons",
            "optimizer=adam",
            "learning_rate=0.01",
            "activation=tanh",
            "batch_size=7",
            "drop_last=false",
        ],
        ["dataset.name=iris", "dataset.standardize=true", "batch_size=16", "learning_rate=0.1", "epochs=4"],
        ["dataset.name=blobs", "dataset.classes=4", "dataset.samples=150", "batch_size=32", "seed=99", "hidden_sizes=[8, 8, 8]"],
        ["optimizer=rmsprop", "learning_rate=0.01"],
        ["dataset.name=moons", "optimizer=rmsprop", "learning_rate=0.01", "momentum=0.5", "weight_decay=0.001"],
        ["optimizer=adagrad", "learning_rate=0.1"],
    ],
    ids=["book", "moons-adam-tanh-7", "iris-standardize", "blobs-4", "book-rmsprop", "moons-rmsprop-momentum", "book-adagrad"],
)
def test_script_alone_equals_core_train_bit_for_bit(tmp_path, capsys, sets):
    argv = [a for s in sets for a in ("--set", s)]
    work = tmp_path / "run"
    work.mkdir()
    code, _, err = run(capsys, "script", *argv, "--out", str(work / "train.py"))
    assert code == 0, err
    assert sorted(os.listdir(work)) == ["train.py"]
    # --every 1: the book's line for every batch, however long the run (longer runs print summaries only).
    code, core_out, err = run(capsys, "train", *argv, "--every", "1", "--out", str(tmp_path / "m.pt"))
    assert code == 0, err

    proc = run_script_alone(work / "train.py", work)
    assert batch_lines(proc.stdout) == batch_lines(core_out)
    if not sets:
        assert batch_lines(proc.stdout) == BOOK_LINES
        assert "Train accuracy: 1.00" in proc.stdout and "Test accuracy: 1.00" in proc.stdout
    ours = torch.load(tmp_path / "m.pt", weights_only=True)["model_state_dict"]
    theirs = torch.load(work / "model.pth", weights_only=True)
    assert list(theirs) == list(ours)
    for key in ours:
        assert torch.equal(theirs[key], ours[key]), key


def test_csv_with_text_labels_and_other_folders(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    rows = ["height;label;width"] + [f"{i * 0.37 % 5:.3f};{'ab'[i % 2]}x;{(i * 1.7) % 3:.2f}" for i in range(37)] + [""]
    (data / "points.csv").write_text("\n".join(rows), encoding="utf-8")
    monkeypatch.chdir(data)  # a relative path in the config: the script must still find the file from elsewhere
    argv = ["--set", "dataset.name=csv", "--set", "dataset.path=points.csv", "--set", "dataset.label_column=label"]
    argv += [
        "--set",
        "dataset.standardize=true",
        "--set",
        "batch_size=4",
        "--set",
        "optimizer=adamw",
        "--set",
        "learning_rate=0.05",
    ]
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert run(capsys, "script", *argv, "--out", str(work / "train.py"))[0] == 0
    assert run(capsys, "train", *argv, "--quiet", "--out", str(tmp_path / "m.pt"))[0] == 0
    run_script_alone(work / "train.py", work)
    ours = torch.load(tmp_path / "m.pt", weights_only=True)["model_state_dict"]
    theirs = torch.load(work / "model.pth", weights_only=True)
    assert all(torch.equal(theirs[k], ours[k]) for k in ours) and list(theirs) == list(ours)


def configs():
    base = TrainConfig()
    yield base
    for name in ("moons", "circles", "blobs", "xor", "spiral", "iris", "digits"):
        yield base.with_changes(dataset={"name": name, "standardize": name == "iris"})
    yield base.with_changes(dataset={"name": "csv", "path": "/tmp/x.csv", "label_column": "y"})
    yield base.with_changes(hidden_sizes=(), optimizer="adamw", activation="gelu")
    yield base.with_changes(hidden_sizes=tuple(range(1, 14)), optimizer="sgd", momentum=0.9, weight_decay=0.01)
    for device in ("cuda", "cuda:1", "mps", "auto"):
        yield base.with_changes(device=device)


@pytest.mark.parametrize("cfg", list(configs()), ids=lambda c: f"{c.dataset.name}-{c.device}-{c.optimizer}-{len(c.hidden_sizes)}")
def test_every_rendering_is_plain_book_style_python(cfg):
    text = render_script(cfg)
    tree = ast.parse(text)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert not imported & {"core", "app", "sklearn", "PySide6", "pyqtgraph"}
    assert ("numpy" in imported) == (cfg.dataset.name != "appendix-a")
    for piece in (
        "class ToyDataset(Dataset):",
        "class NeuralNetwork(torch.nn.Module):",
        "self.layers = torch.nn.Sequential(",
        f"torch.manual_seed({cfg.seed})\n    model = NeuralNetwork(",
        "train_loader = DataLoader(",
        f"batch_size={cfg.batch_size},\n        shuffle={cfg.shuffle},\n        num_workers={cfg.num_workers},\n"
        f"        drop_last={cfg.drop_last},",
        "model.train()",
        "optimizer.zero_grad()",
        "loss.backward()",
        "optimizer.step()",
        'f" | Batch {batch_idx:03d}/{len(train_loader):03d}"',
        "model.eval()",
        "def compute_accuracy(model, dataloader, device):",
        'torch.save(model.state_dict(), "model.pth")',
    ):
        assert piece in text, piece
    assert text.count("torch.nn.Linear(") == len(cfg.hidden_sizes) + 1
    assert text == render_script(cfg)  # deterministic


def test_device_lines_follow_the_book():
    assert 'device = torch.device("cpu")' in render_script(TrainConfig())
    cuda = render_script(TrainConfig().with_changes(device="cuda"))
    assert 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")' in cuda
    assert "device = torch.device('cuda:1')" in render_script(TrainConfig().with_changes(device="cuda:1"))
    assert 'torch.backends.mps.is_available() else "cpu")' in render_script(TrainConfig().with_changes(device="mps"))
    assert "features, labels = features.to(device), labels.to(device)" in cuda


def test_a_changed_setting_changes_only_its_lines():
    a = render_script(TrainConfig()).splitlines()
    b = render_script(TrainConfig().with_changes(learning_rate=0.1)).splitlines()
    changed = [ln for ln in difflib.unified_diff(a, b, lineterm="", n=0) if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert sorted(changed) == sorted(
        [
            '+#     "learning_rate": 0.1,',
            "+    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)",
            '-#     "learning_rate": 0.5,',
            "-    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)",
        ]
    )
    c = render_script(TrainConfig().with_changes(batch_size=3, drop_last=False)).splitlines()
    assert len(a) == len(c)


def test_generated_set_with_too_few_samples_is_refused(capsys):
    cfg = apply_overrides(TrainConfig(), ["dataset.name=spiral", "dataset.classes=9", "dataset.samples=5"])
    with pytest.raises(DataError, match="needs at least 9 samples"):
        render_script(cfg)
    code, out, err = run(
        capsys, "script", "--set", "dataset.name=spiral", "--set", "dataset.classes=9", "--set", "dataset.samples=5"
    )
    assert code == 2 and out == "" and err.count("\n") == 1


def test_cli_prints_the_script_without_out(capsys):
    code, out, _ = run(capsys, "script", "--set", "learning_rate=0.25")
    assert code == 0
    assert out == render_script(TrainConfig().with_changes(learning_rate=0.25))


def test_out_is_replaced_atomically_and_failures_keep_the_old_file(tmp_path, capsys):
    target = tmp_path / "train.py"
    target.write_text("old")
    assert run(capsys, "script", "--out", str(target))[0] == 0
    assert target.read_text() == render_script(TrainConfig())
    assert sorted(os.listdir(tmp_path)) == ["train.py"]  # no temporary file left
    for argv, words in (
        (["--out", str(tmp_path / "no" / "train.py")], "does not exist"),
        (["--out", str(tmp_path)], "is a folder"),
        (["--set", "nope=1", "--out", str(target)], "unknown key 'nope'"),
        (["--set", "dataset.name=csv", "--set", "dataset.path=/no/such.csv", "--out", str(target)], "such.csv"),
    ):
        code, out, err = run(capsys, "script", *argv)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and words in err, err
        assert target.read_text() == render_script(TrainConfig())
    if os.name == "posix" and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        (locked / "train.py").write_text("old")
        locked.chmod(0o500)
        try:
            code, _, err = run(capsys, "script", "--out", str(locked / "train.py"))
        finally:
            locked.chmod(0o700)
        assert code == 2 and "cannot write it" in err and err.count("\n") == 1
        assert (locked / "train.py").read_text() == "old" and os.listdir(locked) == ["train.py"]
