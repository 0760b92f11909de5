"""What `core train` prints and writes as it runs: the book's batch lines or a progress bar, the epoch summaries,
the --history CSV and the --events JSON lines."""

from __future__ import annotations

import errno
import math
import os
import sys
from array import array

from core.atomic import atomic_write
from core.config import ConfigError, TrainConfig, apply_overrides
from core.errors import ArchitectureError, DataError, DeviceError, ModelFileError, PathError, TrainingError
from core.events import BatchEnd, Callback, EpochEnd, TrainStart
from core.paths import check_write, os_words, shown


def load_config(args) -> TrainConfig:
    """The run's config from `--config RUN.json` and `--set KEY=VALUE` (train, batches, script)."""
    cfg = TrainConfig()
    if args.config:
        from core.config import read_config_file

        cfg = read_config_file(args.config)  # its ConfigError names the file
    return apply_overrides(cfg, args.sets) if args.sets else cfg.validate()


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
    """Keeps `epoch,batch,step,loss` rows in memory (24 bytes a batch) and writes the CSV with atomic_write at
    the end: a run that fails, is stopped or killed leaves no temporary file and the old CSV as it was."""

    HEADER = "epoch,batch,step,loss\n"

    def __init__(self, path: str):
        self.path = path
        self.counts = array("q")  # epoch, batch, step per row
        self.losses = array("d")

    def on_batch_end(self, e: BatchEnd) -> None:
        self.counts.extend((e.epoch, e.batch, e.step))
        self.losses.append(e.loss)

    def commit(self) -> None:
        atomic_write(self.path, self._write)

    def _write(self, f) -> None:
        f.write(self.HEADER.encode("ascii"))
        c, chunk = self.counts, 8192  # rows per write: a run of millions of batches is not one huge string
        for start in range(0, len(self.losses), chunk):
            rows = (
                f"{c[3 * i]},{c[3 * i + 1]},{c[3 * i + 2]},{self.losses[i]!r}\n"
                for i in range(start, min(start + chunk, len(self.losses)))
            )
            f.write("".join(rows).encode("ascii"))

    def discard(self) -> None:
        self.counts, self.losses = array("q"), array("d")


# --- errors -------------------------------------------------------------------------------------------

EXIT_ERROR = 2
# 128 + the signal, the shell's convention: what `cmd | head -1` gives a writer that the reader left (SIGPIPE).
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130

# Errors whose message is already a sentence for a person.
_WORDED = (CliError, ConfigError, DataError, TrainingError, DeviceError, ModelFileError, ArchitectureError, PathError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _WORDED):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.filename:
            return f"cannot use {shown(exc.filename)}: {os_words(exc)}"
        # Every write names its file (core.atomic); what is left is no file of ours: the system's words, as before.
        return f"cannot use: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 200 else line[:197] + "..."


def is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)


def leave_quietly() -> None:
    """The reader of stdout has gone: point stdout at devnull (Python's documented way), so the flush at
    interpreter exit cannot print "Exception ignored ... BrokenPipeError"."""
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing flushes it at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def check_output(path: str, need_bytes: int = 0) -> str:
    """A file the command will write, checked before any data or training work (core.paths.check_write):
    a folder, device or FIFO there, a missing or read-only folder, a full disk are said now, not after the run."""
    return check_write(path, action="write", need_bytes=need_bytes)


def model_file_bytes(cfg) -> int:
    """A rough lower bound of the model file's size from the config alone (the data's inputs and classes are
    not known before it is read; two of each is assumed): weights and the optimizer's state, 4 bytes each,
    the batch losses 8 bytes each, and the file's own overhead."""
    sizes = [2, *cfg.hidden_sizes, 2]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    steps = cfg.epochs * max(1, getattr(cfg.dataset, "samples", 0) // max(1, cfg.batch_size))
    return 3 * 4 * params + 8 * steps + 16 * 1024
