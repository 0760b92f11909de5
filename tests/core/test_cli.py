"""The command line: the book's run, history CSV, model files, and one `error:` line with exit 2 on every failure."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.model import NeuralNetwork

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_the_books_run_and_writes_history(tmp_path, capsys):
    hist = tmp_path / "h.csv"
    code, out, err = run(capsys, "train", "--history", str(hist))
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if "| Batch" in ln]
    # The book's lines exactly: its batch_idx comes from enumerate, 000 and 001 of 002.
    assert lines == [
        "Epoch: 001/003 | Batch 000/002 | Train Loss: 0.75",
        "Epoch: 001/003 | Batch 001/002 | Train Loss: 0.65",
        "Epoch: 002/003 | Batch 000/002 | Train Loss: 0.44",
        "Epoch: 002/003 | Batch 001/002 | Train Loss: 0.13",
        "Epoch: 003/003 | Batch 000/002 | Train Loss: 0.03",
        "Epoch: 003/003 | Batch 001/002 | Train Loss: 0.00",
    ]
    assert "Train accuracy: 1.00 | Test accuracy: 1.00" in out
    rows = list(csv.DictReader(hist.open()))
    assert [(r["epoch"], r["batch"], r["step"]) for r in rows] == [
        ("1", "1", "1"),
        ("1", "2", "2"),
        ("2", "1", "3"),
        ("2", "2", "4"),
        ("3", "1", "5"),
        ("3", "2", "6"),
    ]
    assert round(float(rows[0]["loss"]), 2) == 0.75 and len(rows[0]["loss"]) > 8  # full precision


def test_config_file_and_sets(tmp_path, capsys):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"dataset": {"name": "moons", "samples": 40}, "epochs": 2}))
    code, out, _ = run(capsys, "train", "--config", str(run_json), "--set", "batch_size=8", "--set", "drop_last=false", "--quiet")
    assert code == 0
    assert "4 batches per epoch" in out and "| Batch" not in out
    assert "Epoch: 002/002 | Train Loss: " in out  # --quiet keeps the per-epoch summary


def test_a_long_run_prints_the_epoch_summaries_not_a_line_per_batch(capsys):
    # 200 training samples in batches of 2 over 2 epochs: 200 batches, past the book-lines threshold (50)
    sets = ["--set", "dataset.name=moons", "--set", "dataset.samples=250", "--set", "batch_size=2", "--set", "epochs=2"]
    code, out, err = run(capsys, "train", *sets)
    assert code == 0 and err == ""  # no progress bar: the output is not a terminal
    lines = out.splitlines()
    assert "100 batches per epoch" in lines[0] and not [ln for ln in lines if "| Batch" in ln]
    assert [ln[:14] for ln in lines if "| Train Acc:" in ln] == ["Epoch: 001/002", "Epoch: 002/002"]
    assert len(lines) == 5  # the start, two summaries, the accuracies, the result


def test_book_state_dict_inspect_and_predict(tmp_path, capsys):
    torch.manual_seed(123)
    model = NeuralNetwork(2, 2)
    path = tmp_path / "model.pth"
    torch.save(model.state_dict(), path)
    code, out, _ = run(capsys, "inspect", str(path), "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["inputs"], info["hidden_sizes"], info["outputs"], info["parameters"]) == (2, [30, 20], 2, 752)
    assert isinstance(info["format"], str)
    code, out, _ = run(capsys, "predict", str(path), "--input=-0.8,2.8", "--input", "2.6,-1.6", "--json")
    assert code == 0
    preds = json.loads(out)
    with torch.no_grad():
        logits = model(torch.tensor([[-0.8, 2.8], [2.6, -1.6]]))
    for p, lg in zip(preds, logits, strict=True):
        assert p["logits"] == pytest.approx(lg.tolist(), abs=1e-6)
        assert sum(p["probabilities"]) == pytest.approx(1.0)
        assert p["predicted"] == int(lg.argmax())
    code, out, _ = run(capsys, "inspect", str(path))
    assert "hidden sizes: [30, 20]" in out and "parameters:   752" in out


def test_train_out_then_predict_uses_standardizer(tmp_path, capsys):
    out_path = tmp_path / "m.pt"
    code, _, err = run(
        capsys,
        "train",
        "--set",
        "dataset.name=iris",
        "--set",
        "dataset.standardize=true",
        "--set",
        "batch_size=16",
        "--set",
        "learning_rate=0.1",
        "--set",
        "epochs=30",
        "--quiet",
        "--out",
        str(out_path),
    )
    assert code == 0, err
    code, out, _ = run(capsys, "predict", str(out_path), "--input", "5.1,3.5,1.4,0.2", "--input", "6.7,3.0,5.2,2.3", "--json")
    preds = json.loads(out)
    assert [p["predicted"] for p in preds] == [0, 2]  # setosa, virginica: only right if the inputs were standardized
    code, out, _ = run(capsys, "inspect", str(out_path), "--json")
    assert json.loads(out)["activation"] == "relu"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "--set", "batch_size=0"], "batch_size must be between 1"),
        (["train", "--set", "batch_size=8"], "0 batches"),
        (["train", "--set", "nope=1"], "unknown key 'nope'"),
        (["train", "--set", "learning_rate"], "expected KEY=VALUE"),
        (["train", "--config", "/no/such/run.json"], "cannot read config"),
        (["train", "--set", "device=cuda:3"], "device cuda:3"),
        (["train", "--out", "/no/such/dir/m.pt"], "does not exist"),
        (["train", "--history", "/no/such/dir/h.csv"], "cannot write /no/such/dir/h.csv: its folder /no/such/dir does not exist"),
        (["train", "--set", "dataset.name=csv", "--set", "dataset.path=/no/such.csv"], "such.csv"),
        (["inspect", "/no/such/model.pt"], "model.pt"),
        (["predict"], "required"),
        (["frobnicate"], "invalid choice"),
        ([], "choose a command"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert words in err


def test_errors_are_recognised_by_type_not_by_name():
    from core.cli import _describe
    from core.errors import ModelFileError

    class DataError(Exception):  # a stranger that shares an engine error's name
        pass

    assert _describe(ModelFileError("m.pt", "it is empty (0 bytes)")) == "cannot open m.pt: it is empty (0 bytes)"
    assert _describe(DataError("oops")) == "unexpected DataError: oops"


def test_train_out_then_inspect_counts_the_trained_batches(tmp_path, capsys):
    out_path = tmp_path / "m.pt"
    code, _, err = run(capsys, "train", "--quiet", "--out", str(out_path))
    assert code == 0, err
    code, out, _ = run(capsys, "inspect", str(out_path), "--json")
    assert code == 0 and json.loads(out)["trained_batches"] == 6  # the book's 3 epochs of 2 batches


def test_predict_input_errors(tmp_path, capsys):
    path = tmp_path / "m.pth"
    torch.save(NeuralNetwork(2, 2).state_dict(), path)
    for bad, words in (
        ("1.0", "the model takes 2 feature(s) as input but 1 value(s) were given"),
        ("1,x", "'x' is not a number"),
        ("1,nan", "not a finite"),
    ):
        code, _, err = run(capsys, "predict", str(path), "--input", bad)
        assert code == 2 and words in err and err.count("\n") == 1


def test_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "train", "--config", str(bad))
    assert code == 2 and "not valid JSON" in err


def test_hostile_files_exit_2_one_line_no_code_run(tmp_path, capsys):
    from tests.core.hostile import CODE_RUNNING, HOSTILE, marker_path

    for name, make in HOSTILE.items():
        path = tmp_path / f"{name}.pt"
        make(path)
        for command in (["inspect", str(path)], ["predict", str(path), "--input", "1,2"]):
            code, _, err = run(capsys, *command)
            assert code == 2, (name, err)
            assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (name, err)
        if name in CODE_RUNNING:
            assert not os.path.exists(marker_path(path)), f"{name}: code in the file ran"


@pytest.mark.parametrize("name", ["code_zip_os_system", "zip_bomb", "text"])
def test_hostile_file_in_a_real_process(tmp_path, name):
    from tests.core.hostile import HOSTILE

    path = tmp_path / f"{name}.pt"
    HOSTILE[name](path)
    proc = subprocess.run(
        [sys.executable, "-m", "core", "inspect", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr


def test_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "core", "train", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0 and "Test accuracy: 1.00" in proc.stdout


def test_bench_quick_runs_and_checks_losses(capsys):
    code, out, _ = run(capsys, "bench", "--quick", "--repeats", "1")
    assert code == 0
    assert "all losses identical" in out and "engine/floor" in out
