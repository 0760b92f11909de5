"""The training step as a CUDA graph (core/cuda_graph.py).

On the CPU a stand-in backend plays the graph: its capture records the step without running it (a real
capture runs no kernels) and its replay runs it again on the static buffers, writing the loss into one
static tensor as a graph does. That checks the logic a real graph depends on: warm-up steps are real
steps of the run, batches go through the static buffers, odd-sized batches run step by step, the
weights and optimizer state end where the step-by-step loop leaves them, and a failed capture falls
back with one message. The tests at the end need a GPU and compare real graphs with the plain loop.
"""

import contextlib
import threading
import warnings

import pytest
import torch

from core.config import DatasetConfig, TrainConfig
from core.cuda_graph import (
    ENV,
    CudaGraphBackend,
    GraphedStep,
    graph_backend,
    graphs_enabled_by_env,
    set_capturable,
)
from core.cuda_graph_bench import cuda_graph_bench, cuda_graph_bench_report
from core.events import Callback
from core.training import Trainer

MOONS = DatasetConfig(name="moons", samples=203, seed=3)


class ReplayBackend:
    """CPU stand-in for torch.cuda.CUDAGraph."""

    needs_capturable = False  # capturable Adam refuses the cpu; the flag itself is tested on its own below

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.captures = self.replays = self.warmups = 0

    @contextlib.contextmanager
    def warmup(self):
        self.warmups += 1
        yield

    def capture(self, fn, inputs):
        if self.fail is not None:
            raise self.fail
        self.captures += 1
        addresses = [t.data_ptr() for t in inputs]
        params = [p for group in fn.__self__.optimizer.param_groups for p in group["params"]]
        # The recipe: grads are None when the capture starts, so the captured backward owns them.
        assert all(p.grad is None for p in params)
        static_loss = torch.empty(())

        def replay():
            # A graph reads the addresses it was captured with: the inputs must be filled in place.
            assert [t.data_ptr() for t in inputs] == addresses
            self.replays += 1
            for p in params:  # the captured backward overwrites the grads (it was captured with them None)
                p.grad = None
            return static_loss.copy_(fn().detach())

        return replay


def run(cfg: TrainConfig, graphs, stop_at: int | None = None, fits: int = 1) -> Trainer:
    stop = threading.Event()

    class StopAt(Callback):
        def on_batch_end(self, e):
            if stop_at is not None and e.step == stop_at:
                stop.set()

    trainer = Trainer(cfg, [StopAt()], cuda_graphs=graphs)
    for _ in range(fits):
        trainer.fit(stop)
    return trainer


def _measured(t: Trainer) -> list[tuple]:
    """Each epoch's summary, all but its time."""
    return [(e.epoch, e.step, e.train_loss, e.test_loss, e.train_accuracy, e.test_accuracy) for e in t.history.epochs]


def assert_same_run(a: Trainer, b: Trainer) -> None:
    assert list(a.history.batch_loss) == list(b.history.batch_loss)
    assert _measured(a) == _measured(b)
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q), name
        assert (p.grad is None) == (q.grad is None) and (p.grad is None or torch.equal(p.grad, q.grad)), name
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k, state in sa["state"].items():
        for key, value in state.items():
            assert torch.equal(value, sb["state"][k][key]), (k, key)


@pytest.mark.parametrize(
    "changes, replays",
    [
        ({}, 3),  # the book's run: 6 batches, 3 warm-up steps, then the graph
        ({"drop_last": False}, 9 - 3 - 3),  # 3 per epoch, the last of each (1 sample) step by step
        ({"dataset": MOONS, "batch_size": 16, "drop_last": False, "epochs": 3, "learning_rate": 0.1}, 30 - 3),
        ({"dataset": MOONS, "batch_size": 16, "epochs": 2, "momentum": 0.9, "weight_decay": 0.01, "learning_rate": 0.05}, 20 - 3),
        (
            {"dataset": MOONS, "batch_size": 32, "drop_last": False, "optimizer": "adam", "learning_rate": 0.01, "epochs": 2},
            10 - 3,
        ),
        (
            {"dataset": MOONS, "batch_size": 32, "optimizer": "adamw", "learning_rate": 0.01, "weight_decay": 0.1, "epochs": 2},
            10 - 3,
        ),
        ({"dataset": MOONS, "batch_size": 16, "shuffle": False, "num_workers": 1, "epochs": 2, "learning_rate": 0.1}, 20 - 3),
    ],
    ids=["book", "book-keep-last", "moons-keep-last", "sgd-momentum", "adam-keep-last", "adamw", "dataloader"],
)
def test_graphed_run_equals_the_step_by_step_run(changes, replays):
    cfg = TrainConfig().with_changes(**changes).validate()
    backend = ReplayBackend()
    graphed = run(cfg, backend)
    assert backend.captures == 1 and backend.replays == replays and backend.warmups == 3
    assert_same_run(graphed, run(cfg, False))


