"""`python -m core train`, in one process or as one rank of a torchrun run (DDP).

Every file the run will write (--out, --history, --events FILE) is checked before the data is read or a
batch trained: a refusal after an hour of training would lose the model.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading

from core.cli_output import (
    _WORDED,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    _describe,
    _HistoryWriter,
    _Printer,
    check_output,
    is_broken_pipe,
    leave_quietly,
    load_config,
    model_file_bytes,
)
from core.config import TrainConfig
from core.errors import PathError
from core.events import Callback
from core.paths import os_words
from core.temp_files import terminate_cleanly


def train(args) -> int:

    cfg = load_config(args)
    env = _distributed_env()
    if env is not None:  # one process of a torchrun run (WORLD_SIZE > 1)
        return _train_distributed(args, cfg, env)
    _check_outputs(args, cfg)
    with contextlib.ExitStack() as stack:
        events = _open_events(args, stack)
        return _train_here(args, cfg, events)


def _check_outputs(args, cfg: TrainConfig) -> None:
    if args.out:
        check_output(args.out, model_file_bytes(cfg))
    if args.history:
        check_output(args.history)
    if args.events and args.events != "-":
        check_output(args.events)


def _open_events(args, stack: contextlib.ExitStack):
    """`--events FILE|-`: an EventWriter, closed with the stack (None without the option). With `-` the JSON
    lines own stdout: whatever else the run prints goes to stderr meanwhile."""
    if not args.events:
        return None
    from core.distributed import EventWriter

    class NamedEvents(EventWriter):
        # A disk filling up under --events FILE names the file, as every other write does.
        def _write(self, event) -> None:
            try:
                super()._write(event)
            except OSError as exc:
                if not self.owned or isinstance(exc, PathError):
                    raise  # stdout: a reader gone is the quiet exit 141
                raise PathError(args.events, os_words(exc), action="write") from None

        def close(self) -> None:
            try:
                super().close()
            except OSError as exc:  # the buffered line that failed is flushed again on close
                raise PathError(args.events, os_words(exc), action="write") from None

    try:
        writer = NamedEvents.open(args.events)
    except OSError as exc:
        raise PathError(args.events, os_words(exc), action="write") from None
    stack.callback(writer.close)
    if writer.to_stdout:
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))
    return writer


def _stop_on_sigint(stop: threading.Event):
    """Ctrl+C during training ends it cleanly after the batch (the result is still printed and saved); the
    handler that was there comes back for the save, where Ctrl+C interrupts."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    restore = contextlib.ExitStack()
    restore.callback(signal.signal, signal.SIGINT, previous)
    return restore


def _train_here(args, cfg: TrainConfig, events) -> int:
    from core.training import Trainer

    printer = _Printer(args.quiet, args.every)
    callbacks: list[Callback] = [printer]
    if events is not None:
        callbacks.append(events)
    writer = _HistoryWriter(args.history) if args.history else None
    if writer:
        callbacks.append(writer)
    stop = threading.Event()
    try:
        with _stop_on_sigint(stop):
            trainer = Trainer(cfg, callbacks)
            result = trainer.fit(stop)
        if writer:
            writer.commit()
    finally:
        printer.close()
        if writer:
            writer.discard()
    _print_result(result)
    if args.out:
        from core.checkpoint import trainer_fields

        _save(args.out, trainer_fields(trainer))  # a .safetensors name gets that format
        print(f"saved {args.out}")
    if result.status == "diverged":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _save(path: str, fields: dict) -> None:
    from core.checkpoint import save_model_file

    try:
        save_model_file(path, **fields)
    except RuntimeError as exc:  # torch's serializer failing for a reason that is no OSError: its gist, no internals
        gist = re.sub(r"\[enforce fail at [^\]]*\]\s*", "", str(exc)).strip(" .\n").splitlines()
        raise PathError(path, f"torch could not write it ({gist[0][:160] if gist else 'no reason given'})", action="save") from None


