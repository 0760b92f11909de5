"""DDP under torchrun (process group, DistributedSampler shards, rank-0 reports) and a run's events as JSON lines.

The run follows the book's `DDP-script-torchrun.py`: every rank seeds torch with the config's seed right
before the model is built, makes the optimizer, then wraps the model in DDP; each epoch calls
`DistributedSampler.set_epoch(epoch)` and draws the batches `DataLoader(batch_size, shuffle=False,
drop_last, sampler=DistributedSampler(train_ds))` would give this rank. Each step's loss is reported as the
mean over the ranks (an all_reduce that also carries the ranks' stop requests, so every rank stops after
the same step). Accuracy covers the whole splits: each rank evaluates its own contiguous share of the rows
and the counts are summed with all_reduce, so the numbers are those of one process evaluating everything.

torch is imported inside the functions that train: the window reads the event stream before torch loads.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.config import TrainConfig
from core.errors import TrainingError
from core.events import BatchEnd, Callback, EpochEnd, EventWriter, TrainResult, TrainStart, event_from_json, event_to_json  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import torch

    from core.training import Trainer

__all__ = [
    "DistributedEnv",
    "DistributedRun",
    "EventWriter",
    "PeerLost",
    "RankError",
    "RunInterrupted",
    "check_world_fits",
    "distributed_env",
    "event_from_json",
    "event_to_json",
    "shard_batches",
]

# The sampler's seed: DistributedSampler's default (0), as the book leaves it. The config's seed seeds the
# model; the shuffles of a DDP run come from the sampler (seed + epoch), the same on every rank.
SAMPLER_SEED = 0


class RankError(TrainingError):
    """A failure of this process alone (its device, its peers), where the other ranks may be fine."""


class PeerLost(RankError):
    """Another process of the run ended or stopped answering; this one cannot go on alone."""


class RunInterrupted(TrainingError):
    """The run was asked to stop (Ctrl+C, a stop button) and every rank stopped after the same step."""


from core.distributed_env import (  # noqa: E402, F401 (re-exported: the CLI and the tests use them from here)
    DistributedEnv,
    check_world_fits,
    die_with_launcher,
    distributed_env,
    exit_now,
    shard_batches,
    shard_samples,
)

# --- the run ---------------------------------------------------------------------------------------------


class DistributedRun:
    """One rank of a DDP run: `prepare()` builds everything that can fail on a person's settings (before any
    process waits for another), `connect()` joins the process group, `fit()` trains, `close()` leaves the group.

    The model, optimizer, data and history are those of a `core.training.Trainer` built on this rank (so the
    seeding is the single-process run's, and `trainer_fields(run.trainer)` saves the app's file without the
    `module.` prefix DDP would add); the loop is DDP's.
    """

    def __init__(self, cfg: TrainConfig, env: DistributedEnv, callbacks: Sequence[Callback] = (), *, probe=None):
        self.cfg = cfg.validate()
        self.env = env
        self.callbacks = list(callbacks)
        self.probe = probe
        self.trainer: Trainer | None = None
        self.backend = ""
        self.steps_per_epoch = 0
        self._connected = False

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Data, device, the seeded model and its optimizer: every check that depends only on the config runs
        here, before the process group exists, so each rank fails the same way and none waits for another."""
        import torch

        from core.devices import resolve_device
        from core.training import Trainer

        cfg, env = self.cfg, self.env
        # cuda:N names a device for one process; under DDP each rank takes cuda:LOCAL_RANK.
        device = resolve_device("cuda" if cfg.device.startswith("cuda") else cfg.device, self.probe)
        if device.type == "cuda":
            count = torch.cuda.device_count()
            if env.local_world_size is not None and env.local_world_size > count:  # every rank here sees it alike
                raise TrainingError(
                    f"{env.local_world_size} processes on this machine need one CUDA device each, but it has {count}: "
                    f"start at most {count} (--nproc_per_node={count}) or train on the cpu (device cpu)"
                )
            if env.local_rank >= count:
                raise RankError(
                    f"this process has LOCAL_RANK {env.local_rank}, but this machine has {count} CUDA device(s): "
                    f"start at most {count} processes per machine (--nproc_per_node={count})"
                )
            self.backend = "nccl"
            torch.cuda.set_device(env.local_rank)  # one device per rank, before the process group
            run_cfg = cfg.with_changes(device=f"cuda:{env.local_rank}")
        elif device.type == "cpu":
            self.backend = "gloo"
            run_cfg = cfg
        else:
            raise TrainingError(f"several processes train on cpu (gloo) or cuda (nccl), not on {device.type}: set device to cpu")
        # The Trainer seeds torch with cfg.seed right before it builds the model, then moves the model to the
        # device and makes its optimizer: the book's order (seed, model, .to, optimizer), DDP comes next.
        self.trainer = Trainer(run_cfg, probe=self.probe)
        self.steps_per_epoch = check_world_fits(
            int(self.trainer.data.X_train.shape[0]), cfg.batch_size, cfg.drop_last, env.world_size
        )

    def connect(self) -> None:
        """Join the process group (the address and port come from torchrun's environment)."""
        import torch.distributed as dist

        try:
            dist.init_process_group(backend=self.backend, rank=self.env.rank, world_size=self.env.world_size)
        except (RuntimeError, ValueError) as exc:
            raise PeerLost(f"cannot join the other processes ({_first_line(exc)})") from None
        self._connected = True

    def close(self) -> None:
        """Leave the process group (the book's destroy_process_group); safe to call twice or after a failure."""
        if not self._connected:
            return
        self._connected = False
        import torch.distributed as dist

        try:
            dist.destroy_process_group()
        except (RuntimeError, ValueError, AssertionError):  # a peer already gone: nothing left to leave
            pass

    # --- the loop -----------------------------------------------------------------------------

    def fit(self, stop: threading.Event | None = None) -> TrainResult:
        """Train cfg.epochs epochs under DDP; rank 0's callbacks get the events (losses = mean over ranks).

        A stop requested on any rank ends every rank after the same step (status "stopped"). Raises PeerLost
        when another rank fails.
        """
        try:
            return self._fit(stop)
        except BaseException as exc:
            for cb in self._reporting():
                cb.on_exception(exc)
            if isinstance(exc, RuntimeError) and _is_peer_failure(exc):
                raise PeerLost(f"another process of the run failed or ended ({_first_line(exc)})") from None
            raise

    def _reporting(self) -> list[Callback]:
        return self.callbacks if self.env.is_reporter else []

    def _fit(self, stop: threading.Event | None) -> TrainResult:
        import torch
        import torch.distributed as dist
        import torch.nn.functional as F
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        from core.data import ToyDataset
        from core.training import EXPLODING_LOSS

        if self.trainer is None:
            raise RuntimeError("prepare() first")
        trainer, cfg, env = self.trainer, self.cfg, self.env
        model, opt, device = trainer.model, trainer.optimizer, trainer.device
        callbacks = self._reporting()
        world = env.world_size
        # The book: the optimizer is made for the plain model, then the model is wrapped.
        ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
        X, y = trainer.data.X_train.to(device), trainer.data.y_train.to(device)
        n_train = int(X.shape[0])
        train_ds = ToyDataset(trainer.data.X_train, trainer.data.y_train)
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=env.rank, shuffle=cfg.shuffle, seed=SAMPLER_SEED)
        loader = None
        if cfg.num_workers > 0:
            loader = DataLoader(
                train_ds,
                batch_size=cfg.batch_size,
                shuffle=False,
                drop_last=cfg.drop_last,
                sampler=sampler,
                num_workers=cfg.num_workers,
            )
        bpe, epochs = self.steps_per_epoch, cfg.epochs
        info = trainer.start_info(epochs, bpe, device=device, train_samples=n_train)
        for cb in callbacks:
            cb.on_train_start(info)
        # Each step's [loss, stop request] is summed over the ranks while the next step computes: an async
        # all_reduce, waited for one step later (a blocking one cost 2 ms a step on a busy 2-core machine,
        # as much as DDP's own gradient all_reduce). Every rank sees the same sums at the same step, so all
        # stop (or find the run diverged) together, one step after the request.
        record = trainer.history.batch_loss.append
        t0 = time.perf_counter()
        samples = 0
        loss_sum = 0.0
        last_epoch: EpochEnd | None = None
        status, message = "finished", ""

        def settle(step) -> str | None:
            """Wait for one step's sums; record and report its mean loss; say whether the run must end."""
            nonlocal samples, loss_sum, message
            work, buf, epoch, batch, steps, n, elapsed = step
            work.wait()
            total, stops = buf.tolist()
            value = total / world
            samples += n
            loss_sum += value
            record(value)
            if callbacks:
                ev = BatchEnd(epoch, batch, steps, value, n, bpe, elapsed)
                for cb in callbacks:
                    cb.on_batch_end(ev)
            if not math.isfinite(value) or value > EXPLODING_LOSS:
                message = message or (  # the first diverging step's: the next one was already taken
                    f"the loss became {value:.3g} at epoch {epoch}, batch {batch}: training diverged. "
                    f"Try a lower learning rate than {cfg.learning_rate:g} (e.g. {cfg.learning_rate / 10:g})."
                )
                return "diverged"
            return "stopped" if stops > 0 else None

        for _ in range(epochs):
            epoch = trainer.epochs_completed + 1
            sampler.set_epoch(epoch - 1)  # the book's set_epoch(epoch) of range(num_epochs)
            ddp.train()
            batches = (
                ((xb.to(device), yb.to(device)) for xb, yb in loader)
                if loader is not None
                else shard_batches(X, y, list(iter(sampler)), cfg.batch_size, cfg.drop_last)
            )
            loss_sum, batch = 0.0, 0
            pending = None
            verdict: str | None = None
            for features, labels in batches:
                logits = ddp(features)
                loss = F.cross_entropy(logits, labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
                batch += 1
                trainer.steps += 1
                shared = torch.empty(2, dtype=torch.float64, device=device)
                shared[0] = loss.detach()
                shared[1] = 1.0 if stop is not None and stop.is_set() else 0.0
                work = dist.all_reduce(shared, async_op=True)
                if pending is not None:
                    verdict = settle(pending)
                # every rank's batch has the same size: the sampler gives each rank as many samples
                pending = (work, shared, epoch, batch, trainer.steps, int(labels.shape[0]) * world, time.perf_counter() - t0)
                if verdict is not None:
                    break
            if pending is not None:
                verdict = verdict or settle(pending)
            if verdict is not None:
                status = verdict
                break
            last_epoch = self._end_epoch(epoch, loss_sum / max(batch, 1), time.perf_counter() - t0)
        elapsed = time.perf_counter() - t0
        return trainer.end_run(status, message, epochs, elapsed, samples, last_epoch, callbacks,
                               where=f" on {world} processes")

    def _end_epoch(self, epoch: int, train_loss: float, elapsed: float) -> EpochEnd:
        """Accuracy over the whole splits: each rank evaluates its share of the rows, the counts are summed."""
        import torch
        import torch.distributed as dist

        trainer, env = self.trainer, self.env
        device = trainer.device
        model = trainer.model  # the plain module: evaluating needs no gradient sync
        model.eval()
        counts = torch.zeros(3, dtype=torch.float64, device=device)  # train correct, test correct, test loss sum
        counts[0] = _correct_and_loss(model, _share(trainer.data.X_train, env), _share(trainer.data.y_train, env), device)[0]
        n_test = int(trainer.data.X_test.shape[0])
        if n_test:
            correct, loss_sum = _correct_and_loss(
                model, _share(trainer.data.X_test, env), _share(trainer.data.y_test, env), device
            )
            counts[1], counts[2] = correct, loss_sum
        dist.all_reduce(counts)
        train_correct, test_correct, test_loss_sum = counts.tolist()
        n_train = int(trainer.data.X_train.shape[0])
        test_acc = test_loss = None
        if n_test:
            test_acc, test_loss = test_correct / n_test, test_loss_sum / n_test
        trainer.epochs_completed = epoch
        ev = EpochEnd(epoch, trainer.steps, train_loss, test_loss, train_correct / n_train, test_acc, elapsed)
        trainer.history.epochs.append(ev)
        for cb in self._reporting():
            cb.on_epoch_end(ev)
        return ev


def _share(t: torch.Tensor, env: DistributedEnv) -> torch.Tensor:
    """This rank's contiguous share of the rows (shares differ by at most one row; some may be empty)."""
    import torch

    return torch.tensor_split(t, env.world_size)[env.rank]


def _correct_and_loss(model, X: torch.Tensor, y: torch.Tensor, device) -> tuple[float, float]:
    """How many rows the model gets right and the sum of their cross-entropy (no_grad, the book's argmax)."""
    import torch
    import torch.nn.functional as F

    from core.training import EVAL_CHUNK

    correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, int(X.shape[0]), EVAL_CHUNK):
            xb, yb = X[start : start + EVAL_CHUNK].to(device), y[start : start + EVAL_CHUNK].to(device)
            logits = model(xb)
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((torch.argmax(logits, dim=1) == yb).sum().item())
    return float(correct), loss_sum


def _first_line(exc: BaseException) -> str:
    """The gist of a (gloo, nccl) error: its first sentence, without the source location in brackets."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h|hpp):\d+\]\s*", "", text)
    return text.split(". ")[0].rstrip(".")[:300]


def _is_peer_failure(exc: RuntimeError) -> bool:
    """A collective that failed because another rank went away (gloo and nccl word it in several ways)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "socket", "peer", "timed out", "broken pipe"))


def save_fields(run: DistributedRun) -> dict[str, Any]:
    """`save_model_file`'s arguments for rank 0 after the run: the Trainer's, with the config as given (a cuda
    run trains each rank on cuda:LOCAL_RANK; the file keeps the device the person asked for)."""
    from core.checkpoint import trainer_fields

    fields = trainer_fields(run.trainer)
    fields["config"] = run.cfg
    return fields
