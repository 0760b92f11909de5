"""The one frozen, JSON-able description of a training run, shared by the GUI, the CLI and model files.

`SETTINGS` is the one table of its fields: kind, range, step, precision, label and help. `validate()` checks
by it, and the settings form builds its controls from it, so a rule lives in one place.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

DATASET_NAMES = ("appendix-a", "moons", "circles", "blobs", "xor", "spiral", "iris", "digits", "csv")
# Generated 2-D sets: the only ones whose `samples`, `noise` and `classes` mean something.
GENERATED_DATASETS = ("moons", "circles", "blobs", "xor", "spiral")
CLASSES_DATASETS = ("blobs", "spiral")  # the generated sets whose class count can be chosen
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "identity")
OPTIMIZERS = ("sgd", "adam", "adamw")
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"

# Guards against values that would only freeze the machine; far above anything a learner needs.
MAX_SAMPLES = 10_000_000
MAX_LAYER_SIZE = 65_536
MAX_LAYERS = 64
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit seed

DATASET_DESCRIPTIONS = {
    "appendix-a": "The book's toy set: 5 training and 2 test points, 2 features, 2 classes.",
    "moons": "Two interleaving half circles (2-D, 2 classes).",
    "circles": "A ring around a disc (2-D, 2 classes).",
    "blobs": "Gaussian clusters, one per class (2-D).",
    "xor": "Four quadrants, opposite ones share a class (2-D, 2 classes).",
    "spiral": "Interleaved spiral arms, one per class (2-D).",
    "iris": "150 iris flowers: 4 measurements, 3 species.",
    "digits": "1,797 handwritten digits as 8x8 images: 64 pixel features, 10 classes.",
    "csv": "Your own CSV file: numeric feature columns and a label column.",
}
# Features and classes of the sets whose shape is fixed; generated sets have 2 features.
_FIXED_SHAPES = {"appendix-a": (2, 2), "iris": (4, 3), "digits": (64, 10)}


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the rule, `key` is that dotted key."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key  # e.g. "hidden_sizes" or "dataset.path"; None when no one field is at fault


@dataclass(frozen=True)
class Setting:
    """One config field: how it is checked, shown and explained."""

    key: str  # dotted, as in --set and RUN.json: "learning_rate", "dataset.test_fraction"
    kind: str  # "int", "float", "bool", "choice", "text" or "sizes" (a list of whole numbers)
    label: str  # the form's label and the control's accessible name
    help: str  # the tooltip: what the setting does, in the book's words
    low: float | None = None  # int, float, sizes (each size): the smallest value allowed...
    high: float | None = None  # ...and the largest
    low_open: bool = False  # float: `low` itself is not allowed (a learning rate must be > 0)
    step: float = 1  # what one arrow press adds
    decimals: int = 0  # float: the decimals an arrow press lands on (typed values keep all their digits)
    log_step: bool = False  # float: arrows walk 1, 2, 5 x 10^n instead of adding `step`
    group_digits: bool = False  # int: show 10,000 rather than 10000
    choices: tuple[str, ...] = ()  # choice: the allowed values
    what: str = "value"  # choice, text with a pattern: what a wrong value is called in the message
    pattern: str | None = None  # text: a regular expression the whole value must match...
    rule: str = ""  # ...and how to say it when it does not
    optional: bool = False  # text: None (empty) is allowed
    max_items: int = 0  # sizes: at most this many

    @property
    def name(self) -> str:
        """The field's name inside its dataclass: "test_fraction" for "dataset.test_fraction"."""
        return self.key.rpartition(".")[2]

    def check(self, value: Any) -> None:
        """Raise ConfigError (naming the key and the rule) when `value` is not allowed here."""
        key, kind = self.key, self.kind
        if kind == "int":
            _check_int(key, value, int(self.low), int(self.high))
        elif kind == "float":
            _check_float(key, value, self.low, self.high, self.low_open)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {value!r}", key)
        elif kind == "choice":
            if value not in self.choices:
                raise ConfigError(f"{key}: unknown {self.what} {value!r}; choose one of {', '.join(self.choices)}", key)
        elif kind == "text":
            if value is None and self.optional:
                return
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be text, got {value!r}", key)
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise ConfigError(f"{key}: unknown {self.what} {value!r}; {self.rule}", key)
        elif kind == "sizes":
            if not isinstance(value, tuple):
                raise ConfigError(f"{key} must be a list of whole numbers, got {value!r}", key)
            if len(value) > self.max_items:
                raise ConfigError(f"{key}: at most {self.max_items} hidden layers, got {len(value)}", key)
            for i, size in enumerate(value):
                _check_int(f"{key}[{i}]", size, int(self.low), int(self.high), key)
        else:  # a new kind added to the table without its check
            raise ValueError(f"setting {key} has unknown kind {kind!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("dataset.name", "choice", "Data set",
            "Which data to train on. appendix-a is the book's toy set: 5 training and 2 test points, 2 features, "
            "2 classes. The generated sets are 2-D so you can watch the decision regions form.",
            choices=DATASET_NAMES, what="data set"),
    Setting("dataset.samples", "int", "Samples", "How many points to generate, training and test split together.",
            low=4, high=MAX_SAMPLES, step=100, group_digits=True),
    Setting("dataset.noise", "float", "Noise",
            "How much random jitter is added to every generated point (a standard deviation). More noise makes "
            "the classes overlap, so they are harder to separate.",
            low=0.0, high=10.0, step=0.05, decimals=3),
    Setting("dataset.classes", "int", "Classes", "How many classes to generate: clusters for blobs, arms for spiral.",
            low=2, high=100),
    Setting("dataset.test_fraction", "float", "Test fraction",
            "Share of the samples held out as the test split. The model never trains on them, so their accuracy "
            "shows how well it does on data it has not seen.",
            low=0.0, high=0.9, step=0.05, decimals=2),
    Setting("dataset.seed", "int", "Data seed",
            "Seed for generating the points and choosing the test split. It is separate from the model's seed, "
            "so trying another model seed keeps the same data.",
            low=0, high=MAX_SEED),
    Setting("dataset.path", "text", "CSV file",
            "The CSV file to train on: a header row, numeric feature columns and one label column.", optional=True),
    Setting("dataset.label_column", "text", "Label column",
            "Name of the CSV column that holds the class label. Empty means the last column.", optional=True),
    Setting("dataset.standardize", "bool", "Standardize features",
            "Shift and scale every feature to mean 0 and standard deviation 1, using the training split's "
            "statistics. It helps when features have very different ranges (e.g. digits' 0-16 pixels)."),
    Setting("hidden_sizes", "sizes", "Hidden layer sizes",
            "Units in each hidden layer, comma separated: '30, 20' is the book's network (30 units, then 20). "
            "Empty means no hidden layer at all: logistic regression.",
            low=1, high=MAX_LAYER_SIZE, max_items=MAX_LAYERS),
    Setting("activation", "choice", "Activation",
            "The non-linearity after each hidden layer. The book uses ReLU. 'identity' makes the whole network "
            "linear, whatever its depth.",
            choices=ACTIVATIONS),
    Setting("optimizer", "choice", "Optimizer",
            "How the weights move after each batch's backward(): SGD (the book's choice) steps straight against "
            "the gradient; Adam and AdamW adapt the step size for every weight.",
            choices=OPTIMIZERS),
    Setting("learning_rate", "float", "Learning rate",
            "How big a step the optimizer takes after each batch. Too large and the loss jumps around or blows "
            "up; too small and learning crawls. The book uses 0.5 with SGD; Adam likes about 0.001. The arrows "
            "step through 0.001, 0.002, 0.005, 0.01, ...",
            low=0.0, high=1000.0, low_open=True, decimals=5, log_step=True),
    Setting("momentum", "float", "Momentum",
            "SGD only: how much of the previous step carries into the next one, which smooths and speeds up the "
            "descent. 0 is plain SGD, as in the book.",
            low=0.0, high=0.999, step=0.1, decimals=3),
    Setting("weight_decay", "float", "Weight decay",
            "Pulls every weight a little towards zero at each step (L2 regularization), which fights "
            "overfitting. 0 means none, as in the book.",
            low=0.0, high=1.0, step=0.0001, decimals=5),
    Setting("batch_size", "int", "Batch size",
            "How many samples go through the network before each weight update (DataLoader's batch_size). "
            "The book uses 2.",
            low=1, high=MAX_SAMPLES),
    Setting("shuffle", "bool", "Shuffle every epoch",
            "Reshuffle the training samples before every epoch (DataLoader's shuffle=True), so the batches differ "
            "from epoch to epoch and the model cannot learn from their order. Test data is never shuffled."),
    Setting("drop_last", "bool", "Drop last incomplete batch",
            "Skip an epoch's last batch when it has fewer samples than the batch size (DataLoader's "
            "drop_last=True). With the book's 5 samples and batch size 2 the fifth sample is left out: 2 batches "
            "per epoch instead of 3, and with shuffling a different sample each time. A tiny last batch gives a "
            "noisy update."),
    Setting("num_workers", "int", "Data loader workers",
            "Worker processes that load batches (DataLoader's num_workers). 0 loads them in the training thread, "
            "which is the fastest for data already in memory, as here; more only adds start-up time.",
            low=0, high=64),
    Setting("epochs", "int", "Epochs",
            "How many passes over the training data. When you continue training, this many more.",
            low=1, high=1_000_000, group_digits=True),
    Setting("seed", "int", "Random seed",
            "torch.manual_seed(seed) runs right before the model is built, as in the book: the same seed gives the "
            "same starting weights and the same shuffles, so the same curve. The book uses 123.",
            low=0, high=MAX_SEED),
    Setting("device", "text", "Device",
            "Where the tensors live and the math runs: the CPU, an NVIDIA GPU (cuda:N) or an Apple GPU (mps). "
            "Greyed-out devices are not available on this machine; point at one to see why. A GPU is not always "
            "faster: each training step is a handful of tiny jobs (kernels) sent to it, and for a small model like "
            "the book's, sending them costs more than the arithmetic, so the CPU can win. On cuda the whole step "
            "is recorded once as a CUDA graph and replayed as one job, which narrows the gap. A GPU pays off with "
            "wide layers and big batches.",
            what="device", pattern=DEVICE_PATTERN, rule="use auto, cpu, cuda, cuda:N or mps"),
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}

