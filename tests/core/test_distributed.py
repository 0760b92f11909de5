"""DDP under torchrun: the book's DDP-script-torchrun.py numbers with 2 gloo processes, rank 0's files, the
event stream, the shards against DataLoader + DistributedSampler, and every way a run ends (Ctrl+C, a failed
rank, a world too big for the data) with one `error:` line and nothing half written."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from core.cli import main
from core.config import TrainConfig
from core.data import ToyDataset
from core.distributed import (
    DistributedEnv,
    DistributedRun,
    EventWriter,
    check_world_fits,
    distributed_env,
    event_from_json,
    event_to_json,
    shard_batches,
)
from core.events import BatchEnd, EpochEnd, TrainResult, TrainStart
from core.model import NeuralNetwork

ROOT = Path(__file__).resolve().parents[2]

# A faithful copy of the book's appendix-A/01_main-chapter-code/DDP-script-torchrun.py, written for this
# test, with what a CPU-only machine needs: gloo instead of nccl, no .to(rank) / device_ids /
# torch.cuda.set_device, pin_memory only where there is CUDA. Each rank prints its losses as JSON lines
# (the book prints them rounded), rank 0 saves the final weights.
BOOK_DDP_SCRIPT = textwrap.dedent(
    """
    import datetime
    import json
    import os
    import sys

    import torch
    import torch.nn.functional as F
    from torch.distributed import destroy_process_group, init_process_group
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, Dataset
    from torch.utils.data.distributed import DistributedSampler


    def ddp_setup(rank, world_size):
        # Not in the book: a generous timeout, for a busy machine where the other rank starts late.
        init_process_group(backend="gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(minutes=5))


    class ToyDataset(Dataset):
        def __init__(self, X, y):
            self.features = X
            self.labels = y

        def __getitem__(self, index):
            return self.features[index], self.labels[index]

        def __len__(self):
            return self.labels.shape[0]


    class NeuralNetwork(torch.nn.Module):
        def __init__(self, num_inputs, num_outputs):
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(num_inputs, 30),
                torch.nn.ReLU(),
                torch.nn.Linear(30, 20),
                torch.nn.ReLU(),
                torch.nn.Linear(20, num_outputs),
            )

        def forward(self, x):
            return self.layers(x)


    def prepare_dataset():
        X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
        y_train = torch.tensor([0, 0, 0, 1, 1])
        X_test = torch.tensor([[-0.8, 2.8], [2.6, -1.6]])
        y_test = torch.tensor([0, 1])
        train_ds = ToyDataset(X_train, y_train)
        test_ds = ToyDataset(X_test, y_test)
        train_loader = DataLoader(
            dataset=train_ds,
            batch_size=2,
            shuffle=False,
            pin_memory=torch.cuda.is_available(),
            drop_last=True,
            sampler=DistributedSampler(train_ds),
        )
        test_loader = DataLoader(dataset=test_ds, batch_size=2, shuffle=False)
        return train_loader, test_loader


    def main(rank, world_size, num_epochs, out):
        ddp_setup(rank, world_size)
        train_loader, test_loader = prepare_dataset()
        model = NeuralNetwork(num_inputs=2, num_outputs=2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        model = DDP(model)
        for epoch in range(num_epochs):
            train_loader.sampler.set_epoch(epoch)
            model.train()
            for features, labels in train_loader:
                logits = model(features)
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                # one write per line: the ranks share the pipe
                sys.stdout.write(json.dumps({"rank": rank, "epoch": epoch + 1, "loss": loss.item()}) + "\\n")
                sys.stdout.flush()
        if rank == 0:
            torch.save(model.module.state_dict(), out)
        # Not in the book: every rank waits here before leaving, or a rank that leaves while the other
        # still saves can abort in gloo's teardown ("terminate called without an active exception",
        # 2 runs in 11 on a busy 2-core machine). The numbers compared are all made before this line.
        torch.distributed.barrier()
        destroy_process_group()
        # Not in the book: every rank leaves the same way, at once, without the interpreter's teardown, where
        # the C++ destructors of gloo's and the store's threads could still abort a rank.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


    if __name__ == "__main__":
        world_size = int(os.environ["WORLD_SIZE"]) if "WORLD_SIZE" in os.environ else 1
        rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", 0)))
        torch.manual_seed(123)
        main(rank, world_size, 3, sys.argv[1])
    """
)


def torchrun(n: int, *args: str) -> list[str]:
    """torchrun on loopback with a free port (--standalone: c10d rendezvous on localhost:0)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", None), str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


@functools.lru_cache(maxsize=1)
def book_ddp_run() -> tuple[list[float], list[float], dict[str, torch.Tensor]]:
    """Run the book's DDP script on 2 gloo processes once per session: rank 0's and rank 1's losses per step,
    and the final weights."""
    folder = Path(tempfile.mkdtemp(prefix="book-ddp-"))
    script = folder / "DDP-script-torchrun.py"
    script.write_text(BOOK_DDP_SCRIPT)
    weights = folder / "model.pth"
    proc = subprocess.run(
        torchrun(2, str(script), str(weights)), cwd=folder, env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    per_rank = [[r["loss"] for r in rows if r["rank"] == rank] for rank in (0, 1)]
    return per_rank[0], per_rank[1], torch.load(weights, weights_only=True)


def book_step_means() -> list[float]:
    rank0, rank1, _ = book_ddp_run()
    assert len(rank0) == len(rank1) == 3  # 5 samples, 2 processes: 3 each, one batch of 2 per epoch
    return [(a + b) / 2 for a, b in zip(rank0, rank1, strict=True)]


# --- the book's numbers -------------------------------------------------------------------------------------


def test_two_processes_give_the_books_ddp_run(tmp_path):
    model, history, events = tmp_path / "model.pt", tmp_path / "history.csv", tmp_path / "events.jsonl"
    proc = subprocess.run(
        torchrun(2, "-m", "core", "train", "--out", str(model), "--history", str(history), "--events", str(events)),
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # --history: one row per step, 1-based, the loss the mean of the two ranks' losses
    rows = list(csv.DictReader(history.open()))
    assert [(r["epoch"], r["batch"], r["step"]) for r in rows] == [("1", "1", "1"), ("2", "1", "2"), ("3", "1", "3")]
    assert [float(r["loss"]) for r in rows] == pytest.approx(book_step_means(), abs=1e-6)

    # --out: the app's file with the book's final weights, keys without DDP's `module.` prefix
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["format"] == "torch-playground"
    _, _, book_weights = book_ddp_run()
    assert list(ckpt["model_state_dict"]) == list(book_weights) == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias"
    ]  # fmt: skip
    for key, value in book_weights.items():
        torch.testing.assert_close(ckpt["model_state_dict"][key], value, rtol=0, atol=1e-6)
    assert ckpt["history"]["batch_loss"].tolist() == [float(r["loss"]) for r in rows]

    # rank 0 alone prints: one start line, the book's batch lines with the mean loss, the summaries
    out = proc.stdout
    assert out.count("Training on cpu: 5 training and 2 test samples") == 1
    assert out.count("DDP: 2 processes (gloo)") == 1
    batch_lines = [ln for ln in out.splitlines() if "| Batch" in ln]
    assert batch_lines == [
        f"Epoch: {e:03d}/003 | Batch 000/001 | Train Loss: {loss:.2f}"
        for e, loss in zip((1, 2, 3), book_step_means(), strict=True)
    ]
    assert out.count("Train accuracy: 1.00 | Test accuracy: 1.00") == 1
    assert "error" not in proc.stderr

    # --events FILE: the same run as JSON lines
    evs = [event_from_json(line) for line in events.read_text().splitlines()]
    assert [type(e).__name__ for e in evs] == ["TrainStart"] + ["BatchEnd", "EpochEnd"] * 3 + ["TrainResult"]
    assert [e.loss for e in evs if isinstance(e, BatchEnd)] == [float(r["loss"]) for r in rows]
    assert evs[-1].status == "finished" and evs[-1].last_epoch.train_accuracy == 1.0


# --- pieces, in this process ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "world", "shuffle"),
    [(5, 2, True, 2, True), (5, 2, False, 2, True), (23, 4, False, 3, True), (23, 4, True, 3, False), (64, 8, True, 4, True)],
)
def test_shards_are_the_dataloaders_batches(n, batch_size, drop_last, world, shuffle):
    X = torch.randn(n, 3, generator=torch.Generator().manual_seed(n))
    y = torch.arange(n) % 2
    ds = ToyDataset(X, y)
    for rank in range(world):
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=shuffle)
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, drop_last=drop_last, sampler=sampler)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            expected = list(loader)
            got = list(shard_batches(X, y, list(iter(sampler)), batch_size, drop_last))
            assert len(got) == len(expected) == check_world_fits(n, batch_size, drop_last, world)
            for (xa, ya), (xb, yb) in zip(got, expected, strict=True):
                assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_a_world_too_big_for_the_data_is_refused_with_what_to_change():
    assert check_world_fits(5, 2, True, 2) == 1
    assert check_world_fits(5, 2, False, 2) == 2
    with pytest.raises(
        ValueError, match=r"4 processes with batch_size 2 and drop_last on need at least 8 training samples"
    ) as err:
        check_world_fits(5, 2, True, 4)
    assert "the data has 5" in str(err.value) and "use at most 2 processes" in str(err.value)
    assert "a batch_size of at most 1" in str(err.value)
    with pytest.raises(ValueError, match="need at least 8 training samples"):
        check_world_fits(5, 1, False, 8)


