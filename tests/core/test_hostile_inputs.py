"""Files and values made to break the engine: each must end in one `error:` line (exit 2), quickly and in
little memory, never a hang, a traceback, a leaked warning or a run that "finished" on nonsense."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from core import csv_reader
from core.config import ConfigError, DatasetConfig, TrainConfig, apply_overrides
from core.data import DataSplit, Standardizer, load_dataset
from core.errors import DataError
from core.memory import MemoryInfo
from core.training import Trainer

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_error(proc: subprocess.CompletedProcess, *words: str, longest: int = 600) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-500:])
    err = proc.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err[:1000]
    assert "RuntimeWarning" not in err and "Traceback" not in err
    assert len(err) < longest, f"{len(err)} characters: {err[:300]}..."
    for word in words:
        assert word in err, err
    return err


def csv_set(path) -> list[str]:
    return ["--set", "dataset.name=csv", "--set", f"dataset.path={path}"]


# --- 1. a FIFO or a device as the CSV file -------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("command", [["train", "--quiet"], ["batches"], ["script", "--out", "{tmp}/train.py"]])
def test_a_fifo_as_the_csv_is_refused_not_waited_on(tmp_path, command):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    proc = cli(*args, *csv_set(fifo), timeout=60)
    assert_one_error(proc, str(fifo), "named pipe (FIFO), not a regular file")


def test_read_csv_refuses_a_fifo_and_a_device(tmp_path):
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        with pytest.raises(DataError, match="named pipe"):
            csv_reader.read_csv(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(DataError, match="character device"):
            csv_reader.read_csv("/dev/zero")


# --- 2. one enormous line ------------------------------------------------------------------------


def test_one_huge_line_is_refused_fast_and_small(tmp_path):
    path = tmp_path / "one-line.csv"
    with open(path, "wb") as f:
        chunk = b"1," * (1 << 20)
        for _ in range(30):  # 60 MB, no line break anywhere
            f.write(chunk)
        f.write(b"1")
    watcher = textwrap.dedent(
        f"""
        import resource, subprocess, sys, time
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "core", "batches", "--set", "dataset.name=csv",
                               "--set", "dataset.path={path}"], capture_output=True, text=True)
        print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.returncode)
        sys.stderr.write(proc.stderr)
        """
    )
    proc = subprocess.run([sys.executable, "-c", watcher], capture_output=True, text=True, cwd=ROOT, timeout=120)
    seconds, peak_kb, rc = proc.stdout.split()
    assert int(rc) == 2, proc.stderr[:500]
    assert_one_error(subprocess.CompletedProcess([], 2, "", proc.stderr), "line")
    assert int(peak_kb) < 1024 * 1024, f"peak RSS {int(peak_kb) / 1024:.0f} MB"
    print(f"refused in {float(seconds):.1f} s")  # a hang is the subprocess timeout


def test_the_memory_estimate_holds_for_a_header_longer_than_the_probe(tmp_path):
    header = ",".join(f"c{i}" for i in range(20_000)) + "\n"
    row = ",".join(["1"] * 20_000) + "\n"
    sample = (header + row * 3).encode()
    info = MemoryInfo(total=2**30, available=2**20)
    problem = csv_reader.csv_memory_problem("wide.csv", 10 * 2**30, sample, memory=info)
    assert problem and "numbers" in problem


def test_too_many_columns_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_CSV_COLUMNS", 5)
    path = tmp_path / "wide.csv"
    path.write_text("a,b,c,d,e,f,label\n1,2,3,4,5,6,0\n1,2,3,4,5,6,1\n")
    with pytest.raises(DataError, match="7 columns"):
        csv_reader.read_csv(path)


def test_a_data_line_longer_than_the_bound_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_LINE_CHARS", 100)
    path = tmp_path / "long.csv"
    path.write_text("a,b,label\n1,2,0\n" + "1," * 80 + "1\n")
    with pytest.raises(DataError, match="row 3 .*longer than"):
        csv_reader.read_csv(path)


# --- 3. numbers beyond float32 ---------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_a_value_beyond_float32_names_row_and_column(tmp_path, fast):
    path = tmp_path / "big.csv"
    label = "0" if fast else '"0"'  # a quoted label with a quote inside sends the file to the careful reader
    rows = ["x1,x2,label", "1,2,0", "3,4,1", f"5,1e39,{label}", "7,8,1"]
    if not fast:
        rows.append('9,9,"a""b"')
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"row 4, column 'x2'.*1e\+39.*float32"):
        csv_reader.read_csv(path)


def test_a_value_beyond_float32_via_the_cli(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("x1,x2,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)) + "1e39,1,0\n")
    proc = cli("train", "--quiet", *csv_set(path))
    assert_one_error(proc, "row 22", "'x1'", "float32")


# --- 4. numeric labels -----------------------------------------------------------------------------


def test_labels_one_and_one_point_zero_are_one_class(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("x,label\n1,1\n2,1.0\n3,2\n4,2.00\n5,0.5\n")
    X, y, _, classes = csv_reader.read_csv(path)
    assert classes == ("0.5", "1", "2")
    assert y.tolist() == [1, 1, 2, 2, 0]


def test_integer_and_text_labels_as_before(tmp_path):
    path = tmp_path / "ints.csv"
    path.write_text("x,label\n1,10\n2,02\n3,2\n4,-1\n")
    _, y, _, classes = csv_reader.read_csv(path)
    assert classes == ("-1", "2", "10") and y.tolist() == [2, 1, 1, 0]
    path.write_text("x,label\n1,b\n2,a\n3,1\n4,1.0\n")
    _, y, _, classes = csv_reader.read_csv(path)
    assert classes == ("1", "1.0", "a", "b") and y.tolist() == [3, 2, 0, 1]


# --- 5. standardizing a column without spread -------------------------------------------------------


def test_a_column_with_a_tiny_spread_is_not_divided_by_nearly_zero():
    X = torch.tensor([[1.0, 1e-300, 1e30], [2.0, 2e-300, 1e30 * (1 + 1e-12)], [3.0, 3e-300, 1e30]], dtype=torch.float64)
    s = Standardizer.fit(X)
    assert s.std[1] == 1.0 and s.std[2] == 1.0
    out = s.apply(X)
    assert torch.isfinite(out).all() and out[:, 1:].abs().max() < 1


def test_a_model_files_standardizer_with_a_tiny_std_is_refused():
    with pytest.raises(DataError, match="too small"):
        Standardizer.from_dict({"mean": [0.0], "std": [1e-300]})


# --- 6. a loss that is not a number ------------------------------------------------------------------


def test_a_test_loss_that_is_not_finite_ends_the_run_as_an_error():
    X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
    X_test = torch.tensor([[math.inf, 2.8], [2.6, -1.6]])
    data = DataSplit("appendix-a", X_train, torch.tensor([0, 0, 0, 1, 1]), X_test, torch.tensor([0, 1]),
                     ("x1", "x2"), ("0", "1"), None)
    result = Trainer(TrainConfig(), data=data).fit()
    assert result.status == "diverged"
    assert "test loss became nan after epoch 1" in result.message


# --- 7. hostile configs ------------------------------------------------------------------------------


def test_a_config_nested_deeply(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_error(cli("train", "--config", str(path)), "deep")
    path.write_text('{"dataset": {"name": ' + "[" * 50 + "]" * 50 + "}}")
    assert_one_error(cli("train", "--config", str(path)), "dataset.name", "deep")


def test_an_integer_of_5000_digits(tmp_path):
    path = tmp_path / "digits.json"
    path.write_text('{"seed": ' + "9" * 5000 + "}")
    assert_one_error(cli("train", "--config", str(path)), "seed", "5,000 digits")
    assert_one_error(cli("train", "--set", "epochs=" + "9" * 5000), "epochs", "5,000 digits")


def test_a_huge_string_is_not_echoed_whole(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"activation": "x" * 100_000}))
    assert_one_error(cli("train", "--config", str(path)), "activation", "...")
    assert_one_error(cli("train", "--set", "optimizer=" + "y" * 100_000), "optimizer", "...")
    assert_one_error(cli("train", "--set", "z" * 100_000 + "=1"), "unknown key", "...")


def test_a_config_file_too_big_or_not_a_file(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"activation": "x" * (5 << 20)}))
    assert_one_error(cli("train", "--config", str(path)), "MB")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.json"
        os.mkfifo(fifo)
        assert_one_error(cli("train", "--config", str(fifo), timeout=60), "named pipe")


def test_from_dict_bounds_what_it_echoes():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"activation": "x" * 10_000})
    assert len(str(info.value)) < 300 and info.value.key == "activation"
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"seed": 10**5000})
    assert "5,001 digits" in str(info.value) and info.value.key == "seed"
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ConfigError, match="hidden_sizes.*deep"):
        TrainConfig.from_dict({"hidden_sizes": deep})
    with pytest.raises(ConfigError, match="epochs.*5,000 digits"):
        apply_overrides(TrainConfig(), ["epochs=" + "9" * 5000])


def test_load_dataset_still_reads_a_plain_csv(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("x1,x2,label\n" + "".join(f"{i},{-i},{i % 2}\n" for i in range(10)))
    split = load_dataset(DatasetConfig(name="csv", path=str(path), standardize=True))
    assert split.num_features == 2 and np.isfinite(split.X_train.numpy()).all()


def test_a_csv_that_changes_while_it_is_read_is_refused(tmp_path, monkeypatch):
    import core.csv_reader as reader

    path = tmp_path / "growing.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    real = reader._read_fast

    def read_then_append(f, name, where, header):
        got = real(f, name, where, header)
        with open(path, "a") as out:  # another program goes on writing the file meanwhile
            out.write("5,6,0\n")
        return got

    monkeypatch.setattr(reader, "_read_fast", read_then_append)
    with pytest.raises(DataError, match="changed while it was being read"):
        reader.read_csv(path)
