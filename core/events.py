"""What the trainer reports: frozen events of plain numbers, and the no-op Callback base that receives them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import IO, Any


@dataclass(frozen=True)
class TrainStart:
    device: str  # the torch device the run uses, e.g. "cpu", "cuda:0"
    epochs: int  # epochs in this fit() call
    first_epoch: int  # 1-based number of the first epoch of this call (>1 when continuing)
    batches_per_epoch: int
    total_steps: int  # batches in this fit() call
    train_samples: int
    test_samples: int
    parameters: int


@dataclass(frozen=True)
class BatchEnd:
    epoch: int  # 1-based, counted over the model's whole life (continuing runs go on counting)
    batch: int  # 1-based within the epoch
    step: int  # 1-based over the model's whole life
    loss: float
    batch_size: int  # samples in this batch
    batches_per_epoch: int
    elapsed: float  # seconds since this fit() started


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    step: int
    train_loss: float  # mean of this epoch's batch losses
    test_loss: float | None  # None when there is no test split
    train_accuracy: float  # book's compute_accuracy over the training split (eval mode, no_grad)
    test_accuracy: float | None
    elapsed: float


@dataclass(frozen=True)
class TrainResult:
    status: str  # "finished", "stopped" or "diverged"; a failure raises instead (callbacks see on_exception)
    message: str  # one sentence for a person
    epochs_completed: int  # epochs completed over the model's whole life
    steps: int  # batches over the model's whole life
    elapsed: float
    samples_per_second: float
    last_epoch: EpochEnd | None = None


class Callback:
    """Hooks the trainer calls (Lightning's shape); every hook is a no-op by default."""

    def on_train_start(self, info: TrainStart) -> None: ...

    def on_batch_end(self, event: BatchEnd) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...

    def on_train_end(self, result: TrainResult) -> None: ...

    def on_exception(self, exc: BaseException) -> None: ...


# --- the one JSON codec of every event (a torchrun run's stream, `core train --events`) -----------------

# type name -> (class, to plain JSON values, from them). Events of plain fields need no functions; insight's
# unit pictures (numpy images) register theirs (core.insight), so every event a run sends can travel.
_CODECS: dict[str, tuple[type, Callable[[Any], dict] | None, Callable[[dict], Any] | None]] = {}


def register_event(cls: type, encode: Callable[[Any], dict] | None = None,
                   decode: Callable[[dict], Any] | None = None) -> None:
    """Let `cls` travel as a JSON line: by its dataclass fields, or through `encode`/`decode`."""
    _CODECS[cls.__name__] = (cls, encode, decode)


def _result_from(data: dict) -> TrainResult:
    if isinstance(data.get("last_epoch"), dict):
        data["last_epoch"] = EpochEnd(**data["last_epoch"])
    return TrainResult(**data)


for _cls in (TrainStart, BatchEnd, EpochEnd):
    register_event(_cls)
register_event(TrainResult, decode=_result_from)


def event_to_json(event: Any) -> str:
    """One line: `{"type": "BatchEnd", "epoch": 1, ...}`, the event's fields (floats round-trip exactly)."""
    name = type(event).__name__
    codec = _CODECS.get(name)
    plain = codec[1](event) if codec is not None and codec[1] is not None else asdict(event)
    return json.dumps({"type": name, **plain})


def event_from_json(line: str) -> Any:
    """The event a line of `event_to_json` holds; None for a line that is not one (blank, text, an unknown type).

    Raises nothing: a watcher reads whatever the process prints and keeps the events.
    """
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
        codec = _CODECS.get(data.pop("type", None)) if isinstance(data, dict) else None
        if codec is None:
            return None
        cls, _encode, decode = codec
        if decode is not None:
            return decode(data)
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names})
    except (ValueError, TypeError, KeyError):
        return None


class EventWriter(Callback):
    """Writes each event as one JSON line and flushes it, so a watching process sees it at once.

    `EventWriter.open("-")` writes to the current stdout (taken now: the caller may then send
    sys.stdout elsewhere); any other target is a file, created or truncated. `write(event)` takes any
    registered event (an InsightRecorder's looks, say).
    """

    def __init__(self, stream: IO[str], owned: bool = False):
        self.stream = stream
        self.owned = owned

    @classmethod
    def open(cls, target: str) -> EventWriter:
        if target == "-":
            return cls(sys.stdout)
        return cls(open(target, "w", encoding="utf-8", newline="\n"), owned=True)  # noqa: SIM115 - closed by close()

    @property
    def to_stdout(self) -> bool:
        return not self.owned

    def write(self, event: Any) -> None:
        self._write(event)

    def _write(self, event) -> None:
        self.stream.write(event_to_json(event) + "\n")
        self.stream.flush()

    def on_train_start(self, info: TrainStart) -> None:
        self._write(info)

    def on_batch_end(self, event: BatchEnd) -> None:
        self._write(event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self._write(event)

    def on_train_end(self, result: TrainResult) -> None:
        self._write(result)

    def close(self) -> None:
        if self.owned and not self.stream.closed:
            self.stream.close()
