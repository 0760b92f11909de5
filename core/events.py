"""What the trainer reports: frozen events of plain numbers, and the no-op Callback base that receives them."""

from __future__ import annotations

from dataclasses import dataclass


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
