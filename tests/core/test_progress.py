"""What `core train` prints as it runs: the book's batch lines on short runs, a progress bar on a terminal for long ones,
per-epoch summaries into a pipe, `--every N` and `--quiet`."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import BATCH_LINES_UP_TO, EPOCH_LINES_UP_TO, _Printer, main
from core.events import BatchEnd, EpochEnd, TrainResult, TrainStart

REPO = Path(__file__).resolve().parents[2]
# moons: 1,000 samples, 800 for training, batch size 1, 5 epochs: 4,000 batches in a few seconds
LONG_RUN = ["--set", "dataset.name=moons", "--set", "dataset.samples=1000", "--set", "batch_size=1", "--set", "epochs=5"]


def feed(printer: _Printer, epochs: int, batches: int) -> None:
    """The events of a run, without training: what the trainer calls, in its order."""
    printer.on_train_start(TrainStart("cpu", epochs, 1, batches, epochs * batches, batches * 2, 2, 752))
    step = 0
    for epoch in range(1, epochs + 1):
        for batch in range(1, batches + 1):
            step += 1
            printer.on_batch_end(BatchEnd(epoch, batch, step, 0.5, 2, batches, 0.0))
        printer.on_epoch_end(EpochEnd(epoch, step, 0.5, 0.25, 1.0, 1.0, 0.0))
    printer.on_train_end(TrainResult("finished", "done", epochs, step, 1.0, 100.0))


def printed(capsys, epochs: int, batches: int, **options) -> tuple[list[str], str]:
    options.setdefault("quiet", False)
    feed(_Printer(**options), epochs, batches)
    out, err = capsys.readouterr()
    return out.splitlines(), err


def batch_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "| Batch" in ln]


def summary_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "| Train Acc:" in ln]


# --- the printer, fed events ----------------------------------------------------------------------


def test_a_short_run_prints_every_batch_line(capsys):
    lines, err = printed(capsys, 3, 2, bar=True)  # even on a terminal: no bar for the book's run
    assert len(batch_lines(lines)) == 6 and len(summary_lines(lines)) == 3 and err == ""
    assert batch_lines(lines)[:2] == [
        "Epoch: 001/003 | Batch 000/002 | Train Loss: 0.50",
        "Epoch: 001/003 | Batch 001/002 | Train Loss: 0.50",
    ]


def test_the_threshold_is_the_runs_batches(capsys):
    lines, _ = printed(capsys, 2, BATCH_LINES_UP_TO // 2, bar=False)
    assert len(batch_lines(lines)) == BATCH_LINES_UP_TO
    lines, _ = printed(capsys, 2, BATCH_LINES_UP_TO // 2 + 1, bar=False)
    assert batch_lines(lines) == [] and len(summary_lines(lines)) == 2


def test_a_long_run_into_a_pipe_prints_the_summaries_only(capsys):
    lines, err = printed(capsys, 2, 2000, bar=False)
    assert len(lines) == 3 and len(summary_lines(lines)) == 2 and err == ""


def test_a_long_run_on_a_terminal_shows_a_bar_on_stderr(capsys):
    lines, err = printed(capsys, 2, 2000, bar=True)
    assert len(lines) == 3 and len(summary_lines(lines)) == 2
    assert "100%" in err and "4000/4000" in err and "batch/s" in err and "loss 0.5000" in err


def test_every_n_prints_every_nth_batch_of_each_epoch(capsys):
    lines, _ = printed(capsys, 2, 2000, bar=False, every=500)
    assert [ln.split(" | Train")[0] for ln in batch_lines(lines)] == [
        f"Epoch: {e:03d}/002 | Batch {b:03d}/2000" for e in (1, 2) for b in (0, 500, 1000, 1500)
    ]
    lines, _ = printed(capsys, 3, 2, bar=False, every=1)
    assert len(batch_lines(lines)) == 6


def test_quiet_prints_no_batch_lines_and_no_bar(capsys):
    lines, err = printed(capsys, 3, 2, quiet=True, bar=True)
    assert batch_lines(lines) == [] and len(summary_lines(lines)) == 3 and err == ""
    lines, err = printed(capsys, 2, 2000, quiet=True, bar=True)
    assert batch_lines(lines) == [] and len(summary_lines(lines)) == 2 and err == ""


def test_many_epochs_print_every_kth_summary_and_the_last(capsys):
    lines, _ = printed(capsys, 1000, 1, bar=False)
    summaries = summary_lines(lines)
    assert len(summaries) <= EPOCH_LINES_UP_TO + 1 and len(lines) < 50
    assert summaries[0].startswith("Epoch: 001/1000")
    assert summaries[-1].startswith("Epoch: 1000/1000")
    lines, _ = printed(capsys, EPOCH_LINES_UP_TO, 1, bar=False)
    assert len(summary_lines(lines)) == EPOCH_LINES_UP_TO


# --- the command line --------------------------------------------------------------------------------


def test_help_says_the_threshold_every_and_quiet(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"at most {BATCH_LINES_UP_TO} batches" in text and "progress bar" in text
    assert "--every N" in text and "--quiet" in text and ".safetensors" in text


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--every", "0"], "must be at least 1"),
        (["train", "--every", "x"], "whole number"),
        (["train", "--quiet", "--every", "2"], "not allowed with"),
    ],
)
def test_bad_output_options_are_one_error_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err


def test_every_on_a_real_run(capsys):
    sets = ["--set", "dataset.name=moons", "--set", "dataset.samples=250", "--set", "batch_size=2", "--set", "epochs=2"]
    assert main(["train", *sets, "--every", "25"]) == 0
    out = capsys.readouterr().out
    # 200 training samples in batches of 2: 100 per epoch, lines for 000, 025, 050, 075
    assert len(batch_lines(out.splitlines())) == 8 and "Batch 075/100" in out


def test_a_4000_batch_run_into_a_pipe_prints_few_lines():
    proc = subprocess.run(
        [sys.executable, "-m", "core", "train", *LONG_RUN], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "800 batches per epoch" in proc.stdout
    assert len(proc.stdout.splitlines()) <= 50 and batch_lines(proc.stdout.splitlines()) == []
    assert len(summary_lines(proc.stdout.splitlines())) == 5
    assert proc.stderr == ""  # no bar into a pipe


def run_on_terminal(argv: list[str], timeout: float = 300) -> tuple[int, str]:
    """Run `python -m core ARGV` with stdout and stderr on a pseudo-terminal; its exit status and all it wrote."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "core", *argv], stdin=slave, stdout=slave, stderr=slave, cwd=REPO)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as Linux makes them")
def test_a_long_run_on_a_terminal_shows_a_progress_bar():
    code, text = run_on_terminal(["train", *LONG_RUN])
    assert code == 0, text
    assert "%|" in text and "100%" in text and "/4000 [" in text and "batch/s" in text and "loss " in text
    lines = text.replace("\r\n", "\n").split("\n")
    assert batch_lines(lines) == [] and len(summary_lines(lines)) == 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as Linux makes them")
def test_the_books_run_on_a_terminal_prints_its_six_lines_and_no_bar():
    code, text = run_on_terminal(["train"])
    assert code == 0, text
    lines = text.replace("\r\n", "\n").split("\n")
    assert batch_lines(lines) == [
        "Epoch: 001/003 | Batch 000/002 | Train Loss: 0.75",
        "Epoch: 001/003 | Batch 001/002 | Train Loss: 0.65",
        "Epoch: 002/003 | Batch 000/002 | Train Loss: 0.44",
        "Epoch: 002/003 | Batch 001/002 | Train Loss: 0.13",
        "Epoch: 003/003 | Batch 000/002 | Train Loss: 0.03",
        "Epoch: 003/003 | Batch 001/002 | Train Loss: 0.00",
    ]
    assert "%|" not in text
