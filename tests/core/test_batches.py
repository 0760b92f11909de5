"""The batch plan equals what a plain DataLoader draws after the same seed and model, and what the Trainer draws."""

import json

import pytest
import torch
from torch.utils.data import DataLoader

from core.batches import BatchPlan, batch_plan, describe_plan
from core.cli import main
from core.config import TrainConfig
from core.data import DataSplit, load_dataset
from core.model import NeuralNetwork
from core.training import Trainer, epoch_order

CASES = [
    {},
    {"drop_last": False},
    {"shuffle": False},
    {"shuffle": False, "drop_last": False, "batch_size": 3},
    {"seed": 7, "batch_size": 3, "drop_last": False},
    {"seed": 1, "batch_size": 1},
    {"batch_size": 5},
    {"dataset": {"name": "moons", "samples": 203, "seed": 3}, "batch_size": 16, "drop_last": False},
    {"dataset": {"name": "moons", "samples": 50}, "batch_size": 7, "hidden_sizes": [], "seed": 5},
    {"dataset": {"name": "blobs", "samples": 150, "classes": 4}, "batch_size": 32, "seed": 99},
    {"dataset": {"name": "spiral", "samples": 90, "classes": 5}, "batch_size": 8, "hidden_sizes": [16, 16, 16], "seed": 42},
    {"dataset": {"name": "circles", "samples": 41, "test_fraction": 0.0}, "batch_size": 6, "activation": "tanh", "seed": 2},
    {"dataset": {"name": "xor", "samples": 64}, "hidden_sizes": [64], "batch_size": 5, "shuffle": False},
    {"dataset": {"name": "iris"}, "batch_size": 10, "hidden_sizes": [8], "seed": 0},
]


def dataloader_epochs(cfg: TrainConfig, epochs: int) -> tuple[list, list]:
    """A plain DataLoader over range(n) after the book's seed and model: batches and the left-out indices."""
    data = load_dataset(cfg.dataset)
    n = data.X_train.shape[0]
    torch.manual_seed(cfg.seed)
    NeuralNetwork(data.num_features, data.num_classes, cfg.hidden_sizes, cfg.activation)
    loader = DataLoader(range(n), batch_size=cfg.batch_size, shuffle=cfg.shuffle, drop_last=cfg.drop_last)
    batches, left_out = [], []
    for _ in range(epochs):
        epoch = [b.tolist() for b in loader]
        batches.append(epoch)
        seen = {i for b in epoch for i in b}
        left_out.append(sorted(set(range(n)) - seen))
    return batches, left_out


@pytest.mark.parametrize("changes", CASES)
def test_plan_equals_a_plain_dataloader(changes):
    cfg = TrainConfig().with_changes(**changes).validate()
    plan = batch_plan(cfg)
    batches, left_out = dataloader_epochs(cfg, 3)
    assert [[list(b) for b in e] for e in plan.epochs] == batches
    assert [sorted(d) for d in plan.dropped] == left_out
    n = plan.train_samples
    assert plan.batches_per_epoch == len(batches[0])
    assert plan.batch_size == cfg.batch_size and n == load_dataset(cfg.dataset).X_train.shape[0]
    for epoch, dropped in zip(plan.epochs, plan.dropped, strict=True):
        assert sorted([i for b in epoch for i in b] + list(dropped)) == list(range(n))


def test_dropped_are_the_incomplete_last_batch_in_draw_order():
    cfg = TrainConfig().with_changes(dataset={"name": "moons", "samples": 40}, batch_size=7).validate()
    plan = batch_plan(cfg, 4)
    full = batch_plan(cfg.with_changes(drop_last=False), 4)  # the same draws: drop_last only cuts
    for e in range(4):
        assert plan.epochs[e] == full.epochs[e][: plan.batches_per_epoch]
        assert plan.dropped[e] == full.epochs[e][-1] and len(plan.dropped[e]) == 32 % 7
        assert full.dropped[e] == ()


def test_the_books_plan():
    plan = batch_plan(TrainConfig())
    assert plan.to_dict() == {
        "train_samples": 5,
        "batch_size": 2,
        "batches_per_epoch": 2,
        "epochs": [[[2, 1], [3, 0]], [[3, 4], [1, 2]], [[0, 4], [1, 2]]],
        "dropped": [[4], [0], [3]],
    }
    assert isinstance(plan, BatchPlan)
    with pytest.raises(AttributeError):
        plan.batch_size = 3  # frozen


