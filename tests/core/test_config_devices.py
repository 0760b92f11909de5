"""Config validation names the field and the rule; devices are injectable so cuda/mps paths are tested here."""

import json

import pytest
import torch

from core.config import ConfigError, DatasetConfig, TrainConfig, apply_overrides
from core.devices import DeviceError, Probe, list_devices, resolve_device


def test_defaults_are_the_books_run():
    cfg = TrainConfig().validate()
    assert cfg.dataset.name == "appendix-a" and cfg.hidden_sizes == (30, 20) and cfg.activation == "relu"
    assert (cfg.optimizer, cfg.learning_rate, cfg.batch_size, cfg.shuffle, cfg.drop_last, cfg.epochs, cfg.seed) == (
        "sgd",
        0.5,
        2,
        True,
        True,
        3,
        123,
    )


def test_json_round_trip():
    cfg = TrainConfig(dataset=DatasetConfig(name="moons", samples=50), hidden_sizes=(4, 5), learning_rate=0.01)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["hidden_sizes"] == [4, 5]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"batch_size": 0}, "batch_size must be between 1"),
        ({"learning_rate": 0}, "learning_rate must be greater than 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"hidden_sizes": [30, 0]}, "hidden_sizes[1] must be between 1"),
        ({"hidden_sizes": "30"}, "hidden_sizes must be a list"),
        ({"epochs": 0}, "epochs must be between 1"),
        ({"device": "tpu"}, "device: unknown device 'tpu'"),
        ({"shuffle": "yes"}, "shuffle must be true or false"),
        ({"activation": "swish"}, "activation: unknown value 'swish'"),
        ({"optimizer": "lbfgs"}, "optimizer: unknown value"),
        ({"color": "red"}, "color: unknown key"),
        ({"dataset": {"name": "mnist"}}, "dataset.name: unknown data set 'mnist'"),
        ({"dataset": {"size": 3}}, "dataset.size: unknown key"),
        ({"dataset": {"name": "csv"}}, "dataset.path"),
        ({"dataset": "moons"}, "dataset must be an object"),
        ({"batch_size": True}, "batch_size must be a whole number"),
    ],
)
def test_bad_values_name_the_key(data, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert words in str(err.value)


def test_overrides_read_json_values_and_dotted_keys():
    cfg = apply_overrides(TrainConfig(), ["dataset.name=moons", "hidden_sizes=[8, 8]", "drop_last=false", "learning_rate=0.1"])
    assert cfg.dataset.name == "moons" and cfg.hidden_sizes == (8, 8) and cfg.drop_last is False and cfg.learning_rate == 0.1
    with pytest.raises(ConfigError, match="unknown key 'dataset.colour'"):
        apply_overrides(TrainConfig(), ["dataset.colour=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(TrainConfig(), ["learning_rate"])
    with pytest.raises(ConfigError, match="from_json|not valid JSON"):
        TrainConfig.from_json("{nope")


CPU_ONLY = Probe(cuda_built=False, cuda_count=0, cuda_names=(), mps_built=False, mps_available=False)
TWO_GPUS = Probe(cuda_built=True, cuda_count=2, cuda_names=("NVIDIA H100", "NVIDIA A100"), mps_built=False, mps_available=False)
DRIVERLESS = Probe(cuda_built=True, cuda_count=0, cuda_names=(), mps_built=False, mps_available=False)
MAC = Probe(cuda_built=False, cuda_count=0, cuda_names=(), mps_built=True, mps_available=True)


def test_device_listing_explains_absence():
    devs = {d.name: d for d in list_devices(CPU_ONLY)}
    assert devs["cpu"].available and not devs["cuda"].available and "no CUDA support" in devs["cuda"].reason
    assert not devs["mps"].available and "macOS" in devs["mps"].reason
    assert "finds no NVIDIA GPU" in {d.name: d for d in list_devices(DRIVERLESS)}["cuda"].reason
    gpus = [d for d in list_devices(TWO_GPUS) if d.name.startswith("cuda")]
    assert [g.label for g in gpus] == ["cuda:0 (NVIDIA H100)", "cuda:1 (NVIDIA A100)"]


def test_resolve_device():
    assert resolve_device("auto", CPU_ONLY) == torch.device("cpu")
    assert resolve_device("auto", TWO_GPUS) == torch.device("cuda:0")
    assert resolve_device("auto", MAC) == torch.device("mps")
    assert resolve_device("cuda", TWO_GPUS) == torch.device("cuda:0")
    assert resolve_device("cuda:1", TWO_GPUS) == torch.device("cuda:1")
    with pytest.raises(DeviceError, match="2 CUDA device"):
        resolve_device("cuda:2", TWO_GPUS)
    with pytest.raises(DeviceError, match="mps: not available"):
        resolve_device("mps", CPU_ONLY)
    with pytest.raises(DeviceError, match="no NVIDIA GPU"):
        resolve_device("cuda:0", DRIVERLESS)
