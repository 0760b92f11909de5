"""The training loop of Appendix A, fast: batches sliced from in-memory tensors, bit-identical to a DataLoader loop."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from core.config import TrainConfig
from core.cuda_graph import GraphBackend, GraphedStep, graph_backend
from core.data import DataSplit, ToyDataset, load_dataset
from core.devices import resolve_device
from core.errors import Cancelled, TrainingError
from core.events import BatchEnd, Callback, EpochEnd, TrainResult, TrainStart
from core.history import History
from core.memory import check_training_memory
from core.model import architecture_from_state_dict, count_parameters
from core.optimizers import optimizer_spec
from core.predict import predict_logits
from core.training_steps import (  # noqa: F401 (re-exported: the DDP run and the tests use them from here)
    EVAL_CHUNK,
    EXPLODING_LOSS,
    _accuracy_and_loss,
    _batches_or_refuse,
    epoch_order,
    seeded_model_and_generator,
)


class Trainer:
    """Train the book's MLP on a config's data, reporting through callbacks.

    `fit()` may be called again to continue: epochs, steps, history and the shuffle generator
    carry on exactly as one longer run would.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        callbacks: Sequence[Callback] = (),
        *,
        data: DataSplit | None = None,
        initial_state: dict | None = None,
        optimizer_state: dict | None = None,
        history: History | None = None,
        threads: int | None = None,
        probe=None,
        cancel: threading.Event | None = None,
        cuda_graphs: bool | GraphBackend | None = None,
    ):
        """`cuda_graphs`: on cuda, each full-size batch's step is replayed as one CUDA graph (core/cuda_graph.py);
        None = on unless TORCH_PLAYGROUND_CUDA_GRAPHS=0, False = step by step; other devices never use graphs.
        A GraphBackend object is used on any device (the CPU tests' stand-in)."""
        self.cfg = cfg.validate()
        self.callbacks = list(callbacks)
        self.threads = threads
        # `cancel` (a stop button, a closing window) is honoured while the data is made: Cancelled.
        self.data = data if data is not None else load_dataset(cfg.dataset, cancel)
        n_train = self.data.X_train.shape[0]
        if n_train == 0:
            raise TrainingError("the training split is empty: lower dataset.test_fraction or use more samples")
        self.batches_per_epoch = _batches_or_refuse(n_train, cfg)
        self.device = resolve_device(cfg.device, probe)
        self._cuda_graphs = cuda_graphs
        self._graph_backend = graph_backend(self.device, cuda_graphs)
        self.cuda_graph_fallback: str | None = None  # why capturing the step failed (then this trainer stops trying)
        check_training_memory(self.data.num_features, cfg.hidden_sizes, self.data.num_classes, cfg.optimizer, cfg.momentum)
        self.model, self._generator = seeded_model_and_generator(cfg, self.data.num_features, self.data.num_classes)
        if initial_state is not None:
            self._load_initial_state(initial_state)
        self.model.to(self.device)
        self.optimizer = self._make_optimizer()
        if optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(optimizer_state)
            except (ValueError, KeyError, RuntimeError):
                pass  # a different optimizer or shape: start its state afresh, the weights still continue
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.learning_rate
        self.history = history if history is not None else History()
        self.steps = len(self.history.batch_loss)
        self.epochs_completed = self.history.epochs[-1].epoch if self.history.epochs else 0
        self._X_train = self.data.X_train.to(self.device)
        self._y_train = self.data.y_train.to(self.device)
        self._X_test = self.data.X_test.to(self.device)
        self._y_test = self.data.y_test.to(self.device)

    # --- set-up -----------------------------------------------------------------------------

    def _load_initial_state(self, state: dict) -> None:
        arch = architecture_from_state_dict(state)
        want = (self.data.num_features, tuple(self.cfg.hidden_sizes), self.data.num_classes)
        have = (arch.inputs, arch.hidden_sizes, arch.outputs)
        if have != want:
            raise TrainingError(
                f"the model has {arch.inputs} inputs, hidden sizes {list(arch.hidden_sizes)} and {arch.outputs} outputs, "
                f"but this run needs {want[0]} inputs (features), hidden sizes {list(want[1])} and {want[2]} outputs (classes)"
            )
        self.model.load_state_dict(state)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.cfg
        # torch's default implementation choices, exactly as the book's `SGD(model.parameters(), lr=...)`:
        # the bit-for-bit tests against a plain loop depend on it (core.optimizers, one row per optimizer).
        return optimizer_spec(cfg.optimizer).build(self.model.parameters(), cfg.learning_rate, cfg.momentum, cfg.weight_decay)

    def continue_with(self, cfg: TrainConfig, callbacks: Sequence[Callback] | None = None) -> "Trainer":
        """A trainer that goes on from this one's weights, optimizer, history and shuffle stream
        under a changed config (learning rate, epochs, batch size, ...; same data and layers)."""
        if cfg.dataset != self.cfg.dataset:
            raise TrainingError("the data set changed: start a new model (Reset) to train on other data")
        if tuple(cfg.hidden_sizes) != tuple(self.cfg.hidden_sizes) or cfg.activation != self.cfg.activation:
            raise TrainingError("the layers changed: start a new model (Reset) to train other layers")
        nxt = Trainer.__new__(Trainer)
        nxt.__dict__.update(self.__dict__)
        nxt.cfg = cfg.validate()
        if callbacks is not None:
            nxt.callbacks = list(callbacks)
        nxt.batches_per_epoch = _batches_or_refuse(self.data.X_train.shape[0], cfg)
        device = resolve_device(cfg.device)
        if device != self.device:
            nxt.device = device
            nxt.model = self.model.to(device)
            nxt._X_train, nxt._y_train = self.data.X_train.to(device), self.data.y_train.to(device)
            nxt._X_test, nxt._y_test = self.data.X_test.to(device), self.data.y_test.to(device)
            if self.cuda_graph_fallback is None:
                nxt._graph_backend = graph_backend(device, self._cuda_graphs)
        same_kind = cfg.optimizer == self.cfg.optimizer
        nxt.optimizer = nxt._make_optimizer()
        if same_kind:
            nxt.optimizer.load_state_dict(self.optimizer.state_dict())
            for group in nxt.optimizer.param_groups:
                group["lr"] = cfg.learning_rate
                if "momentum" in group:
                    group["momentum"] = cfg.momentum
                group["weight_decay"] = cfg.weight_decay
        return nxt

    # --- batches ------------------------------------------------------------------------------

    def _epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch's batches, drawing from the generator exactly as DataLoader's iterator does."""
        cfg = self.cfg
        if cfg.num_workers > 0:
            yield from self._dataloader_batches()
            return
        X, y = self._X_train, self._y_train
        n = X.shape[0]
        perm = epoch_order(self._generator, n, cfg.shuffle)
        if perm is not None:
            perm = perm.to(self.device)
            # One gather per epoch, then contiguous slices: the same rows in the same order as a
            # per-item __getitem__ plus collate, at a fraction of the cost.
            X, y = X[perm], y[perm]
        bs = cfg.batch_size
        end = n - n % bs if cfg.drop_last else n
        for start in range(0, end, bs):
            yield X[start : start + bs], y[start : start + bs]

    def _dataloader_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """num_workers > 0: a real DataLoader with worker processes, fed from our generator's stream."""
        loader = torch.utils.data.DataLoader(
            ToyDataset(self.data.X_train, self.data.y_train),
            batch_size=self.cfg.batch_size,
            shuffle=self.cfg.shuffle,
            drop_last=self.cfg.drop_last,
            # More processes than cores only wait for each other (torch warns); the order is the same.
            num_workers=min(self.cfg.num_workers, os.cpu_count() or 1),
        )
        saved = torch.get_rng_state()
        torch.set_rng_state(self._generator.get_state())
        try:
            it = iter(loader)
            first = next(it, None)
            self._generator.set_state(torch.get_rng_state())
        finally:
            torch.set_rng_state(saved)
        if first is None:
            return
        yield first[0].to(self.device), first[1].to(self.device)
        for xb, yb in it:
            yield xb.to(self.device), yb.to(self.device)

    # --- the loop --------------------------------------------------------------------------------

    def fit(
        self,
        stop: threading.Event | None = None,
        pause: threading.Event | None = None,
        epochs: int | None = None,
    ) -> TrainResult:
        """Train `epochs` (default cfg.epochs) more epochs; stop and pause are honoured between batches."""
        epochs = self.cfg.epochs if epochs is None else epochs
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        graphed = self._graphed_step()
        try:
            return self._fit(stop, pause, epochs, graphed)
        except BaseException as exc:
            for cb in self.callbacks:
                cb.on_exception(exc)
            raise
        finally:
            if graphed is not None:
                graphed.close()
                if graphed.fallback_reason is not None:  # said once; later fits of this trainer go step by step
                    self.cuda_graph_fallback, self._graph_backend = graphed.fallback_reason, None

    def _graphed_step(self) -> GraphedStep | None:
        """This fit's captured step on cuda (graphs on, at least one full batch), else None: the plain loop."""
        bs = self.cfg.batch_size
        if self._graph_backend is None or self._X_train.shape[0] < bs:
            return None
        return GraphedStep(self.model, self.optimizer, self._X_train[:bs], self._y_train[:bs], self._graph_backend)

    def _fit(self, stop: threading.Event | None, pause: threading.Event | None, epochs: int,
             graphed: GraphedStep | None = None) -> TrainResult:
        cfg, model, opt = self.cfg, self.model, self.optimizer
        callbacks = self.callbacks
        bpe = self.batches_per_epoch
        info = self.start_info(epochs, bpe)
        for cb in callbacks:
            cb.on_train_start(info)
        record = self.history.batch_loss.append
        t0 = time.perf_counter()
        paused_for = 0.0
        samples = 0
        last_epoch: EpochEnd | None = None
        status, message = "finished", ""
        for _ in range(epochs):
            epoch = self.epochs_completed + 1
            model.train()
            loss_sum, batch = 0.0, 0
            for features, labels in self._epoch_batches():
                if stop is not None and stop.is_set():
                    status = "stopped"
                    break
                if pause is not None and pause.is_set():
                    p0 = time.perf_counter()
                    while pause.is_set() and not (stop is not None and stop.is_set()):
                        # Resume is the pause event being cleared; Event has no wait-for-clear.
                        time.sleep(0.02) if stop is None else stop.wait(0.02)
                    paused_for += time.perf_counter() - p0
                    if stop is not None and stop.is_set():
                        status = "stopped"
                        break
                if graphed is None:
                    logits = model(features)
                    loss = F.cross_entropy(logits, labels)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                else:
                    loss = graphed.step(features, labels)
                value = loss.item()
                batch += 1
                self.steps += 1
                n = labels.shape[0]
                samples += n
                record(value)
                loss_sum += value
                if callbacks:
                    ev = BatchEnd(epoch, batch, self.steps, value, n, bpe, time.perf_counter() - t0 - paused_for)
                    for cb in callbacks:
                        cb.on_batch_end(ev)
                if not math.isfinite(value) or value > EXPLODING_LOSS:
                    status = "diverged"
                    message = (
                        f"the loss became {value:.3g} at epoch {epoch}, batch {batch}: training diverged. "
                        f"Try a lower learning rate than {cfg.learning_rate:g} (e.g. {cfg.learning_rate / 10:g})."
                    )
                    break
            if status != "finished":
                break
            try:
                last_epoch = self._end_epoch(epoch, loss_sum / max(batch, 1), time.perf_counter() - t0 - paused_for, stop)
            except Cancelled:  # stopped while evaluating a big split: the epoch is trained but not measured
                status = "stopped"
                break
            test_loss = last_epoch.test_loss  # a float already: a nan here with finite batch losses is no "finished"
            if test_loss is not None and not math.isfinite(test_loss):
                status, message = "diverged", (
                    f"the test loss became {test_loss:.3g} after epoch {epoch} (training loss {last_epoch.train_loss:.3g}): "
                    f"the test data may lie far outside the training data, or the learning rate ({cfg.learning_rate:g}) is too high")
                break
        elapsed = time.perf_counter() - t0 - paused_for
        return self.end_run(status, message, epochs, elapsed, samples, last_epoch, callbacks)

    def start_info(self, epochs: int, batches_per_epoch: int, device=None, train_samples: int | None = None) -> TrainStart:
        """The run's TrainStart (a DDP rank passes its device and its share of the training split)."""
        return TrainStart(
            device=str(self.device if device is None else device),
            epochs=epochs,
            first_epoch=self.epochs_completed + 1,
            batches_per_epoch=batches_per_epoch,
            total_steps=batches_per_epoch * epochs,
            train_samples=int(self.data.X_train.shape[0]) if train_samples is None else train_samples,
            test_samples=int(self.data.X_test.shape[0]),
            parameters=count_parameters(self.model),
        )

    def end_run(self, status: str, message: str, epochs: int, elapsed: float, samples: int,
                last_epoch: EpochEnd | None, callbacks: Sequence[Callback], where: str = "") -> TrainResult:
        """The run's TrainResult (a finished or stopped run's message written here), told to `callbacks`.
        `where` ends a finished run's message (" on 2 processes")."""
        if status == "finished":
            message = f"finished {epochs} epoch(s) in {elapsed:.2f} s{where}"
        elif status == "stopped":
            message = f"stopped by request after {self.steps} batches (epoch {self.epochs_completed + 1})"
        result = TrainResult(
            status=status,
            message=message,
            epochs_completed=self.epochs_completed,
            steps=self.steps,
            elapsed=elapsed,
            samples_per_second=samples / elapsed if elapsed > 0 else 0.0,
            last_epoch=last_epoch or (self.history.epochs[-1] if self.history.epochs else None),
        )
        for cb in callbacks:
            cb.on_train_end(result)
        return result

    def _end_epoch(self, epoch: int, train_loss: float, elapsed: float, stop: threading.Event | None = None) -> EpochEnd:
        # The epoch's training loss is the mean of its batch losses (what the curve shows), so only
        # the accuracy needs a pass over the training split.
        # One switch to eval mode for both splits; the next epoch (or predict) switches back. Each
        # switch walks every module (~80 us on a slow machine): more of them made a short run 20% slower
        # than the same loop written out.
        self.model.eval()
        train_acc, _ = _accuracy_and_loss(self.model, self._X_train, self._y_train, with_loss=False, stop=stop)
        test_acc = test_loss = None
        if self._X_test.shape[0]:
            test_acc, test_loss = _accuracy_and_loss(self.model, self._X_test, self._y_test, stop=stop)
        self.epochs_completed = epoch
        ev = EpochEnd(epoch, self.steps, train_loss, test_loss, train_acc, test_acc, elapsed)
        self.history.epochs.append(ev)
        for cb in self.callbacks:
            cb.on_epoch_end(ev)
        return ev

    # --- using the model -----------------------------------------------------------------------

    def predict(self, X: torch.Tensor, raw: bool = True, check_finite: bool = True) -> torch.Tensor:
        """Logits (float32, cpu) for rows of features; `raw` rows are standardized first when the data was.
        With `check_finite` an inf/NaN output raises core.predict.NonFiniteError (see predict_logits)."""
        return predict_logits(self.model, X, standardizer=self.data.standardizer if raw else None, check_finite=check_finite)

    def state_dict_cpu(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