@pytest.mark.parametrize("workers", [0, 1])
def test_plan_is_what_the_trainer_draws(workers):
    # Features that are the sample's own index: each batch the Trainer yields names its samples.
    cfg = TrainConfig().with_changes(batch_size=4, seed=11, num_workers=workers, drop_last=True).validate()
    n = 23
    X = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    y = torch.arange(n) % 2
    data = DataSplit("indexed", X, y, X[:0], y[:0], ("x1", "x2"), ("0", "1"), None)
    trainer = Trainer(cfg, data=data)
    drawn = [[b[0][:, 0].long().tolist() for b in trainer._epoch_batches()] for _ in range(3)]
    plan = batch_plan(cfg, 3, data=data)
    assert [[list(b) for b in e] for e in plan.epochs] == drawn


def test_plan_leaves_the_global_generator_alone_and_is_repeatable():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    first = batch_plan(TrainConfig().with_changes(dataset={"name": "moons", "samples": 30}, batch_size=4), 5)
    assert torch.equal(torch.get_rng_state(), before)
    second = batch_plan(TrainConfig().with_changes(dataset={"name": "moons", "samples": 30}, batch_size=4), 5)
    assert first == second and len(first.epochs) == 5


def test_epoch_order_draws_like_dataloader():
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    loader = DataLoader(range(9), batch_size=9, shuffle=True)
    for _ in range(3):
        assert epoch_order(g, 9, True).tolist() == next(iter(loader)).tolist()
    assert epoch_order(g, 9, False) is None
    list(DataLoader(range(9), shuffle=False))
    assert torch.equal(g.get_state(), torch.get_rng_state())  # shuffle off still draws the workers' base seed


def test_bad_epochs_and_too_large_plans():
    with pytest.raises(ValueError, match="at least 1"):
        batch_plan(TrainConfig(), 0)
    with pytest.raises(ValueError, match="more than"):
        batch_plan(TrainConfig().with_changes(dataset={"name": "moons", "samples": 100_000}), 1000)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("changes", CASES[:3] + CASES[7:10])
def test_cli_json_equals_a_plain_dataloader(capsys, changes):
    cfg = TrainConfig().with_changes(**changes).validate()
    sets = []
    for key, value in cfg.to_dict().items():
        if key == "dataset":
            sets += [f"dataset.{k}={json.dumps(v)}" for k, v in value.items() if v is not None]
        else:
            sets.append(f"{key}={json.dumps(value)}")
    code, out, err = run(capsys, "batches", "--json", "--epochs", "4", *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    got = json.loads(out)
    assert out.count("\n") == 1
    batches, left_out = dataloader_epochs(cfg, 4)
    assert set(got) == {"train_samples", "batch_size", "batches_per_epoch", "epochs", "dropped"}
    assert got["epochs"] == batches
    assert [sorted(d) for d in got["dropped"]] == left_out
    assert got["batches_per_epoch"] == len(batches[0]) and got["batch_size"] == cfg.batch_size


def test_cli_config_file_and_table(tmp_path, capsys):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"dataset": {"name": "moons", "samples": 20}, "batch_size": 3}))
    code, out, _ = run(capsys, "batches", "--config", str(run_json), "--set", "num_workers=2", "--epochs", "2")
    assert code == 0
    assert "16 training samples, batch_size 3, shuffle on, drop_last on: 5 batches per epoch" in out
    assert "Epoch: 001" in out and "Epoch: 002" in out and "Epoch: 003" not in out
    assert "  Batch 000: " in out and "  Batch 004: " in out and "dropped:" in out
    assert "num_workers 2" in out and "not the order" in out


def test_table_notes_zero_batches_and_short_runs():
    cfg = TrainConfig().with_changes(batch_size=8, epochs=1).validate()
    plan = batch_plan(cfg)
    assert plan.batches_per_epoch == 0 and all(len(d) == 5 for d in plan.dropped)
    text = "\n".join(describe_plan(plan, cfg))
    assert "training refuses this config" in text and "stops after 1 epoch" in text


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["batches", "--epochs", "0"], "--epochs must be at least 1"),
        (["batches", "--epochs", "x"], "invalid int value"),
        (["batches", "--set", "nope=1"], "unknown key 'nope'"),
        (["batches", "--set", "dataset.name=moons", "--set", "dataset.samples=100000", "--epochs", "1000"], "at most"),
        (["batches", "--set", "dataset.name=csv", "--set", "dataset.path=/no/such.csv"], "such.csv"),
        (["batches", "--config", "/no/such/run.json"], "cannot read config"),
    ],
)
def test_cli_errors_are_one_line_exit_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err
