"""The whole training step (forward, cross-entropy, backward, optimizer step) as one CUDA graph on cuda.

The book's MLP is tiny: on a GPU each step is a few dozen kernel launches of a few microseconds of
arithmetic each, and launching them costs more than the math (an H200 trained it slower than 16 CPU
threads). A CUDA graph records those launches once and replays them as one. This follows PyTorch's
"whole network capture" recipe (torch.cuda.graphs, CUDA semantics notes):

- the batch is copied into static input and label tensors that the graph reads;
- the first `warmup` full batches are ordinary training steps run on a side stream (they are real steps
  of the run, so the weights go exactly where the step-by-step loop takes them, and the optimizer's
  state exists before the capture);
- gradients are set to None before the capture, so the captured backward writes fresh .grad tensors
  from the graph's own memory, which every replay overwrites (no zero_grad between replays);
- the capture runs no kernels, so it does not train: the batch that triggers it is trained by the
  first replay;
- a batch of another shape (the last, smaller one when drop_last is off) is trained step by step;
- Adam and AdamW run with capturable=True while the graph lives (their step counter on the GPU); the
  optimizer's state_dict() still reads as without it, and the flag is put back when the run ends;
- a capture that fails says why once (a RuntimeWarning) and the run goes on step by step.

The graph backend is injectable, so the static-buffer logic is tested on the CPU with a stand-in that
"replays" by calling the step again (tests/core/test_cuda_graph.py).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

# "0", "false", "off" or "no" turns the graphs off for every run on cuda (a Trainer's cuda_graphs= wins).
ENV = "TORCH_PLAYGROUND_CUDA_GRAPHS"
# Real steps before the capture, as the recipe's example does (lazy initialisation of cuBLAS handles,
# the autograd engine and the optimizer's state happens in these, not in the capture).
WARMUP_STEPS = 3


class GraphBackend(Protocol):
    """How a step is captured and replayed: CudaGraphBackend on a GPU, a stand-in in the CPU tests."""

    needs_capturable: bool  # Adam/AdamW must run with capturable=True for this backend's capture

    def warmup(self) -> contextlib.AbstractContextManager: ...

    def capture(self, fn: Callable[[], torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> Callable[[], torch.Tensor]:
        """Record `fn` (reading `inputs`) without running it; return a replay that runs it and returns its
        (static) loss tensor."""
        ...


class CudaGraphBackend:
    """torch.cuda.CUDAGraph: warm-up and capture on one side stream of the model's device."""

    needs_capturable = True

    def __init__(self, device: torch.device):
        self.device = device
        self._stream: torch.cuda.Stream | None = None

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    @contextlib.contextmanager
    def warmup(self) -> Iterator[None]:
        # The same stream warms up and captures: cuBLAS handles are cached per stream, and one created
        # in the middle of a capture breaks it.
        with torch.cuda.device(self.device):
            side, main = self._side_stream(), torch.cuda.current_stream(self.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                yield
            main.wait_stream(side)

    def capture(self, fn: Callable[[], torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> Callable[[], torch.Tensor]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(self.device):
            # thread_local: the app trains on a worker thread; another thread's CUDA calls must not break the capture.
            with torch.cuda.graph(graph, stream=self._side_stream(), capture_error_mode="thread_local"):
                loss = fn()

        def replay() -> torch.Tensor:
            graph.replay()
            return loss

        return replay


def graphs_enabled_by_env(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ENV, "1")
    return value.strip().lower() not in ("0", "false", "off", "no")


def graph_backend(device: torch.device, setting: Any = None) -> GraphBackend | None:
    """The backend a Trainer on `device` captures its step with, or None for the step-by-step loop.

    `setting`: None follows the environment (on unless TORCH_PLAYGROUND_CUDA_GRAPHS=0), True/False
    force it; graphs are for cuda only. Anything else is a backend to use on any device (tests).
    """
    if setting is not None and not isinstance(setting, bool):
        return setting
    if device.type != "cuda":
        return None
    on = graphs_enabled_by_env() if setting is None else setting
    return CudaGraphBackend(device) if on else None


# --- the optimizer's capturable flag ----------------------------------------------------------------


def set_capturable(optimizer: torch.optim.Optimizer, on: bool) -> None:
    """Turn Adam/AdamW's capturable flag on or off, moving each step counter to where torch keeps it
    then (the parameter's device when on, the cpu when off, as a fresh optimizer does). SGD has no flag."""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = on
        for p in group["params"]:
            state = optimizer.state.get(p)
            step = state.get("step") if state else None
            if torch.is_tensor(step):
                where = p.device if on else torch.device("cpu")
                if step.device != where:
                    state["step"] = step.to(where)
    if on:
        # Warm-up and odd-sized batches step outside the capture on purpose: torch's one-time warning
        # that capturable=True is slower there is not for this case.
        optimizer._warned_capturable_if_run_uncaptured = True


def _state_dict_as_not_capturable(optimizer: torch.optim.Optimizer, state_dict: dict) -> dict:
    """state_dict() post-hook while the graph lives: a file saved mid-run reads as one saved without graphs
    (capturable off, step counters on the cpu), so it loads into a plain Adam on any device."""
    for group in state_dict["param_groups"]:  # fresh dicts per call
        if group.get("capturable"):
            group["capturable"] = False
    state_dict["state"] = {
        k: ({**v, "step": v["step"].cpu()} if torch.is_tensor(v.get("step")) else v) for k, v in state_dict["state"].items()
    }  # new dicts: the optimizer's own state is not touched
    return state_dict


# --- the graphed step ----------------------------------------------------------------------------------


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class GraphedStep:
    """One training step per call, replayed from a captured graph once warm.

    `step(features, labels)` trains on the batch and returns its loss tensor (read it before the next
    step: a replayed loss is the graph's one static tensor). Call `close()` when the run ends.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        example_x: torch.Tensor,
        example_y: torch.Tensor,
        backend: GraphBackend,
        *,
        warmup: int = WARMUP_STEPS,
        notify: Callable[[str], None] = _warn,
    ):
        if warmup < 1:
            raise ValueError("at least one warm-up step: the optimizer's state must exist before the capture")
        self.model, self.optimizer, self.backend = model, optimizer, backend
        self.static_x = torch.empty_like(example_x, memory_format=torch.contiguous_format)
        self.static_y = torch.empty_like(example_y, memory_format=torch.contiguous_format)
        self.warmup, self.notify = warmup, notify
        self.warmed = 0  # warm-up steps done
        self.replays = 0  # batches trained by the graph
        self.eager_steps = 0  # batches trained step by step (warm-up included)
        self.fallback_reason: str | None = None  # why the graph was given up, if it was
        self._replay: Callable[[], torch.Tensor] | None = None
        self._hook = None
        if backend.needs_capturable:
            set_capturable(optimizer, True)
            self._hook = optimizer.register_state_dict_post_hook(_state_dict_as_not_capturable)

    @property
    def captured(self) -> bool:
        return self._replay is not None

    def _fits(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        sx, sy = self.static_x, self.static_y
        return x.shape == sx.shape and y.shape == sy.shape and x.dtype == sx.dtype and y.dtype == sy.dtype

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The book's step, in the book's order."""
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.eager_steps += 1
        return loss

    def _graphed(self) -> torch.Tensor:
        """What the graph records: the book's step on the static buffers. No zero_grad: the grads are None when
        the capture starts, so the captured backward writes them afresh, and every replay overwrites them."""
        loss = F.cross_entropy(self.model(self.static_x), self.static_y)
        loss.backward()
        self.optimizer.step()
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.fallback_reason is not None or not self._fits(x, y):
            return self._eager(x, y)
        if self._replay is None:
            if self.warmed < self.warmup:
                self.warmed += 1
                with self.backend.warmup():
                    return self._eager(x, y)
            self._capture()
            if self._replay is None:
                return self._eager(x, y)
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.replays += 1
        return self._replay()

    def _capture(self) -> None:
        # Grads set to None: the captured backward allocates them in the graph's private memory.
        self.optimizer.zero_grad(set_to_none=True)
        try:
            self._replay = self.backend.capture(self._graphed, (self.static_x, self.static_y))
        except Exception as exc:  # noqa: BLE001 - any failure to capture means: train step by step
            self._replay = None
            self.optimizer.zero_grad(set_to_none=True)  # grads the failed capture left were never computed
            text = str(exc).strip()
            self._give_up(f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__)

    def _give_up(self, why: str) -> None:
        self.fallback_reason = why
        self._release_optimizer()
        self.notify(
            f"CUDA graphs are off for this run: capturing the training step failed ({why}); "
            "it trains step by step instead, with the same results."
        )

    def _release_optimizer(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
            set_capturable(self.optimizer, False)

    def close(self) -> None:
        """End of the run: gradients moved off the graph's memory (their values kept, as the step-by-step loop
        leaves them), the graph dropped, the optimizer's capturable flag put back. Safe to call twice."""
        if self._replay is not None:
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad = p.grad.detach().clone()
            self._replay = None
        self._release_optimizer()


# --- the bench --------------------------------------------------------------------------------------------