def test_the_book_run_with_a_graph_gives_the_book_numbers():
    trainer = run(TrainConfig(), ReplayBackend())
    assert [round(x, 2) for x in trainer.history.batch_loss] == [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]


def test_stopping_mid_epoch_leaves_the_same_model():
    cfg = TrainConfig(dataset=MOONS, batch_size=16, epochs=5, learning_rate=0.1, momentum=0.5)
    backend = ReplayBackend()
    graphed = run(cfg, backend, stop_at=17)
    assert len(graphed.history.batch_loss) == 17 and backend.replays == 14
    assert_same_run(graphed, run(cfg, False, stop_at=17))


def test_each_fit_captures_again_and_continuing_equals_one_longer_run():
    cfg = TrainConfig(dataset=MOONS, batch_size=16, epochs=2, learning_rate=0.01, optimizer="adam")
    backend = ReplayBackend()
    twice = run(cfg, backend, fits=2)
    assert backend.captures == 2 and backend.warmups == 6
    assert_same_run(twice, run(cfg.with_changes(epochs=4), False))
    # And a trainer continued under a new config (its own optimizer) captures its own step.
    nxt = twice.continue_with(cfg.with_changes(learning_rate=0.002))
    nxt.fit()
    assert backend.captures == 3


def test_too_few_full_batches_never_capture():
    backend = ReplayBackend()
    run(TrainConfig(epochs=1), backend)  # 2 batches, both warm-up
    assert backend.captures == 0 and backend.warmups == 2
    # No batch of batch_size at all (5 samples, batch 8): no graph is even prepared.
    small = ReplayBackend()
    assert_same_run(
        run(TrainConfig(batch_size=8, drop_last=False), small), run(TrainConfig(batch_size=8, drop_last=False), False)
    )
    assert small.warmups == 0


def test_a_failed_capture_says_why_once_and_trains_step_by_step():
    cfg = TrainConfig(dataset=MOONS, batch_size=16, epochs=2, learning_rate=0.1, momentum=0.9)
    backend = ReplayBackend(fail=RuntimeError("operation not permitted when stream is capturing\nmore detail"))
    with pytest.warns(RuntimeWarning) as seen:
        trainer = run(cfg, backend, fits=2)
    messages = [str(w.message) for w in seen]
    assert messages == [
        "CUDA graphs are off for this run: capturing the training step failed (RuntimeError: operation not permitted "
        "when stream is capturing); it trains step by step instead, with the same results."
    ]
    assert trainer.cuda_graph_fallback.startswith("RuntimeError")
    assert_same_run(trainer, run(cfg, False, fits=2))
    # The trainer gave up: later fits and continued trainers do not try again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.continue_with(cfg.with_changes(epochs=1)).fit()


def test_a_graphed_step_reads_batches_through_its_static_buffers():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    backend = ReplayBackend()
    step = GraphedStep(model, opt, x, y, backend, warmup=1, notify=pytest.fail)
    first = step.step(x, y)  # warm-up: an ordinary step
    assert step.warmed == 1 and not step.captured
    loss = step.step(x * 2, y)
    assert step.captured and torch.equal(step.static_x, x * 2) and torch.equal(step.static_y, y)
    again = step.step(x, 1 - y)
    assert again is loss  # one static loss tensor, as a graph has: read it before the next step
    odd = step.step(x[:3], y[:3])
    assert odd is not loss and step.eager_steps == 2 and step.replays == 2 and first is not loss
    step.close()
    step.close()
    with pytest.raises(ValueError, match="warm-up"):
        GraphedStep(model, opt, x, y, backend, warmup=0)


def test_capturable_is_on_only_while_the_graph_lives_and_never_in_a_saved_state():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    before = opt.state_dict()

    class NeedsCapturable(ReplayBackend):
        needs_capturable = True

    step = GraphedStep(model, opt, torch.randn(4, 3), torch.zeros(4, dtype=torch.long), NeedsCapturable())
    assert all(g["capturable"] for g in opt.param_groups)
    saved = opt.state_dict()  # e.g. a model file written while the run is paused
    assert not any(g["capturable"] for g in saved["param_groups"])
    assert all(s["step"].device.type == "cpu" for s in saved["state"].values())
    assert opt.param_groups[0]["capturable"]  # the hook changed the copy, not the optimizer
    step.close()
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert all(torch.equal(after["state"][k]["step"], before["state"][k]["step"]) for k in before["state"])
    # SGD has no such flag: nothing to do.
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    set_capturable(sgd, True)
    assert "capturable" not in sgd.param_groups[0]


