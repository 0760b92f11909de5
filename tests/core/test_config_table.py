"""The one table of settings: validate() checks by it, errors carry their key, presets train well, big models are refused."""

from __future__ import annotations

import dataclasses
from dataclasses import fields

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from core import memory
from core.config import (
    DATASET_NAMES,
    DATASET_PRESETS,
    PRESET_KEYS,
    SETTINGS,
    SETTINGS_BY_KEY,
    ConfigError,
    DatasetConfig,
    TrainConfig,
    apply_overrides,
    format_number,
    model_shape_bounds,
    preset_updates,
)
from core.errors import TrainingError
from core.memory import MemoryInfo, estimate_training_bytes, training_memory_problem
from core.training import Trainer

BOOK = {"optimizer": "sgd", "learning_rate": 0.5, "batch_size": 2, "epochs": 3}


def with_value(cfg: TrainConfig, key: str, value) -> TrainConfig:
    section, _, name = key.rpartition(".")
    if section:
        return cfg.with_changes(dataset={name: value})
    return cfg.with_changes(**{name: value})


def test_the_table_has_every_field_once_and_in_the_form_order():
    keys = [s.key for s in SETTINGS]
    expected = [f"dataset.{f.name}" for f in fields(DatasetConfig)] + [
        f.name for f in fields(TrainConfig) if f.name != "dataset"
    ]
    assert sorted(keys) == sorted(expected) and len(keys) == len(set(keys))
    for s in SETTINGS:
        assert s.kind in ("int", "float", "bool", "choice", "text", "sizes")
        assert s.label and len(s.help) > 20, s.key
        if s.kind in ("int", "float", "sizes"):
            assert s.low is not None and s.high is not None and s.low < s.high, s.key


def test_the_defaults_are_still_the_books_run():
    cfg = TrainConfig().validate()
    assert cfg == TrainConfig(
        dataset=DatasetConfig(name="appendix-a"), hidden_sizes=(30, 20), activation="relu", optimizer="sgd",
        learning_rate=0.5, batch_size=2, shuffle=True, drop_last=True, epochs=3, seed=123,
    )
    assert {k: getattr(cfg, k) for k in PRESET_KEYS} == BOOK == DATASET_PRESETS["appendix-a"]


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.kind in ("int", "float")], ids=lambda s: s.key)
def test_validate_takes_the_tables_range_and_refuses_past_it_naming_the_key(setting):
    base = TrainConfig()
    low = 5e-324 if setting.low_open else setting.low
    for value in (low, setting.high):
        value = int(value) if setting.kind == "int" else float(value)
        assert _get(with_value(base, setting.key, value).validate(), setting.key) == value
    past = [int(setting.high) + 1, int(setting.low) - 1] if setting.kind == "int" else [setting.high * 1.01 + 1e-3]
    if setting.kind == "float":
        past.append(setting.low if setting.low_open else setting.low - 1e-3)
    for value in past:
        with pytest.raises(ConfigError) as err:
            with_value(base, setting.key, value).validate()
        assert err.value.key == setting.key and str(err.value).startswith(setting.key)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"hidden_sizes": [30, 0]}, "hidden_sizes"),
        ({"hidden_sizes": [1] * 65}, "hidden_sizes"),
        ({"dataset": {"name": "csv"}}, "dataset.path"),
        ({"dataset": {"noise": -1}}, "dataset.noise"),
        ({"dataset": {"colour": 1}}, "dataset.colour"),
        ({"device": "tpu"}, "device"),
        ({"activation": "swish"}, "activation"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"dataset": "moons"}, "dataset"),
    ],
)
def test_config_errors_carry_their_key(data, key):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert err.value.key == key


def test_the_cli_range_is_the_tables():
    # The form refused a learning rate of 100 that the CLI takes: both now read the same table.
    assert apply_overrides(TrainConfig(), ["learning_rate=100"]).learning_rate == 100
    assert SETTINGS_BY_KEY["learning_rate"].high == 1000 and SETTINGS_BY_KEY["learning_rate"].low_open
    with pytest.raises(ConfigError, match="learning_rate must be greater than 0 and at most 1000, got 2000"):
        apply_overrides(TrainConfig(), ["learning_rate=2000"])


def test_an_empty_path_or_label_column_is_none():
    assert DatasetConfig(path="", label_column="").path is None
    assert DatasetConfig(path="", label_column="").label_column is None


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_number_reads_back_exactly(value):
    assert float(format_number(value)) == value


@pytest.mark.parametrize(
    ("value", "text"), [(0.5, "0.5"), (3e-6, "0.000003"), (1e-5, "0.00001"), (1000.0, "1000"), (0.125, "0.125"),
                        (5e-324, "5e-324"), (0.0, "0"), (123, "123")]
)
def test_format_number_is_short(value, text):
    assert format_number(value) == text


# --- presets --------------------------------------------------------------------------------------


def test_every_data_set_but_csv_has_a_valid_complete_preset():
    assert set(DATASET_PRESETS) == set(DATASET_NAMES) - {"csv"}
    for name, preset in DATASET_PRESETS.items():
        assert set(preset) == set(PRESET_KEYS), name
        TrainConfig(dataset=DatasetConfig(name=name), **preset).validate()


def test_presets_change_only_what_is_still_the_previous_sets_start():
    current = dict(BOOK, batch_size=7)  # the user chose batch size 7
    updates = preset_updates(current, "appendix-a", "moons")
    assert updates == {k: DATASET_PRESETS["moons"][k] for k in ("optimizer", "learning_rate", "epochs")}
    back = preset_updates({**current, **updates}, "moons", "appendix-a")
    assert back == {k: BOOK[k] for k in ("optimizer", "learning_rate", "epochs")}
    assert preset_updates(BOOK, "appendix-a", "csv") == {} and preset_updates(BOOK, "csv", "moons") == {}


