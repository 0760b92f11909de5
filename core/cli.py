"""The headless command line: train, inspect, predict, batches, script and bench, with one `error:` line and exit 2 on any failure."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from core.atomic import atomic_write_text
from core.cli_output import (  # re-exported: the CLI's tests reach them here
    BATCH_LINES_UP_TO,
    EPOCH_LINES_UP_TO,
    CliError,
    _HistoryWriter,
    _Printer,
)
from core.config import ConfigError, TrainConfig, apply_overrides
from core.errors import ArchitectureError, DataError, DeviceError, ModelFileError, TrainingError
from core.events import Callback

__all__ = ["BATCH_LINES_UP_TO", "EPOCH_LINES_UP_TO", "CliError", "_HistoryWriter", "_Printer", "main"]

EXIT_ERROR = 2




class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus "prog: error: ..."; the contract is one `error:` line.
    def error(self, message: str):  # type: ignore[override]
        raise CliError(f"{message} (see {self.prog} --help)")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m core", description="Torch Playground engine: train, inspect and use models without a screen."
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,inspect,predict,batches,script,bench}", parser_class=_Parser)

    train = sub.add_parser(
        "train",
        help="train a model (defaults: the book's Appendix A run)",
        description=(
            "Train a model (defaults: the book's Appendix A run). A run of at most "
            f"{BATCH_LINES_UP_TO} batches prints the book's line for each batch "
            "(Epoch: 001/003 | Batch 000/002 | Train Loss: 0.75). A longer run prints no batch lines unless asked "
            "with --every; on a terminal it shows a progress bar on stderr (percentage, running loss, rate, time left). "
            "Each epoch ends with a summary line (with more than "
            f"{EPOCH_LINES_UP_TO} epochs: every k-th epoch's, about {EPOCH_LINES_UP_TO} in all, and the last's), "
            "then the accuracies and the result."
        ),
    )
    _add_config_arguments(train)
    train.add_argument(
        "--out",
        metavar="MODEL.pt",
        help="save the trained model here: the app's format (weights, settings, history), or with a .safetensors "
        "name the safetensors format (weights with the book's keys, settings; no history)",
    )
    train.add_argument("--history", metavar="HISTORY.csv", help="write one CSV row per batch: epoch,batch,step,loss")
    output = train.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet",
        action="store_true",
        help="no batch lines and no progress bar: only the start line, the per-epoch summaries, the accuracies, "
        "the result and errors",
    )
    output.add_argument(
        "--every",
        type=_positive_int,
        metavar="N",
        help="print the book's line for every Nth batch of each epoch (batch 000, N, 2N, ...), however long "
        "the run; --every 1 prints them all",
    )
    train.add_argument(
        "--events",
        metavar="FILE|-",
        help="advanced, for programs that watch the run: write each event as one JSON line to FILE "
        "('-': to stdout, and everything else the run prints goes to stderr)",
    )

    inspect = sub.add_parser("inspect", help="describe a .pt/.pth model file")
    inspect.add_argument("model", metavar="MODEL")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")

    predict = sub.add_parser("predict", help="logits and probabilities of a saved model for given inputs")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument(
        "--input",
        dest="inputs",
        action="append",
        required=True,
        metavar="X1,X2,...",
        help="one sample's features, comma-separated; negative numbers as --input=-1.2,3.1",
    )
    predict.add_argument("--json", action="store_true", help="print a JSON list, one object per input")

    bench = sub.add_parser("bench", help="the book's DataLoader loop against the engine: samples/s and ratios")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    bench.add_argument("--repeats", type=int, default=3, help="timed repeats per case; the best is kept")

    batches = sub.add_parser("batches", help="the training samples of each batch, epoch by epoch, as the run draws them")
    _add_config_arguments(batches)
    batches.add_argument("--epochs", type=int, default=3, metavar="N", help="how many epochs to show (default 3)")
    batches.add_argument("--json", action="store_true", help="print one JSON object")

    script = sub.add_parser("script", help="write the book-style PyTorch script that trains this config")
    _add_config_arguments(script)
    script.add_argument("--out", metavar="train.py", help="write the script here (default: print it)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="RUN.json", help="a JSON file of config fields")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field; dotted keys (dataset.name=moons); VALUE is read as JSON when it parses",
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _build_parser().parse_args(argv)
        if args.command is None:
            raise CliError("choose a command: train, inspect, predict, batches, script or bench (see python -m core --help)")
        commands = {
            "train": _train,
            "inspect": _inspect,
            "predict": _predict,
            "batches": _batches,
            "script": _script,
            "bench": _bench,
        }
        return commands[args.command](args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # every failure is one line for a person, never a traceback
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return EXIT_ERROR


# Errors whose message is already a sentence for a person.
_WORDED = (CliError, ConfigError, DataError, TrainingError, DeviceError, ModelFileError, ArchitectureError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _WORDED):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


# --- train ------------------------------------------------------------------------------------


def _load_config(args) -> TrainConfig:
    cfg = TrainConfig()
    if args.config:
        from core.config import read_config_file

        cfg = read_config_file(args.config)  # its ConfigError names the file
    return apply_overrides(cfg, args.sets) if args.sets else cfg.validate()


def _event_stream(train):
    """`--events FILE|-`: an EventWriter in `args.event_writer` (rank 0's only; None without the option).

    With `-` the JSON lines own stdout: whatever else the run prints goes to stderr meanwhile.
    """

    @functools.wraps(train)
    def run(args) -> int:
        args.event_writer = None
        env = _distributed_env() if args.events else None
        if not args.events or (env is not None and not env.is_reporter):
            return train(args)
        from core.distributed import EventWriter

        writer = EventWriter.open(args.events)
        args.event_writer = writer
        try:
            with contextlib.redirect_stdout(sys.stderr) if writer.to_stdout else contextlib.nullcontext():
                return train(args)
        finally:
            writer.close()

    return run


@_event_stream
def _train(args) -> int:
    from core.training import Trainer

    cfg = _load_config(args)
    env = _distributed_env()
    if env is not None:  # one process of a torchrun run (WORLD_SIZE > 1)
        return _train_distributed(args, cfg, env)
    if args.out:
        out_dir = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(out_dir):
            raise CliError(f"--out {args.out}: the folder {out_dir} does not exist")
    printer = _Printer(args.quiet, args.every)
    callbacks: list[Callback] = [printer]
    if args.event_writer is not None:
        callbacks.append(args.event_writer)
    writer = _HistoryWriter(args.history) if args.history else None
    if writer:
        callbacks.append(writer)
    stop = threading.Event()
    previous = (
        signal.signal(signal.SIGINT, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        trainer = Trainer(cfg, callbacks)
        result = trainer.fit(stop)
        if writer:
            writer.commit()
    finally:
        printer.close()
        if writer:
            writer.discard()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    last = result.last_epoch
    if last is not None:
        test = "n/a (no test split)" if last.test_accuracy is None else f"{last.test_accuracy:.2f}"
        print(f"Train accuracy: {last.train_accuracy:.2f} | Test accuracy: {test}")
    print(f"{result.status}: {result.message} ({result.samples_per_second:,.0f} samples/s)")
    if args.out:
        from core.checkpoint import save_model_file, trainer_fields

        save_model_file(args.out, **trainer_fields(trainer))  # a .safetensors name gets that format
        print(f"saved {args.out}")
    if result.status == "diverged":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


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
        if args.event_writer is not None:
            args.event_writer.stream.flush()
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
    previous = (
        signal.signal(signal.SIGINT, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
    )
    run = None
    try:
        if reporter:
            if args.out:
                out_dir = os.path.dirname(os.path.abspath(args.out))
                if not os.path.isdir(out_dir):
                    raise CliError(f"--out {args.out}: the folder {out_dir} does not exist")
            printer = _Printer(args.quiet, args.every)
            callbacks.append(printer)
            if args.event_writer is not None:
                callbacks.append(args.event_writer)
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
            last = result.last_epoch
            if last is not None:
                test = "n/a (no test split)" if last.test_accuracy is None else f"{last.test_accuracy:.2f}"
                print(f"Train accuracy: {last.train_accuracy:.2f} | Test accuracy: {test}")
            print(f"{result.status}: {result.message} ({result.samples_per_second:,.0f} samples/s)")
            if writer:
                writer.commit()
            if args.out:
                from core.checkpoint import save_model_file

                save_model_file(args.out, **save_fields(run))
                print(f"saved {args.out}")
        if result.status == "diverged":
            if reporter:
                print(f"error: {result.message}", file=sys.stderr)
            return EXIT_ERROR
        return 0
    except (Exception, KeyboardInterrupt) as exc:
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
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# --- inspect / predict ----------------------------------------------------------------------------


def _inspect(args) -> int:
    from core.checkpoint import load_model_file

    m = load_model_file(args.model)
    arch = m.architecture
    info = {
        "inputs": arch.inputs,
        "hidden_sizes": list(arch.hidden_sizes),
        "outputs": arch.outputs,
        "parameters": arch.parameters,
        "format": m.format,
        "activation": m.activation,
    }
    if m.class_names:
        info["class_names"] = list(m.class_names)
    if m.history is not None and len(m.history.batch_loss):
        info["trained_batches"] = len(m.history.batch_loss)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"file:         {args.model}")
    print(f"format:       {m.format}")
    print(f"inputs:       {arch.inputs}")
    print(f"hidden sizes: {list(arch.hidden_sizes)}")
    print(f"outputs:      {arch.outputs}")
    print(f"activation:   {m.activation or 'unknown (the file stores weights only; relu is assumed for predict)'}")
    print(f"parameters:   {arch.parameters}")
    if "trained_batches" in info:
        print(f"trained:      {info['trained_batches']} batches")
    for w in m.warnings:
        print(f"warning:      {w}")
    return 0


def _parse_input(text: str, n_inputs: int) -> list[float]:
    from core.data import parse_features

    try:
        return parse_features(text, n_inputs)
    except DataError as exc:
        raise CliError(f"--input {text!r}: {exc}") from None


def _predict(args) -> int:
    from core.checkpoint import load_model_file
    from core.predict import predict

    m = load_model_file(args.model)
    rows = [_parse_input(t, m.architecture.inputs) for t in args.inputs]
    p = predict(m.build_model(), rows, standardizer=m.standardizer)
    out = []
    for row, lg, pr, k in zip(rows, p.logits.tolist(), p.probabilities.tolist(), p.predicted.tolist(), strict=True):
        item = {"input": row, "logits": lg, "probabilities": pr, "predicted": k}
        if m.class_names and len(m.class_names) == len(pr):
            item["predicted_name"] = m.class_names[k]
        out.append(item)
    if args.json:
        print(json.dumps(out))
        return 0
    for item in out:
        name = f" ({item['predicted_name']})" if "predicted_name" in item else ""
        print(f"input {', '.join(f'{v:g}' for v in item['input'])}: predicted class {item['predicted']}{name}")
        print(f"  logits:        {', '.join(f'{v:.4f}' for v in item['logits'])}")
        print(f"  probabilities: {', '.join(f'{v:.4f}' for v in item['probabilities'])}")
    return 0


def _bench(args) -> int:
    from core.bench import run_bench

    return run_bench(quick=args.quick, repeats=args.repeats)


# --- batches / script -----------------------------------------------------------------------------


def _batches(args) -> int:
    from core.batches import batch_plan, describe_plan
    from core.errors import DataError, TrainingError

    if args.epochs < 1:
        raise CliError(f"--epochs must be at least 1, got {args.epochs}")
    cfg = _load_config(args)
    try:
        plan = batch_plan(cfg, args.epochs)
    except (ConfigError, DataError, TrainingError):
        raise
    except ValueError as exc:  # a plan too large to list
        raise CliError(f"--epochs {args.epochs}: {exc}") from None
    if args.json:
        print(json.dumps(plan.to_dict()))
    else:
        print("\n".join(describe_plan(plan, cfg)))
    return 0


def _script(args) -> int:
    from core.script import render_script

    cfg = _load_config(args)
    if cfg.dataset.name in ("csv", "iris", "digits"):
        from core.data import load_dataset

        load_dataset(cfg.dataset)  # the file the script reads must be readable now, not only when it runs
    text = render_script(cfg)
    if not args.out:
        sys.stdout.write(text)
        return 0
    _write_text_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


def _write_text_atomic(path: str, text: str) -> None:
    """Write a temporary file beside `path`, flush, fsync, then os.replace: a failed write leaves the old file."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise CliError(f"--out {path}: the folder {folder} does not exist")
    if os.path.isdir(target):
        raise CliError(f"--out {path} is a folder; give a file name such as train.py")
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise CliError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None