def test_which_backend_a_trainer_gets(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda:0")
    monkeypatch.delenv(ENV, raising=False)
    assert graph_backend(cpu) is None and graph_backend(cpu, True) is None
    assert isinstance(graph_backend(gpu), CudaGraphBackend)  # built without touching CUDA
    assert graph_backend(gpu, False) is None
    monkeypatch.setenv(ENV, "0")
    assert graph_backend(gpu) is None and isinstance(graph_backend(gpu, True), CudaGraphBackend)
    assert [graphs_enabled_by_env({ENV: v}) for v in ("1", "on", "", "off", "FALSE", "no", "0")] == [True] * 3 + [False] * 4
    stand_in = ReplayBackend()
    assert graph_backend(cpu, stand_in) is stand_in
    assert Trainer(TrainConfig())._graph_backend is None  # the cpu path is the plain loop


def test_the_bench_says_why_it_skips_without_a_gpu_and_measures_with_a_stand_in():
    if not torch.cuda.is_available():
        assert "not measured" in cuda_graph_bench()["skipped"]
        assert "not measured" in cuda_graph_bench_report(quick=True)
    r = cuda_graph_bench(samples=600, batch_size=32, repeats=1, device="cpu", backend=ReplayBackend(), with_cpu=False)
    assert r["steps"] == 15 and r["eager"] > 0 and r["graphed"] > 0
    assert r["max_loss_difference"] == 0.0 and r["fallback"] is None and "cpu" not in r


# --- on a real GPU --------------------------------------------------------------------------------------

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


class CountingCudaBackend(CudaGraphBackend):
    def __init__(self, device):
        super().__init__(device)
        self.captures = 0

    def capture(self, fn, inputs):
        replay = super().capture(fn, inputs)
        self.captures += 1
        return replay


@cuda_only
@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(device="cuda"),
        TrainConfig(
            device="cuda", dataset=DatasetConfig(name="moons", samples=2_000, seed=3), batch_size=64, epochs=3, learning_rate=0.1
        ),
        TrainConfig(device="cuda", dataset=MOONS, batch_size=16, drop_last=False, epochs=3, learning_rate=0.1, momentum=0.9),
        TrainConfig(device="cuda", dataset=MOONS, batch_size=32, drop_last=False, optimizer="adam", learning_rate=0.01, epochs=3),
        TrainConfig(device="cuda", dataset=MOONS, batch_size=32, optimizer="adamw", learning_rate=0.01, weight_decay=0.1),
    ],
    ids=["book", "moons", "momentum-keep-last", "adam-keep-last", "adamw"],
)
def test_cuda_graphs_train_like_the_step_by_step_loop_on_the_gpu(cfg):
    backend = CountingCudaBackend(torch.device("cuda:0"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        graphed = Trainer(cfg, cuda_graphs=backend)
        graphed.fit()
    # No fallback, and not torch's "capturable=True but step() is running without graph capture" either.
    assert not [str(w.message) for w in seen if "CUDA graph" in str(w.message) or "capturable" in str(w.message)]
    plain = Trainer(cfg, cuda_graphs=False)
    plain.fit()
    assert backend.captures == 1 and graphed.cuda_graph_fallback is None
    got, want = list(graphed.history.batch_loss), list(plain.history.batch_loss)
    assert len(got) == len(want)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
    for p, q in zip(graphed.model.parameters(), plain.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    # The optimizer's state saves and loads as without graphs: capturable off, Adam's step counter on the cpu.
    saved = graphed.optimizer.state_dict()
    assert not any(g.get("capturable") for g in saved["param_groups"])
    assert all(s["step"].device.type == "cpu" for s in saved["state"].values() if "step" in s)
    moved = graphed.continue_with(cfg.with_changes(device="cpu", epochs=1))
    assert moved.fit().status == "finished"


@cuda_only
def test_graphs_are_on_by_default_on_cuda_and_the_book_numbers_hold(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    trainer = Trainer(TrainConfig(device="cuda"))
    assert isinstance(trainer._graph_backend, CudaGraphBackend)
    trainer.fit()
    assert [round(x, 2) for x in trainer.history.batch_loss] == [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]


@cuda_only
def test_the_bench_measures_graphs_on_the_gpu():
    r = cuda_graph_bench(samples=20_000, batch_size=256, repeats=1, with_cpu=False)
    assert r["fallback"] is None and r["graphed"] > 0 and r["max_loss_difference"] < 1e-4
    print(cuda_graph_bench_report(quick=True))
