"""What `core train` prints and writes as it runs: the book's batch lines or a progress bar, the epoch summaries,
the --history CSV and the --events JSON lines."""

from __future__ import annotations

import math
import os
import sys
import tempfile

from core.events import BatchEnd, Callback, EpochEnd, TrainStart


class CliError(Exception):
    """A mistake in the command line's arguments; the message is shown as `error: ...`."""

# A run of at most this many batches prints the book's line for each (the book's run prints six); a longer
# one printed 4,005 lines for moons at batch size 8 over 2 epochs.
BATCH_LINES_UP_TO = 50
# A run of more epochs prints every k-th epoch's summary (and the last's): about this many lines.
EPOCH_LINES_UP_TO = 25


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def _terminal_size(stream) -> os.terminal_size | None:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None
    return size if size.columns > 1 and size.lines > 1 else None


class _Printer(Callback):
    """Prints the book's per-batch lines on short runs (or every Nth with `every`), a progress bar on stderr
    for long runs on a terminal, and a per-epoch summary; `quiet` drops the batch lines and the bar."""

    def __init__(self, quiet: bool, every: int | None = None, bar: bool | None = None):
        self.quiet = quiet
        self.every = every
        self.bar_wanted = _is_terminal(sys.stderr) if bar is None else bar  # the bar goes to stderr
        self.total_epochs = 0
        self.first_epoch = 1
        self.line_every = 0  # print batch lines where (batch index) % line_every == 0; 0: none
        self.summary_every = 1
        self.bar = None
        self.epoch_loss = 0.0
        self.epoch_batches = 0

    def on_train_start(self, info: TrainStart) -> None:
        self.first_epoch = info.first_epoch
        self.total_epochs = info.first_epoch - 1 + info.epochs
        long_run = info.total_steps > BATCH_LINES_UP_TO
        if self.quiet:
            self.line_every = 0
        else:
            self.line_every = self.every or (0 if long_run else 1)
        self.summary_every = math.ceil(info.epochs / EPOCH_LINES_UP_TO) if info.epochs > EPOCH_LINES_UP_TO else 1
        self._print(
            f"Training on {info.device}: {info.train_samples} training and {info.test_samples} test samples, "
            f"{info.parameters} parameters, {info.batches_per_epoch} batches per epoch"
        )
        if long_run and self.bar_wanted and not self.quiet:
            from tqdm import tqdm

            # A terminal that reports no size (a fresh pseudo-terminal says 0 x 0) made tqdm draw nothing.
            size = _terminal_size(sys.stderr)
            shape = {"dynamic_ncols": True} if size else {"ncols": 80, "nrows": 24}
            self.bar = tqdm(total=info.total_steps, file=sys.stderr, unit="batch", desc="train", mininterval=0.1, **shape)

    def on_batch_end(self, e: BatchEnd) -> None:
        if self.bar is not None:
            self.epoch_loss += e.loss
            self.epoch_batches += 1
            loss = self.epoch_loss / self.epoch_batches  # the running mean the epoch's summary will show
            self.bar.set_postfix_str(f"epoch {e.epoch}/{self.total_epochs}, loss {loss:.4f}", refresh=False)
            self.bar.update(1)
        if self.line_every and (e.batch - 1) % self.line_every == 0:
            self._print(
                # The book's line: its batch_idx comes from enumerate, so batches count from 000.
                f"Epoch: {e.epoch:03d}/{self.total_epochs:03d} | Batch {e.batch - 1:03d}/{e.batches_per_epoch:03d} "
                f"| Train Loss: {e.loss:.2f}",
                flush=False,
            )

    def on_epoch_end(self, e: EpochEnd) -> None:
        self.epoch_loss, self.epoch_batches = 0.0, 0
        if (e.epoch - self.first_epoch) % self.summary_every and e.epoch != self.total_epochs:
            return
        test = "" if e.test_loss is None else f" | Test Loss: {e.test_loss:.4f} | Test Acc: {e.test_accuracy:.2f}"
        self._print(
            f"Epoch: {e.epoch:03d}/{self.total_epochs:03d} | Train Loss: {e.train_loss:.4f} | Train Acc: {e.train_accuracy:.2f}{test}"
        )

    def on_train_end(self, result) -> None:
        self.close()

    def on_exception(self, exc: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Leave the bar at where the run ended; what is printed after comes below it."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _print(self, text: str, flush: bool = True) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)  # clears the bar, prints, redraws it below
            sys.stdout.flush()
        else:
            print(text, flush=flush)


class _HistoryWriter(Callback):
    """Streams `epoch,batch,step,loss` rows to a temporary file that replaces the target at the end."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise CliError(f"--history {path}: the folder {folder} does not exist")
        fd, self.tmp = tempfile.mkstemp(prefix=".history-", suffix=".tmp", dir=folder)
        self.file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self.file.write("epoch,batch,step,loss\n")

    def on_batch_end(self, e: BatchEnd) -> None:
        self.file.write(f"{e.epoch},{e.batch},{e.step},{e.loss!r}\n")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