def _print_result(result) -> None:
    last = result.last_epoch
    if last is not None:
        test = "n/a (no test split)" if last.test_accuracy is None else f"{last.test_accuracy:.2f}"
        print(f"Train accuracy: {last.train_accuracy:.2f} | Test accuracy: {test}")
    print(f"{result.status}: {result.message} ({result.samples_per_second:,.0f} samples/s)")


# --- train under torchrun (DDP) --------------------------------------------------------------------


def _distributed_env():
    from core.distributed import distributed_env

    return distributed_env()


def _train_distributed(args, cfg: TrainConfig, env) -> int:
    """`train` as one process of a torchrun run; a rank that torchrun started ends here, at once."""
    from core.distributed import die_with_launcher, exit_now

    launched = die_with_launcher()
    code = _train_rank(args, cfg, env, launched)
    if launched:
        exit_now(code)
    return code


# How long a rank that leaves a shared failure for local rank 0 to say waits to be ended by torchrun.
_LINGER_S = 30.0


def _train_rank(args, cfg: TrainConfig, env, launched: bool = False) -> int:
    """One rank's run: core.distributed trains; rank 0 alone prints and writes.

    Every rank returns 2 on a failure. A failure all ranks share (a bad setting, Ctrl+C) is said once: by
    rank 0 (or once per machine for a setting, since another machine may lack a file); a failure of one
    rank is said by that rank, named.
    """
    from core.distributed import DistributedRun, RankError, RunInterrupted, save_fields

    reporter = env.is_reporter
    callbacks: list[Callback] = []
    printer = writer = None
    stop = threading.Event()
    run = None
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(_stop_on_sigint(stop))
        if reporter:
            _check_outputs(args, cfg)
            events = _open_events(args, stack)
            printer = _Printer(args.quiet, args.every)
            callbacks.append(printer)
            if events is not None:
                callbacks.append(events)
            writer = _HistoryWriter(args.history) if args.history else None
            if writer:
                callbacks.append(writer)
        run = DistributedRun(cfg, env, callbacks)
        run.prepare()  # data, device, model: every check before any process waits for another
        run.connect()
        if reporter:
            print(
                f"DDP: {env.world_size} processes ({run.backend}); rank 0 reports, each loss is the mean over the processes",
                flush=True,
            )
        result = run.fit(stop)
        if result.status == "stopped":
            raise RunInterrupted(f"interrupted: every process stopped after {result.steps} batches; nothing was saved")
        if reporter:
            _print_result(result)
            # A rank keeps SIGTERM's default while it trains (a Python handler would wait for a collective to
            # return); while it writes, SIGTERM removes the temporary files first.
            with terminate_cleanly():
                if writer:
                    writer.commit()
                if args.out:
                    _save(args.out, save_fields(run))
                    print(f"saved {args.out}")
        if result.status == "diverged":
            if reporter:
                print(f"error: {result.message}", file=sys.stderr)
            return EXIT_ERROR
        return 0
    except (Exception, KeyboardInterrupt) as exc:
        if reporter and is_broken_pipe(exc):
            leave_quietly()
            return EXIT_BROKEN_PIPE
        if isinstance(exc, (RunInterrupted, KeyboardInterrupt)):
            says, text = reporter, "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        elif isinstance(exc, RankError) or not isinstance(exc, _WORDED):
            says, text = True, f"rank {env.rank}: {_describe(exc)}"
        else:  # the same settings give the same error on every rank
            says, text = env.local_rank == 0, _describe(exc)
        if says:
            print(f"error: {text}", file=sys.stderr, flush=True)
        elif launched and not isinstance(exc, (RunInterrupted, KeyboardInterrupt)):
            # torchrun ends the other processes as soon as one fails: a silent rank that ended first could
            # have local rank 0 ended before it said the error. So it waits to be ended (or Ctrl+C).
            stop.wait(_LINGER_S)
        return EXIT_ERROR
    finally:
        if printer is not None:
            printer.close()
        if writer:
            writer.discard()
        if run is not None:
            run.close()
        stack.close()