# Starting settings per data set (as TensorFlow Playground has): the book's run suits its 5 points, but its
# learning rate 0.5 with batches of 2 collapses moons and spiral to one class. Each was trained headless with
# the data set's default options and the book's [30, 20] ReLU network (tests/core/test_config_table.py).
PRESET_KEYS = ("optimizer", "learning_rate", "batch_size", "epochs")
DATASET_PRESETS: dict[str, dict[str, Any]] = {
    "appendix-a": {"optimizer": "sgd", "learning_rate": 0.5, "batch_size": 2, "epochs": 3},  # the book's run
    "moons": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 100},
    "circles": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 150},
    "xor": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 150},
    "blobs": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 50},
    # Plain SGD at any single rate was unsteady on these three over seeds; Adam was not.
    "spiral": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "epochs": 100},
    "iris": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "epochs": 100},
    "digits": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 30},
    # csv has none: its settings are whatever the user had.
}


def preset_updates(current: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The settings to change when the data set goes from `old` to `new`: each preset setting still at
    `old`'s starting value takes `new`'s; one the user changed (or either set without a preset) stays."""
    before, after = DATASET_PRESETS.get(old), DATASET_PRESETS.get(new)
    if before is None or after is None:
        return {}
    return {key: after[key] for key in PRESET_KEYS if key in current and _same(current[key], before[key])}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def model_shape_bounds(ds: DatasetConfig) -> tuple[int, int]:
    """Inputs and outputs of a model for this data set: exact for the built-in sets, a lower bound (2, 2) for csv."""
    if ds.name in _FIXED_SHAPES:
        return _FIXED_SHAPES[ds.name]
    if ds.name in GENERATED_DATASETS:
        return 2, (ds.classes if ds.name in CLASSES_DATASETS else 2)
    return 2, 2


def format_number(value: float) -> str:
    """The shortest text that reads back as exactly `value`: 0.5, 0.000003, 1000, 5e-324 (like repr, without
    an exponent where one is not needed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return repr(value)
    text = repr(value)
    if value == 0 or 1e-7 <= abs(value) < 1e16:
        text = format(Decimal(text), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


@dataclass(frozen=True)
class DatasetConfig:
    """Which data to train on and how to make or read it."""

    name: str = "appendix-a"
    samples: int = 400  # generated sets only: points in train + test
    noise: float = 0.1  # generated sets only: std of the Gaussian jitter
    classes: int = 3  # blobs and spiral: how many classes
    test_fraction: float = 0.2  # share held out for the test split (not appendix-a: the book fixes it)
    seed: int = 0  # data's own seed, so the split stays put while the model's seed changes
    path: str | None = None  # csv only
    label_column: str | None = None  # csv only: the label's column name; None = the last column
    standardize: bool = False  # z-score features with train-split statistics

    def __post_init__(self) -> None:
        # An empty path or label column means none (what an empty field in the form says), so there is
        # one way to write it and a config read back from the form equals the one put in.
        for name in ("path", "label_column"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)

    def validate(self) -> None:
        """Raise ConfigError naming the first bad option (table order)."""
        for setting in SETTINGS:
            if setting.key.startswith("dataset."):
                setting.check(getattr(self, setting.name))
        if self.name == "csv" and not self.path:
            raise ConfigError("dataset.path: the csv data set needs a path to a .csv file", "dataset.path")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; the defaults are Appendix A's run."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    hidden_sizes: tuple[int, ...] = (30, 20)  # the book's NeuralNetwork: 30 then 20 units
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float = 0.5
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    batch_size: int = 2
    shuffle: bool = True  # reshuffle every epoch, as DataLoader(shuffle=True)
    drop_last: bool = True  # drop the incomplete last batch of an epoch
    num_workers: int = 0  # >0 loads batches through a real DataLoader with worker processes
    epochs: int = 3
    seed: int = 123  # torch.manual_seed(seed) right before the model is built, as in the book
    device: str = "cpu"

    def __post_init__(self) -> None:
        # Accept lists (JSON) but store a tuple so the config stays hashable and frozen.
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad field; return self so calls can chain."""
        if not isinstance(self.dataset, DatasetConfig):
            raise ConfigError("dataset must be an object of data set options", "dataset")
        self.dataset.validate()
        for setting in SETTINGS:
            if "." not in setting.key:
                setting.check(getattr(self, setting.key))
        return self

    # --- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        """Build and validate a config from a JSON object; unknown keys are errors."""
        if not isinstance(data, dict):
            raise ConfigError("a config must be a JSON object of settings")
        _reject_unknown(data, cls, "")
        kwargs = dict(data)
        if "dataset" in kwargs:
            ds = kwargs["dataset"]
            if not isinstance(ds, dict):
                raise ConfigError('dataset must be an object such as {"name": "moons"}', "dataset")
            _reject_unknown(ds, DatasetConfig, "dataset.")
            kwargs["dataset"] = DatasetConfig(**ds)
        if "hidden_sizes" in kwargs and isinstance(kwargs["hidden_sizes"], list):
            kwargs["hidden_sizes"] = tuple(kwargs["hidden_sizes"])
        return cls(**kwargs).validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the config is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(data)

    def with_changes(self, **changes: Any) -> "TrainConfig":
        """A copy with top-level fields replaced (`dataset=` takes a dict of dataset changes too)."""
        ds = changes.pop("dataset", None)
        if isinstance(ds, dict):
            changes["dataset"] = dataclasses.replace(self.dataset, **ds)
        elif ds is not None:
            changes["dataset"] = ds
        return dataclasses.replace(self, **changes)


def apply_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply CLI `KEY=VALUE` assignments (dotted keys; VALUE read as JSON where it parses)."""
    data = cfg.to_dict()
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set learning_rate=0.1")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.split(".")
        target = data
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"--set {key}: unknown key {key!r}", key)
            target = target[part]
        if parts[-1] not in target:
            raise ConfigError(f"--set {key}: unknown key {key!r}", key)
        target[parts[-1]] = value
    return TrainConfig.from_dict(data)


# --- checks ---------------------------------------------------------------------------------


def salvage_config(data: Any) -> tuple[TrainConfig, list[str]]:
    """A config from a saved, possibly damaged or hand-edited JSON object: every field that is valid
    is kept, every other one (wrong type, out of range, unknown) takes the book's default. Returns the
    config and the keys that were dropped, so the caller can say so once."""
    if not isinstance(data, dict):
        return TrainConfig(), ["all settings (they are not a JSON object)"]
    kept = TrainConfig().to_dict()
    dropped: list[str] = []
    for key, value in data.items():
        if key == "dataset" and isinstance(value, dict):
            for sub, sub_value in value.items():
                _try_setting(kept, ("dataset", sub), sub_value, dropped)
        else:
            _try_setting(kept, (key,), value, dropped)
    for _ in range(len(SETTINGS)):  # rules across fields (a csv needs a path): drop what they name
        try:
            return TrainConfig.from_dict(kept), dropped
        except (ConfigError, TypeError) as exc:
            key = getattr(exc, "key", None) or ""
            defaults = TrainConfig().to_dict()
            if key.startswith("dataset."):
                # The data set's own options together (a csv without its path): the book's data.
                kept["dataset"], key = defaults["dataset"], "dataset"
            elif key in kept:
                kept[key] = defaults[key]
            else:
                break
            dropped.append(key)
    return TrainConfig(), ["all settings"]


def _try_setting(kept: dict, path: tuple[str, ...], value: Any, dropped: list[str]) -> None:
    trial = json.loads(json.dumps(kept))
    target = trial
    for part in path[:-1]:
        target = target[part]
    if path[-1] not in target:
        dropped.append(".".join(path))
        return
    target[path[-1]] = value
    try:
        TrainConfig.from_dict(trial)
    except (ConfigError, TypeError, ValueError) as exc:
        if getattr(exc, "key", None) != "dataset.path" or path == ("dataset", "path"):
            dropped.append(".".join(path))
            return
        # else a rule across fields (csv needs its path, which may come later): judged at the end
    kept.clear()
    kept.update(trial)


def _reject_unknown(data: dict, cls: type, prefix: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key; known keys are {', '.join(sorted(known))}", f"{prefix}{key}")


def _check_int(name: str, value: Any, low: int, high: int, key: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}", key or name)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}", key or name)


def _check_float(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}", name)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}", name)
    if (value <= low if low_open else value < low) or value > high:
        rule = f"greater than {format_number(low)}" if low_open else f"at least {format_number(low)}"
        raise ConfigError(f"{name} must be {rule} and at most {format_number(high)}, got {format_number(value)}", name)


def batches_per_epoch(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of n samples: what DataLoader gives with this batch_size and drop_last."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)