def test_the_cli_says_it_once_per_machine_and_exits_2_on_every_rank(monkeypatch, capsys):
    # The check runs before any process group exists, so one rank can be run here.
    for rank, says in ((0, True), (1, False), (2, False), (3, False)):
        for key, value in {"WORLD_SIZE": "4", "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "4"}.items():
            monkeypatch.setenv(key, value)
        code = main(["train"])
        out, err = capsys.readouterr()
        assert code == 2
        assert out == ""
        if says:
            assert err.startswith("error: 4 processes with batch_size 2") and err.count("\n") == 1, err
        else:
            assert err == ""


@pytest.fixture
def one_rank(monkeypatch):
    """A gloo group of one process, in this process: DistributedRun's loop without starting processes."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    runs = []

    def make(cfg: TrainConfig) -> DistributedRun:
        run = DistributedRun(cfg, DistributedEnv(rank=0, local_rank=0, world_size=1))
        run.prepare()
        run.connect()
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def test_the_loop_is_a_dataloader_loop_over_the_sampler(one_rank):
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 75}, batch_size=8, drop_last=False, epochs=2)
    run = one_rank(cfg)
    result = run.fit()
    assert result.status == "finished" and result.steps == 2 * 8  # 60 training samples: 7 full batches and one of 4

    # The book's DDP loop with one process, written out
    data = run.trainer.data
    torch.manual_seed(cfg.seed)
    model = NeuralNetwork(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    ds = ToyDataset(data.X_train, data.y_train)
    sampler = DistributedSampler(ds, num_replicas=1, rank=0)
    loader = DataLoader(ds, batch_size=8, shuffle=False, drop_last=False, sampler=sampler)
    losses = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for features, labels in loader:
            loss = F.cross_entropy(model(features), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert list(run.trainer.history.batch_loss) == losses
    for key, value in model.state_dict().items():
        assert torch.equal(run.trainer.model.state_dict()[key], value), key
    # accuracy and test loss over the whole splits
    with torch.no_grad():
        model.eval()
        train_acc = (model(data.X_train).argmax(1) == data.y_train).sum().item() / len(data.y_train)
        test_logits = model(data.X_test)
    last = result.last_epoch
    assert last.train_accuracy == train_acc
    assert last.test_accuracy == (test_logits.argmax(1) == data.y_test).sum().item() / len(data.y_test)
    assert last.test_loss == pytest.approx(F.cross_entropy(test_logits, data.y_test).item(), rel=1e-6)


def test_a_stop_ends_the_run_one_step_after_it_is_asked(one_rank):
    stop = threading.Event()
    stop.set()  # asked before the first step: the ranks learn of it with the first step's sums, during the second
    result = one_rank(TrainConfig().with_changes(dataset={"name": "moons", "samples": 200})).fit(stop)
    assert result.status == "stopped" and result.steps == 2 and result.epochs_completed == 0


def test_a_diverging_run_ends_with_the_first_diverging_step(one_rank):
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 200}, learning_rate=1000.0, epochs=50)
    run = one_rank(cfg)
    result = run.fit()
    assert result.status == "diverged"
    losses = list(run.trainer.history.batch_loss)
    first = next(i for i, v in enumerate(losses) if not math.isfinite(v) or v > 1e6)
    assert len(losses) in (first + 1, first + 2)  # the step after it was already taken
    assert f"the loss became {losses[first]:.3g}" in result.message


def test_distributed_env():
    assert distributed_env({}) is None
    assert distributed_env({"WORLD_SIZE": "1", "RANK": "0"}) is None  # torchrun with one process: the plain run
    env = distributed_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert env == DistributedEnv(rank=3, local_rank=1, world_size=4, local_world_size=2) and not env.is_reporter
    with pytest.raises(ValueError, match="not whole numbers"):
        distributed_env({"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match="do not fit"):
        distributed_env({"WORLD_SIZE": "2", "RANK": "2"})


def test_events_round_trip_through_json_lines(tmp_path):
    last = EpochEnd(3, 6, 0.25, None, 1.0, None, 0.5)
    events = [
        TrainStart("cpu", 3, 1, 2, 6, 5, 2, 752),
        BatchEnd(1, 1, 1, 0.1 + 0.2, 2, 2, 0.001),  # a float that needs all 17 digits
        BatchEnd(1, 2, 2, math.inf, 2, 2, 0.002),
        last,
        TrainResult("finished", "done", 3, 6, 0.5, 24.0, last),
        TrainResult("stopped", "stopped", 0, 1, 0.1, 2.0, None),
    ]
    path = tmp_path / "events.jsonl"
    writer = EventWriter.open(str(path))
    writer.on_train_start(events[0])
    for ev in events[1:3]:
        writer.on_batch_end(ev)
    writer.on_epoch_end(events[3])
    writer.on_train_end(events[4])
    writer.on_train_end(events[5])
    writer.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[1]) == {
        "type": "BatchEnd",
        "epoch": 1,
        "batch": 1,
        "step": 1,
        "loss": 0.1 + 0.2,
        "batch_size": 2,
        "batches_per_epoch": 2,
        "elapsed": 0.001,
    }
    assert [event_from_json(line) for line in lines] == events
    assert [event_to_json(e) for e in events] == lines
    for junk in ("", "Epoch: 001/003 | Batch 000/002", "{not json", '{"type": "Nope"}', '{"type": "BatchEnd", "x": 1}', "[1, 2]"):
        assert event_from_json(junk) is None


def test_events_on_stdout_in_a_single_process_run(capsys):
    # ProcessRun with one process runs this path (torchrun sets WORLD_SIZE=1)
    assert main(["train", "--events", "-"]) == 0
    out, err = capsys.readouterr()
    events = [event_from_json(line) for line in out.splitlines()]
    assert [type(e).__name__ for e in events] == ["TrainStart"] + (["BatchEnd"] * 2 + ["EpochEnd"]) * 3 + ["TrainResult"]
    assert [round(e.loss, 2) for e in events if isinstance(e, BatchEnd)] == [0.75, 0.65, 0.44, 0.13, 0.03, 0.0]
    assert "Epoch: 001/003 | Batch 000/002 | Train Loss: 0.75" in err  # the printed lines go to stderr


# --- ending: Ctrl+C and a failed rank ----------------------------------------------------------------------

LONG_RUN = ["--set", "dataset.name=moons", "--set", "dataset.samples=20000", "--set", "batch_size=8", "--set", "epochs=50"]


def _state(pid: int) -> str:
    """A process's state letter; "gone" once it is reaped (a zombie, "Z", has ended too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the ranks through /proc")
def test_ctrl_c_ends_every_rank_at_once_with_one_error_and_no_file(tmp_path):
    model, history = tmp_path / "model.pt", tmp_path / "history.csv"
    proc = subprocess.Popen(
        torchrun(2, "-m", "core", "train", *LONG_RUN, "--out", str(model), "--history", str(history), "--events", "-"),
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        batches = 0
        for line in proc.stdout:
            batches += '"BatchEnd"' in line
            if batches == 20:
                break
        ranks = _children(proc.pid)
        assert len(ranks) == 2
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C in a terminal does to torchrun
        while any(_state(pid) not in ("gone", "Z") for pid in ranks) and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        ranks_ended = time.monotonic() - t0
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert ranks_ended < 1.0, ranks_ended
    assert proc.returncode != 0
    last = event_from_json(rest.splitlines()[-1])
    assert isinstance(last, TrainResult) and last.status == "stopped"
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert errors == [f"error: interrupted: every process stopped after {last.steps} batches; nothing was saved"]
    assert sorted(os.listdir(tmp_path)) == []  # no model, no history, no temporary file


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the ranks through /proc")
def test_a_failed_rank_ends_the_run_with_its_error_and_no_file(tmp_path):
    # Rank 1 fails at its first epoch's end (the book's run: after one step), as a full disk would; rank 0
    # is then alone in the epoch's all_reduce.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
        import os
        if os.environ.get("RANK") == "1":
            from core import distributed

            def broken(self, *args):
                raise OSError(28, "No space left on device")

            distributed.DistributedRun._end_epoch = broken
        """
        )
    )
    work = tmp_path / "work"
    work.mkdir()
    t0 = time.monotonic()
    proc = subprocess.run(
        torchrun(2, "-m", "core", "train", "--out", str(work / "model.pt"), "--history", str(work / "h.csv")),
        cwd=work,
        env=child_env(PYTHONPATH=str(hook)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert "error: rank 1: cannot use: No space left on device" in errors, proc.stderr[-3000:]
    # rank 0 says what happened to it, unless torchrun ended it first
    assert all(ln.startswith(("error: rank 1: ", "error: rank 0: another process of the run failed")) for ln in errors), errors
    assert sorted(os.listdir(work)) == []
    print(f"the world ended {time.monotonic() - t0:.1f} s after the start")  # a hang is the subprocess timeout
