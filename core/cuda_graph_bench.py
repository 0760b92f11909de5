"""The CUDA-graph benchmark of `python -m core bench`: the book's MLP step by step against one graph per step."""

from __future__ import annotations

import time
from typing import Any

import torch


def cuda_graph_bench(
    samples: int = 200_000,
    batch_size: int = 256,
    epochs: int = 1,
    repeats: int = 3,
    device: str = "cuda",
    backend: Any = True,
    with_cpu: bool = True,
) -> dict[str, Any]:
    """The book's MLP on moons, one run per mode: samples/s step by step and with the step as a CUDA graph
    (and on the cpu with this process's threads, for comparison). Times are the best of `repeats` fit()
    calls, capture and end-of-epoch accuracies included; every run gets the same fresh data and seed.

    Without CUDA: {"skipped": why}. `device`/`backend` let the CPU tests run it with a stand-in backend.
    """
    from core.config import DatasetConfig, TrainConfig
    from core.data import load_dataset
    from core.training import Trainer

    if device.startswith("cuda") and not torch.cuda.is_available():
        why = "no CUDA support in this torch build" if not torch.backends.cuda.is_built() else "no CUDA GPU found"
        return {"skipped": f"CUDA graphs: not measured ({why})"}
    cfg = TrainConfig(
        dataset=DatasetConfig(name="moons", samples=samples, test_fraction=0.2, seed=0),
        batch_size=batch_size,
        epochs=epochs,
        device=device,
    ).validate()
    data = load_dataset(cfg.dataset)

    def timed(run_cfg: TrainConfig, graphs: Any) -> tuple[float, list[float], Trainer]:
        times: list[float] = []
        for i in range(max(1, repeats) + 1):  # the first run warms kernels and the allocator, untimed
            trainer = Trainer(run_cfg, data=data, cuda_graphs=graphs)
            _sync(run_cfg.device)
            t0 = time.perf_counter()
            trainer.fit()
            _sync(run_cfg.device)
            if i:
                times.append(time.perf_counter() - t0)
        return min(times), list(trainer.history.batch_loss), trainer

    eager_t, eager_losses, _ = timed(cfg, False)
    graph_t, graph_losses, graphed = timed(cfg, backend)
    steps = len(eager_losses)
    trained = steps * batch_size  # drop_last is on: every step is a full batch
    out: dict[str, Any] = {
        "device": str(graphed.device)
        + (f" ({torch.cuda.get_device_name(graphed.device)})" if graphed.device.type == "cuda" else ""),
        "samples": samples,
        "batch_size": batch_size,
        "steps": steps,
        "eager": trained / eager_t,
        "graphed": trained / graph_t,
        "speedup": eager_t / graph_t,
        "max_loss_difference": max((abs(a - b) for a, b in zip(eager_losses, graph_losses, strict=True)), default=0.0),
        "fallback": graphed.cuda_graph_fallback,
    }
    if with_cpu:
        cpu_t, _, _ = timed(cfg.with_changes(device="cpu"), False)
        out["cpu"] = trained / cpu_t
        out["cpu_threads"] = torch.get_num_threads()
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cuda_graph_bench_report(quick: bool = False) -> str:
    """The bench's CUDA-graph line(s), for `python -m core bench` to print."""
    r = cuda_graph_bench(samples=20_000 if quick else 200_000, batch_size=256, repeats=1 if quick else 3)
    if "skipped" in r:
        return r["skipped"]
    cpu = f"; cpu ({r['cpu_threads']} threads) {r['cpu']:,.0f}" if "cpu" in r else ""
    note = f"; graph given up: {r['fallback']}" if r["fallback"] else ""
    return (
        f"CUDA graphs on {r['device']}, moons {r['samples']:,} samples, batch {r['batch_size']}, {r['steps']} steps: "
        f"step by step {r['eager']:,.0f} samples/s, one graph per step {r['graphed']:,.0f} samples/s "
        f"({r['speedup']:.2f}x){cpu}; losses differ by at most {r['max_loss_difference']:.2g}{note}"
    )
