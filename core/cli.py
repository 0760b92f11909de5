"""The headless command line: train, inspect, predict, batches, script and bench, with one `error:` line and exit 2 on any failure."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

from core.atomic import atomic_write_text
from core.cli_output import (  # re-exported: the CLI's tests reach them here
    BATCH_LINES_UP_TO,
    EPOCH_LINES_UP_TO,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    _describe,
    _HistoryWriter,
    _Printer,
    check_output,
    is_broken_pipe,
    leave_quietly,
    load_config,
)
from core.config import ConfigError
from core.errors import DataError
from core.temp_files import Terminated, terminate_cleanly

__all__ = ["BATCH_LINES_UP_TO", "EPOCH_LINES_UP_TO", "CliError", "_HistoryWriter", "_Printer", "_describe", "main"]


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
    """Run one command; returns the exit status: 0, 2 on any failure (one `error:` line), 130 for Ctrl+C
    outside training, 143 for SIGTERM, 141 when the reader of stdout has gone (quietly, like `head`)."""
    try:
        # Under torchrun a rank keeps SIGTERM's default while it trains: a Python handler would only run once
        # a collective returns, and torchrun ends the ranks with SIGTERM. Its writes install their own.
        with terminate_cleanly() if not _under_torchrun() else contextlib.nullcontext():
            code = _run(argv)
            sys.stdout.flush()  # a reader that left shows here, not at interpreter exit
            return code
    except Terminated as exc:
        _say(f"error: {exc}")
        return exc.status
    except KeyboardInterrupt:
        _say("error: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure is one line for a person, never a traceback
        if is_broken_pipe(exc):
            leave_quietly()
            return EXIT_BROKEN_PIPE
        _say(f"error: {_describe(exc)}")
        return EXIT_ERROR


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
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


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr gone too: the status is all that is left
        pass


def _under_torchrun() -> bool:
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _train(args) -> int:
    from core.cli_train import train

    return train(args)


# --- train ------------------------------------------------------------------------------------




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
        print(json.dumps(info, allow_nan=False))
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
    try:
        p = predict(m.build_model(), rows, standardizer=m.standardizer)
    except DataError as exc:  # an input or output beyond float32: say which model gave it
        raise CliError(f"cannot predict with {args.model}: {exc}") from None
    out = []
    for row, lg, pr, k in zip(rows, p.logits.tolist(), p.probabilities.tolist(), p.predicted.tolist(), strict=True):
        item = {"input": row, "logits": lg, "probabilities": pr, "predicted": k}
        if m.class_names and len(m.class_names) == len(pr):
            item["predicted_name"] = m.class_names[k]
        out.append(item)
    if args.json:
        print(json.dumps(out, allow_nan=False))  # strict JSON: NaN and Infinity are not JSON
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
    cfg = load_config(args)
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

    cfg = load_config(args)
    if args.out:
        check_output(args.out)  # before the data is read: a folder, a device, a read-only disk are said now
    if cfg.dataset.name in ("csv", "iris", "digits"):
        from core.data import load_dataset

        load_dataset(cfg.dataset)  # the file the script reads must be readable now, not only when it runs
    text = render_script(cfg)
    if not args.out:
        sys.stdout.write(text)
        return 0
    atomic_write_text(args.out, text)  # through a symlink; a device or FIFO there is refused, never replaced
    print(f"wrote {args.out}")
    return 0