# Test accuracy each preset reached with the data set's default options, the book's [30, 20] ReLU net and the
# book's seed 123 (measured; over model seeds 1, 2, 7 and data seeds 1-3 the lowest were 1.0, 0.975, 0.912,
# 0.988, 0.9, 0.933, 0.964). The floors leave room for torch versions, not for a preset that collapses.
PRESET_FLOORS = {"moons": 0.95, "circles": 0.93, "xor": 0.88, "blobs": 0.95, "spiral": 0.85, "iris": 0.9, "digits": 0.93}


@pytest.mark.parametrize("name", list(PRESET_FLOORS))
def test_each_preset_trains_its_data_set_well(name):
    torch.set_num_threads(1)
    cfg = TrainConfig(dataset=DatasetConfig(name=name), **DATASET_PRESETS[name])
    result = Trainer(cfg, threads=1).fit()
    assert result.status == "finished"
    assert result.last_epoch.test_accuracy >= PRESET_FLOORS[name], result.last_epoch
    # The book's rate and batch size, which the preset replaces, were the defect: trained for longer than the
    # book's 3 epochs they end with one class for every point (0.5 on moons, 0.39 on spiral's 3 classes).
    if name in ("moons", "spiral"):
        book = Trainer(dataclasses.replace(cfg, **dict(BOOK, epochs=30)), threads=1).fit()
        assert book.last_epoch.test_accuracy <= 0.6


# --- memory ---------------------------------------------------------------------------------------


def test_the_estimate_counts_weights_gradients_and_optimizer_state():
    params = (2 * 30 + 30) + (30 * 20 + 20) + (20 * 2 + 2)  # the book's network: 752
    assert estimate_training_bytes(2, (30, 20), 2, "sgd") == 4 * params * 2
    assert estimate_training_bytes(2, (30, 20), 2, "sgd", momentum=0.9) == 4 * params * 3
    assert estimate_training_bytes(2, (30, 20), 2, "adam") == 4 * params * 4
    from core.model import NeuralNetwork, count_parameters
    from core.model import estimate_training_bytes as from_model

    assert count_parameters(NeuralNetwork(2, 2, (30, 20))) == params and from_model is estimate_training_bytes


def test_a_model_bigger_than_memory_is_refused_saying_what_it_needs_and_what_there_is():
    small = MemoryInfo(total=16 * 2**30, available=8 * 2**30)
    problem = training_memory_problem(2, (65536, 65536), 2, "sgd", memory=small)
    assert problem is not None and problem.startswith("hidden_sizes:")
    assert "4,295,360,514 parameters" in problem and "32.0 GiB" in problem and "8.0 GiB" in problem
    assert "16.0 GiB" in problem
    assert training_memory_problem(2, (30, 20), 2, "sgd", memory=MemoryInfo(1, 1)) is not None
    assert training_memory_problem(2, (30, 20), 2, "sgd", memory=small) is None
    assert training_memory_problem(2, (65536, 65536), 2, "sgd", memory=MemoryInfo(None, None)) is None  # unknown


def test_the_os_says_how_much_memory_there_is():
    info = memory.read_memory()
    if info.total is None:
        pytest.skip("this OS does not report its memory")
    assert info.total > 2**20 and (info.available is None or 0 < info.available <= info.total)


def test_the_trainer_refuses_before_building_the_model(monkeypatch):
    monkeypatch.setattr(memory, "read_memory", lambda: MemoryInfo(total=2**30, available=32 * 2**20))

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(torch.nn.Linear, "__init__", no_model)
    cfg = TrainConfig(hidden_sizes=(4096, 4096))  # 16.8 million parameters: 128 MiB with gradients
    with pytest.raises(TrainingError, match=r"hidden_sizes: .*16,801,794 parameters.*128\.2 MiB.*32\.0 MiB"):
        Trainer(cfg, threads=1)


def test_model_shape_bounds():
    assert model_shape_bounds(DatasetConfig()) == (2, 2)
    assert model_shape_bounds(DatasetConfig(name="digits")) == (64, 10)
    assert model_shape_bounds(DatasetConfig(name="spiral", classes=5)) == (2, 5)
    assert model_shape_bounds(DatasetConfig(name="moons", classes=5)) == (2, 2)
    assert model_shape_bounds(DatasetConfig(name="csv", path="x.csv")) == (2, 2)


def _get(cfg, key):
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def test_a_damaged_saved_config_keeps_what_is_valid():
    from core.config import TrainConfig, salvage_config

    cfg, dropped = salvage_config({"learning_rate": "fast", "batch_size": 7, "bogus": 1,
                                   "dataset": {"name": "moons", "samples": -5, "noise": 0.25}})
    assert (cfg.batch_size, cfg.dataset.name, cfg.dataset.noise) == (7, "moons", 0.25)
    assert cfg.learning_rate == TrainConfig().learning_rate and cfg.dataset.samples == 400
    assert dropped == ["learning_rate", "bogus", "dataset.samples"]
    cfg, dropped = salvage_config({"dataset": {"name": "csv"}, "epochs": 5})  # a csv without its path
    assert cfg.dataset == TrainConfig().dataset and cfg.epochs == 5 and dropped == ["dataset"]
    assert salvage_config("not an object")[0] == TrainConfig()
    assert salvage_config(TrainConfig().to_dict()) == (TrainConfig(), [])
